"""The status page at `/`: feeds and their health, channels and their last post, the queue, the
last posts as Telegram showed them, and posts per hour over the last day.

Reading (`RedisStatusSource.snapshot`, Redis only) is apart from drawing (`render_status_page`,
pure), so the page can be tested from a hand-made snapshot. The page carries no script; every
value is escaped, except the posts' HTML, which is the Telegram HTML that was sent (rendered by
`delivery.preview.post_as_html_block`, each line with dir=auto as Telegram's clients do).
"""
from __future__ import annotations

import html
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from redis.exceptions import RedisError

from delivery.preview import post_as_html_block
from guards.urls import display_url, mask_urls_in_text
from model.article import feed_id_for
from ops.metrics import feed_health, queue_state
from store import keys

logger = logging.getLogger(__name__)

POSTS_SHOWN = 20
HOURS = 24


@dataclass(frozen=True, slots=True)
class FeedRow:
    feed_id: str
    url: str
    title: str
    health: str                    # ok | failing | broken | gone | new (ops.metrics.feed_health)
    failures: int
    last_poll: float | None
    last_ok: float | None
    next_poll: float | None
    last_error: str
    channels: tuple[str, ...]
    paused: bool = False


@dataclass(frozen=True, slots=True)
class ChannelRow:
    chat: str
    language: str
    posts: int
    last_post: float | None
    paused: bool = False


@dataclass(frozen=True, slots=True)
class PostRow:
    chat: str
    html: str
    time: float
    url: str = ""


@dataclass(frozen=True, slots=True)
class HeldRow:
    chat: str
    url: str
    reason: str
    held_at: float | None


@dataclass(slots=True)
class StatusSnapshot:
    """Everything the page shows, read at one moment."""

    generated_at: float
    timezone: str = "UTC"
    mode: str = ""                               # "live" or "dry-run"
    feeds: list[FeedRow] = field(default_factory=list)
    channels: list[ChannelRow] = field(default_factory=list)
    queue_depth: int = 0
    queue_oldest_age: float | None = None
    held: int = 0
    held_recent: list[HeldRow] = field(default_factory=list)
    posts: list[PostRow] = field(default_factory=list)    # newest first
    posts_per_hour: list[int] = field(default_factory=lambda: [0] * HOURS)  # oldest hour first
    hour_starts: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def unavailable_snapshot(reason: str) -> StatusSnapshot:
    """A snapshot that only says why nothing could be read."""
    return StatusSnapshot(generated_at=time.time(), errors=[reason])


def posts_per_hour(times: Sequence[float], now: float, tz: ZoneInfo,
                   hours: int = HOURS) -> tuple[list[int], list[float]]:
    """Counts of posts in each of the last `hours` clock hours (the current one last), and the
    start of each hour as unix time."""
    current = datetime.fromtimestamp(now, tz).replace(minute=0, second=0, microsecond=0)
    starts = [(current - timedelta(hours=hours - 1 - i)).timestamp() for i in range(hours)]
    counts = [0] * hours
    for when in times:
        if when < starts[0] or when > now:
            continue
        index = min(hours - 1, int((when - starts[0]) // 3600))
        counts[index] += 1
    return counts, starts


class RedisStatusSource:
    """Reads a StatusSnapshot from Redis; every replica shows the same shared state."""

    def __init__(self, redis: Any, config: Any, *, dry_run: bool,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.config = config
        self.dry_run = dry_run
        self.clock = clock

    def set_config(self, config: Any) -> None:
        """After a config reload."""
        self.config = config

    async def snapshot(self) -> StatusSnapshot:
        now = self.clock()
        snap = StatusSnapshot(generated_at=now, timezone=self.config.timezone,
                              mode="dry-run" if self.dry_run else "live")
        try:
            await self._read(snap, now)
        except (RedisError, OSError) as exc:
            logger.warning("status page: cannot read Redis (%s)", type(exc).__name__)
            snap.errors.append(f"Redis is unreachable ({type(exc).__name__}: {exc}); "
                               "what follows may be incomplete")
        return snap

    async def _config(self) -> Any:
        try:
            from store.registry import effective_config
        except ImportError:
            return self.config
        return await effective_config(self.redis, self.config)

    async def _read(self, snap: StatusSnapshot, now: float) -> None:
        redis = self.redis
        config = await self._config()
        tz = ZoneInfo(config.timezone)
        feeds = list(config.feeds)
        feed_ids = [feed_id_for(f.url) for f in feeds]
        async with redis.pipeline(transaction=False) as pipe:
            for feed_id in feed_ids:
                pipe.hgetall(keys.feed_state(feed_id))
                pipe.zscore(keys.feeds_due(), feed_id)
            for channel in config.channels:
                pipe.hgetall(keys.chat_stats(channel.chat))
            pipe.xrevrange(keys.held(), "+", "-", count=5)
            pipe.lrange(keys.posts_log(), 0, -1)
            pipe.zrangebyscore(keys.post_times(), now - HOURS * 3600, "+inf", withscores=True)
            answers = await pipe.execute()
        position = 0
        for feed, feed_id in zip(feeds, feed_ids, strict=True):
            state, due = answers[position], answers[position + 1]
            position += 2
            snap.feeds.append(FeedRow(
                feed_id=feed_id, url=display_url(feed.url), title=state.get("title") or "",
                health=feed_health(state), failures=_int(state.get("failures")),
                last_poll=_float(state.get("last_poll")), last_ok=_float(state.get("last_ok")),
                next_poll=None if due is None else float(due),
                last_error=mask_urls_in_text(state.get("last_error") or ""),
                channels=tuple(t.chat for t in feed.channels), paused=feed.paused))
        for channel in config.channels:
            stats = answers[position]
            position += 1
            snap.channels.append(ChannelRow(
                chat=channel.chat, language=channel.language, posts=_int(stats.get("posts")),
                last_post=_float(stats.get("last_post")), paused=channel.paused))
        held_recent, log, post_times = answers[position:position + 3]
        depth, oldest, held = await queue_state(redis)
        snap.queue_depth, snap.held = depth, held
        if depth and oldest is not None:
            snap.queue_oldest_age = max(0.0, now - oldest)
        for _, fields in held_recent:
            snap.held_recent.append(_held_row(fields))
        records = []
        for raw in log:
            try:
                record = json.loads(raw)
                records.append(PostRow(chat=str(record["chat"]), html=str(record["html"]),
                                       time=float(record["time"]), url=str(record.get("url", ""))))
            except (ValueError, KeyError, TypeError):
                continue  # a record of another version: the page shows the rest
        records.sort(key=lambda r: r.time, reverse=True)
        snap.posts = records[:POSTS_SHOWN]
        # From every post's time, not the capped log: the chart misses no post of a busy day.
        snap.posts_per_hour, snap.hour_starts = posts_per_hour(
            [when for _, when in post_times], now, tz)


def _held_row(fields: dict[str, str]) -> HeldRow:
    chat = url = ""
    try:
        data = json.loads(fields.get("d", "{}"))
        chat, url = str(data.get("chat", "")), str(data.get("url", ""))
    except ValueError:
        pass
    return HeldRow(chat=chat, url=display_url(url),
                   reason=mask_urls_in_text(fields.get("reason", "")),
                   held_at=_float(fields.get("held_at")))


def _int(value: Any) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0


def _float(value: Any) -> float | None:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if result > 0 else None


# -- drawing ----------------------------------------------------------------------------------

_CSS = """
:root { --ink:#1f2a33; --muted:#6b7b88; --line:#dfe5ea; --ok:#2e7d32; --warn:#b26a00;
        --bad:#c62828; --new:#546e7a; --chat:#8fa7b3; }
* { box-sizing: border-box }
body { margin:0; font: 14px/1.45 system-ui, "Noto Sans", "Noto Naskh Arabic", sans-serif;
       color:var(--ink); background:#f4f6f8 }
header { background:#fff; border-bottom:1px solid var(--line); padding:12px 20px;
         display:flex; gap:16px; align-items:baseline; flex-wrap:wrap }
header h1 { font-size:18px; margin:0 }
header .meta { color:var(--muted) }
main { max-width:1200px; margin:0 auto; padding:16px 20px 40px }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:14px 16px;
          margin:0 0 16px }
h2 { font-size:15px; margin:0 0 10px }
.cards { display:grid; grid-template-columns:repeat(auto-fill, minmax(150px, 1fr)); gap:10px }
.card { border:1px solid var(--line); border-radius:8px; padding:8px 10px }
.card b { display:block; font-size:20px }
.card span { color:var(--muted); font-size:12px }
table { border-collapse:collapse; width:100% }
.scroll { overflow-x:auto }
th, td { text-align:start; padding:6px 8px; border-bottom:1px solid var(--line);
         vertical-align:top }
th { color:var(--muted); font-weight:600; font-size:12px }
td.url { overflow-wrap:anywhere; max-width:380px; color:var(--muted); font-size:12px }
td.err { overflow-wrap:anywhere; max-width:300px; color:var(--bad); font-size:12px }
.badge { display:inline-block; border-radius:10px; padding:0 8px; font-size:12px; color:#fff }
.badge.ok { background:var(--ok) } .badge.failing { background:var(--warn) }
.badge.broken { background:var(--bad) } .badge.new { background:var(--new) }
.badge.gone { background:#6d4c41 } .badge.paused { background:#90a4ae }
.banner { background:#fdecea; color:var(--bad); border:1px solid #f5c6cb; border-radius:8px;
          padding:10px 14px; margin:0 0 16px }
.note { color:var(--muted); font-size:12px }
.chart svg { width:100%; max-width:720px; height:auto; display:block }
.chart .bar { fill:#4a90c2 } .chart .axis { stroke:#9aa9b5 }
.chart text { font-size:10px; fill:var(--muted) }
.posts { background:var(--chat); border-radius:8px; padding:8px 12px; max-width:600px }
.posts .chat { color:#fff; font-size:13px; margin:14px 4px 4px }
.posts .post { background:#fff; border-radius:12px; padding:10px 12px; margin:6px 0;
               overflow-wrap:anywhere; box-shadow:0 1px 1px rgba(0,0,0,.15) }
.posts .post p { margin:0; white-space:pre-wrap }
.posts .post p.gap { min-height:1em }
.posts .post a { color:#168acd }
.posts .time { color:#8a9aa6; font-size:12px; text-align:end; margin-top:4px }
.posts .post img { max-width:100%; border-radius:8px }
blockquote { margin:4px 0; padding:2px 10px; border-inline-start:3px solid #168acd }
/* A phone (420 px and less): each table row becomes a card of label/value lines, so no
   column is pushed off the screen. */
@media (max-width: 480px) {
  header, main { padding-left:10px; padding-right:10px }
  section { padding:10px }
  table.stack thead { display:none }
  table.stack, table.stack tbody, table.stack tr, table.stack td { display:block; width:auto }
  table.stack tr { border-bottom:1px solid var(--line); padding:6px 0 }
  table.stack td { display:grid; grid-template-columns:6.5em minmax(0, 1fr); gap:8px;
                   border:0; padding:2px 0; max-width:none }
  table.stack td::before { content:attr(data-label); color:var(--muted); font-size:12px;
                           font-weight:600 }
}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _clock(when: float | None, tz: ZoneInfo) -> str:
    if when is None:
        return ""
    return datetime.fromtimestamp(when, tz).strftime("%Y-%m-%d %H:%M:%S %Z")


def _ago(when: float | None, now: float) -> str:
    if when is None:
        return "never"
    delta = now - when
    future = delta < 0
    seconds = abs(delta)
    if seconds < 45:
        text = f"{int(seconds)} s"
    elif seconds < 5400:
        text = f"{round(seconds / 60)} min"
    elif seconds < 48 * 3600:
        text = f"{seconds / 3600:.1f} h"
    else:
        text = f"{seconds / 86400:.1f} days"
    return f"in {text}" if future else f"{text} ago"


def _when(when: float | None, now: float, tz: ZoneInfo, *, overdue: bool = False) -> str:
    if when is None:
        return '<span class="note">never</span>'
    label = _ago(when, now)
    if overdue and when <= now:
        label = "due now" if now - when < 90 else f"overdue ({_ago(when, now)})"
    return f'<time datetime="{_esc(datetime.fromtimestamp(when, tz).isoformat())}" ' \
           f'title="{_esc(_clock(when, tz))}">{_esc(label)}</time>'


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return _ago(0.0, seconds).removesuffix(" ago")


def _chart(counts: Sequence[int], starts: Sequence[float], tz: ZoneInfo) -> str:
    width, height, left, bottom, top = 720, 160, 28, 22, 10
    slots = max(1, len(counts))
    slot = (width - left - 4) / slots
    peak = max(max(counts, default=0), 1)
    usable = height - bottom - top
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="Posts per hour over the last {slots} hours, '
             f'{sum(counts)} in all">',
             f'<line class="axis" x1="{left}" y1="{height - bottom}" x2="{width}" '
             f'y2="{height - bottom}"/>',
             f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{peak}</text>',
             f'<text x="{left - 4}" y="{height - bottom}" text-anchor="end">0</text>']
    for i, count in enumerate(counts):
        bar = usable * count / peak
        x = left + i * slot + 1
        hour = datetime.fromtimestamp(starts[i], tz).strftime("%H:00") if i < len(starts) else ""
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{height - bottom - bar:.1f}" '
                     f'width="{max(1.0, slot - 2):.1f}" height="{bar:.1f}" data-count="{count}">'
                     f'<title>{_esc(hour)}: {count} post{"s" if count != 1 else ""}</title></rect>')
        if i % 3 == 0 or i == slots - 1:
            parts.append(f'<text x="{x + slot / 2:.1f}" y="{height - 6}" '
                         f'text-anchor="middle">{_esc(hour)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _badge(health: str, paused: bool = False) -> str:
    if paused:
        return '<span class="badge paused">paused</span>'
    return f'<span class="badge {_esc(health)}">{_esc(health)}</span>'


def render_status_page(snap: StatusSnapshot, *, refresh_s: int = 30) -> str:
    """The whole page as HTML (no script; the browser refreshes it every `refresh_s`)."""
    try:
        tz = ZoneInfo(snap.timezone)
    except (KeyError, ValueError):
        tz = ZoneInfo("UTC")
    now = snap.generated_at
    health_counts = {h: 0 for h in ("ok", "failing", "broken", "gone", "new")}
    for feed in snap.feeds:
        health_counts[feed.health] = health_counts.get(feed.health, 0) + 1
    out: list[str] = []
    add = out.append
    add('<!doctype html><html lang="en" dir="ltr"><head><meta charset="utf-8">')
    add(f'<meta http-equiv="refresh" content="{int(refresh_s)}">')
    add('<meta name="viewport" content="width=device-width, initial-scale=1">')
    add(f"<title>Nashir status</title><style>{_CSS}</style></head><body>")
    add('<header><h1>Nashir · ناشر — status</h1>')
    add(f'<span class="meta">{_esc(snap.mode or "")} · {_esc(_clock(now, tz))} · '
        f'refreshes every {int(refresh_s)} s</span></header><main>')
    for error in snap.errors:
        add(f'<div class="banner" role="alert">{_esc(error)}</div>')

    posts_day = sum(snap.posts_per_hour)
    add('<section id="summary"><h2>Summary</h2><div class="cards">')
    cards = [
        (len(snap.feeds), "feeds"),
        (health_counts["ok"], "feeds ok"),
        (health_counts["failing"] + health_counts["broken"] + health_counts["gone"],
         "feeds failing, broken or gone"),
        (snap.queue_depth, "posts queued"),
        (_duration(snap.queue_oldest_age), "oldest in queue"),
        (snap.held, "posts held aside"),
        (posts_day, "posts in 24 h"),
    ]
    for value, label in cards:
        add(f'<div class="card"><b>{_esc(value)}</b><span>{_esc(label)}</span></div>')
    add("</div></section>")

    add('<section id="chart" class="chart"><h2>Posts per hour, last 24 hours</h2>')
    add(_chart(snap.posts_per_hour, snap.hour_starts, tz))
    add("</section>")

    add(f'<section id="feeds"><h2>Feeds ({len(snap.feeds)})</h2>')
    if snap.feeds:
        add("<div class='scroll'><table class='stack'><thead><tr><th>feed</th><th>health</th>"
            "<th>last poll</th><th>last ok</th><th>next poll</th><th>channels</th>"
            "<th>last error</th></tr></thead><tbody>")
        order = {"gone": 0, "broken": 1, "failing": 2, "new": 3, "ok": 4}
        for feed in sorted(snap.feeds, key=lambda f: (order.get(f.health, 5), f.title or f.url)):
            failures = f" ×{feed.failures}" if feed.failures else ""
            add(f'<tr data-feed="{_esc(feed.feed_id)}" data-health="{_esc(feed.health)}">'
                f'<td data-label="feed"><div><div><bdi>{_esc(feed.title or "(untitled)")}'
                f'</bdi></div><div class="url" dir="ltr">{_esc(feed.url)}</div></div></td>'
                f'<td data-label="health"><span>{_badge(feed.health, feed.paused)}'
                f"{_esc(failures)}</span></td>"
                f'<td data-label="last poll">{_when(feed.last_poll, now, tz)}</td>'
                f'<td data-label="last ok">{_when(feed.last_ok, now, tz)}</td>'
                f'<td data-label="next poll">{_when(feed.next_poll, now, tz, overdue=True)}</td>'
                f'<td data-label="channels"><span dir="ltr">{_esc(", ".join(feed.channels))}'
                "</span></td>"
                f'<td class="err" data-label="last error"><bdi>{_esc(feed.last_error[:300])}'
                "</bdi></td></tr>")
        add("</tbody></table></div>")
    else:
        add('<p class="note">No feeds configured.</p>')
    add("</section>")

    add(f'<section id="channels"><h2>Channels ({len(snap.channels)})</h2>')
    if snap.channels:
        add("<div class='scroll'><table class='stack'><thead><tr><th>chat</th><th>language</th>"
            "<th>posts</th>"
            "<th>last post</th></tr></thead><tbody>")
        for channel in snap.channels:
            paused = ' <span class="badge paused">paused</span>' if channel.paused else ""
            add(f'<tr data-chat="{_esc(channel.chat)}"><td data-label="chat">'
                f'<span><span dir="ltr">{_esc(channel.chat)}</span>{paused}</span></td>'
                f'<td data-label="language">{_esc(channel.language)}</td>'
                f'<td data-label="posts">{channel.posts}</td>'
                f'<td data-label="last post">{_when(channel.last_post, now, tz)}</td></tr>')
        add("</tbody></table></div>")
    else:
        add('<p class="note">No channels configured.</p>')
    add("</section>")

    add('<section id="queue"><h2>Queue</h2>')
    add(f"<p><b>{snap.queue_depth}</b> queued or in flight; oldest "
        f"{_esc(_duration(snap.queue_oldest_age))}; <b>{snap.held}</b> held aside.</p>")
    if snap.held_recent:
        add("<div class='scroll'><table class='stack'><thead><tr><th>held</th><th>chat</th>"
            "<th>article</th>"
            "<th>reason</th></tr></thead><tbody>")
        for row in snap.held_recent:
            add(f'<tr><td data-label="held">{_when(row.held_at, now, tz)}</td>'
                f'<td data-label="chat"><span dir="ltr">{_esc(row.chat)}</span></td>'
                f'<td class="url" data-label="article"><span dir="ltr">{_esc(row.url)}</span>'
                "</td>"
                f'<td class="err" data-label="reason"><bdi>{_esc(row.reason[:300])}</bdi>'
                "</td></tr>")
        add("</tbody></table></div>")
    add("</section>")

    add(f'<section id="posts"><h2>Last posts ({len(snap.posts)})</h2>')
    if snap.posts:
        add('<div class="posts">')
        for post in snap.posts:
            add(post_as_html_block(post.chat, post.html, post.time, tz=tz))
        add("</div>")
    else:
        add('<p class="note">Nothing posted yet.</p>')
    add("</section></main></body></html>")
    return "\n".join(out)
