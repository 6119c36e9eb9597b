// Nashir sandbox web chat: polls /api/state, draws the chats as Telegram would (entities, one
// direction per line, inline keyboards), sends what you type and the buttons you press.
"use strict";

let version = "";
let selected = null;   // the channel tab shown
let lastAnswers = -1;  // -1: not drawn yet (old answers make no toast)
const $ = (id) => document.getElementById(id);

function escapeHtml(s) {
  return s.replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
}

function safeUrl(url) {
  return /^(https?:|tg:|mailto:)/i.test(url) ? url : "#";
}

const TAGS = {
  bold: ["<b>", "</b>"], italic: ["<i>", "</i>"], underline: ["<u>", "</u>"],
  strikethrough: ["<s>", "</s>"], spoiler: ['<span class="spoiler">', "</span>"],
  code: ["<code>", "</code>"], pre: ["<pre>", "</pre>"],
  blockquote: ["<blockquote>", "</blockquote>"],
  expandable_blockquote: ["<blockquote>", "</blockquote>"],
};

function openTag(e, text) {
  if (e.type === "text_link") return `<a href="${escapeHtml(safeUrl(e.url || ""))}" target="_blank" rel="noopener">`;
  if (e.type === "url") {
    const href = text.slice(e.offset, e.offset + e.length);
    return `<a href="${escapeHtml(safeUrl(/^[a-z]+:/i.test(href) ? href : "https://" + href))}" target="_blank" rel="noopener">`;
  }
  if (e.type === "mention" || e.type === "hashtag" || e.type === "bot_command" || e.type === "cashtag") return '<a href="#">';
  return (TAGS[e.type] || ["<span>", "</span>"])[0];
}

function closeTag(e) {
  if (["text_link", "url", "mention", "hashtag", "bot_command", "cashtag"].includes(e.type)) return "</a>";
  return (TAGS[e.type] || ["<span>", "</span>"])[1];
}

// Text plus Bot API entities (offsets in UTF-16 units, as JavaScript strings count) -> HTML.
// Entities that cross an open one are split at its end, so the tags always nest.
function renderEntities(text, entities) {
  const queue = (entities || []).map((e) => ({...e}))
    .filter((e) => e.length > 0)
    .sort((a, b) => a.offset - b.offset || b.length - a.length);
  const stack = [];
  let out = "", pos = 0;
  const closeUntil = (at) => {
    while (stack.length && stack[stack.length - 1].offset + stack[stack.length - 1].length <= at) {
      const top = stack.pop();
      const end = top.offset + top.length;
      out += escapeHtml(text.slice(pos, end)) + closeTag(top);
      pos = end;
    }
  };
  while (queue.length) {
    const e = queue.shift();
    closeUntil(e.offset);
    const top = stack[stack.length - 1];
    if (top && e.offset + e.length > top.offset + top.length) {
      const cut = top.offset + top.length;
      const rest = {...e, offset: cut, length: e.offset + e.length - cut};
      e.length = cut - e.offset;
      let i = 0;
      while (i < queue.length && (queue[i].offset < rest.offset ||
             (queue[i].offset === rest.offset && queue[i].length >= rest.length))) i++;
      queue.splice(i, 0, rest);
    }
    out += escapeHtml(text.slice(pos, e.offset)) + openTag(e, text);
    pos = e.offset;
    stack.push(e);
  }
  closeUntil(Infinity);
  return out + escapeHtml(text.slice(pos));
}

function time(date, edited) {
  const d = new Date(date * 1000);
  const hm = d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
  return (edited ? "edited " : "") + hm;
}

function drawMessage(m) {
  const div = document.createElement("div");
  div.className = "msg " + m.from;
  div.dataset.id = m.id;
  div.dataset.chat = m.chat;
  let html = "";
  if (m.photo) html += `<img class="photo" alt="photo" src="${escapeHtml(m.photo)}">`;
  html += `<div class="text">${renderEntities(m.text || "", m.entities)}</div>`;
  html += `<div class="meta">${time(m.date, m.edited)}</div>`;
  div.innerHTML = html;
  if (m.buttons && m.buttons.length) {
    const box = document.createElement("div");
    box.className = "buttons";
    for (const row of m.buttons) {
      const r = document.createElement("div");
      r.className = "row";
      for (const b of row) {
        let el;
        if (b.url) {
          el = document.createElement("a");
          el.href = safeUrl(b.url); el.target = "_blank"; el.rel = "noopener";
        } else {
          el = document.createElement("button");
          el.type = "button";
          el.addEventListener("click", () => press(m, b.callback_data || ""));
        }
        el.dir = "auto";
        el.textContent = b.text;
        el.dataset.data = b.callback_data || "";
        r.appendChild(el);
      }
      box.appendChild(r);
    }
    div.appendChild(box);
  }
  return div;
}

function fill(log, messages, emptyText) {
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.replaceChildren(...messages.map(drawMessage));
  if (!messages.length) {
    const p = document.createElement("p");
    p.className = "empty"; p.textContent = emptyText;
    log.appendChild(p);
  }
  if (atBottom || !log.dataset.drawn) log.scrollTop = log.scrollHeight;
  log.dataset.drawn = "1";
}

function draw(state) {
  const byChat = new Map();
  for (const m of state.messages) {
    if (!byChat.has(m.chat)) byChat.set(m.chat, []);
    byChat.get(m.chat).push(m);
  }
  const priv = state.chats.find((c) => c.kind === "private");
  $("private-title").textContent = `${priv.title} · @${priv.username}`;
  fill($("private-log"), byChat.get(priv.id) || [], "Send /start or /push URL below.");
  const channels = state.chats.filter((c) => c.kind === "channel");
  if (selected === null) selected = channels[0].id;
  const tabs = $("tabs"), logs = $("channel-logs");
  for (const c of channels) {
    let tab = tabs.querySelector(`[data-chat="${c.id}"]`);
    let log = logs.querySelector(`[data-chat="${c.id}"]`);
    if (!tab) {
      tab = document.createElement("button");
      tab.type = "button"; tab.role = "tab"; tab.dataset.chat = c.id;
      tab.addEventListener("click", () => { selected = c.id; draw(state); });
      tabs.appendChild(tab);
      log = document.createElement("div");
      log.className = "log channel"; log.dataset.chat = c.id; log.lang = c.language || "";
      logs.appendChild(log);
    }
    const posts = byChat.get(c.id) || [];
    tab.innerHTML = `<bdi>${escapeHtml(c.title)}</bdi> <span class="muted">@${escapeHtml(c.username)}</span>` +
      `<span class="count">${posts.length}</span>`;
    tab.setAttribute("aria-selected", String(c.id === selected));
    log.hidden = c.id !== selected;
    fill(log, posts, `Nothing posted in @${c.username} yet.`);
  }
  if (state.status_url) $("status-link").href = state.status_url;
  const samples = $("samples");
  if (!samples.dataset.drawn) {
    samples.dataset.drawn = "1";
    state.samples.forEach((url, i) => {
      const a = document.createElement("a");
      a.textContent = url; a.title = "put /push with this address in the box";
      a.addEventListener("click", () => { $("text").value = "/push " + url; $("text").focus(); });
      if (i) samples.append(" or ");
      samples.appendChild(a);
    });
  }
  if (lastAnswers >= 0 && state.answers > lastAnswers && state.answer && state.answer.text) toast(state.answer.text);
  lastAnswers = state.answers;
}

function toast(text) {
  const t = $("toast");
  t.textContent = text; t.dir = "auto"; t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 2500);
}

async function refresh() {
  try {
    const response = await fetch(`/api/state?v=${encodeURIComponent(version)}`);
    const state = await response.json();
    if (state.messages) {
      version = state.version;
      draw(state);
    }
  } catch (err) {
    toast("The sandbox is not answering (stopped?)");
  }
}

async function post(path, body) {
  const response = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"},
                                      body: JSON.stringify(body)});
  if (!response.ok) toast(await response.text());
  refresh();
}

function press(m, data) {
  post("/api/press", {chat: m.chat, message: m.id, data});
}

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("text").value.trim();
  if (!text) return;
  $("text").value = "";
  post("/api/send", {text});
});

refresh();
setInterval(refresh, 700);
