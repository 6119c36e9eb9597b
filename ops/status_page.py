"""The status page at `/`: feeds and their health, channels and their last post, the queue, what
became of today's articles and the latest skipped ones, the last posts as Telegram showed them,
and posts per hour over the last day.

Reading (`ops.status_data.RedisStatusSource.snapshot`, Redis only) is apart from drawing
(`render_status_page`, pure), so the page can be tested from a hand-made snapshot. The page
carries no script; every value is escaped, except the posts' HTML, which is the Telegram HTML
that was sent (rendered by `delivery.preview.post_as_html_block`, each line with dir=auto as
Telegram's clients do).
"""
from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from config.schema import format_duration
from delivery.preview import post_as_html_block
from formatters.rich_html import RICH_STYLE
from ops.status_data import (
    HOURS,
    POSTS_SHOWN,
    ChannelRow,
    FeedRow,
    HeldRow,
    PostRow,
    SkipRow,
    StatusSnapshot,
    posts_per_hour,
    unavailable_snapshot,
)

__all__ = ["ChannelRow", "FeedRow", "HeldRow", "PostRow", "SkipRow", "StatusSnapshot",
           "posts_per_hour",
           "render_status_page", "unavailable_snapshot", "HOURS", "POSTS_SHOWN"]


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
.posts .post.rich-post { padding:0; background:none; box-shadow:none }
.posts .post.rich-post p { white-space:normal }
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


_CAUSES = {"max-age": "the server's Cache-Control max-age", "ttl": "the feed's <ttl>",
           "retry-after": "the server's Retry-After", "backoff": "backing off after failures",
           "rare": "broken: tried rarely"}


def _interval(feed: FeedRow) -> str:
    """Every how long the feed is polled: as configured, or longer and why."""
    configured = format_duration(feed.interval) if feed.interval else "—"
    if not feed.interval_cause or feed.effective_interval <= feed.interval:
        return _esc(configured)
    return (f'{_esc(format_duration(feed.effective_interval))} <span class="note">'
            f"(configured {_esc(configured)}; {_esc(_CAUSES.get(feed.interval_cause, ''))})"
            "</span>")


_FATES = ("queued", "posted", "held", "skipped", "failed")
_REASONS = {"first_run": "before the first run", "filter_include": "no include keyword",
            "filter_exclude": "exclude keyword", "duplicate_link": "duplicate link",
            "duplicate_story": "same title and text", "unrenderable": "unrenderable",
            "channel_gone": "not a channel", "rejected": "rejected by an editor",
            "review": "waiting for review", "paused": "channel paused",
            "blocked": "bot cannot post", "refused": "refused by Telegram"}


def _fates_section(snap: StatusSnapshot, now: float, tz: ZoneInfo) -> str:
    """Today's fates (one per article per chat) by kind and reason, and the latest skips."""
    parts = ['<section id="fates"><h2>What became of today\'s articles</h2><div class="cards">']
    for fate in _FATES:
        reasons = sorted((r, n) for (f, r), n in snap.reasons_today.items() if f == fate and r)
        why = ", ".join(f"{_REASONS.get(r, r)} {n}" for r, n in reasons)
        parts.append(f'<div class="card" data-fate="{fate}"><b>{snap.fates_today.get(fate, 0)}'
                     f"</b><span>{fate}{': ' + _esc(why) if why else ''}</span></div>")
    parts.append("</div>")
    if snap.skipped_recent:
        parts.append("<h3>Latest skipped</h3><div class='scroll'><table class='stack'><thead>"
                     "<tr><th>when</th><th>chat</th><th>article</th><th>why</th></tr></thead>"
                     "<tbody>")
        for row in snap.skipped_recent:
            parts.append(
                f'<tr data-reason="{_esc(row.reason)}"><td data-label="when">'
                f"{_when(row.at, now, tz)}</td>"
                f'<td data-label="chat"><span dir="ltr">{_esc(row.chat)}</span></td>'
                f'<td data-label="article"><span class="url" dir="ltr">{_esc(row.url)}</span></td>'
                f'<td data-label="why"><bdi>{_esc(_REASONS.get(row.reason, row.reason))}'
                f'{": " + _esc(row.detail[:200]) if row.detail else ""}</bdi></td></tr>')
        parts.append("</tbody></table></div>")
    else:
        parts.append('<p class="note">Nothing skipped lately.</p>')
    parts.append("</section>")
    return "".join(parts)


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
    add(f"<title>Nashir status</title><style>{_CSS}{RICH_STYLE}</style></head><body>")
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

    add(_fates_section(snap, now, tz))

    add('<section id="chart" class="chart"><h2>Posts per hour, last 24 hours</h2>')
    add(_chart(snap.posts_per_hour, snap.hour_starts, tz))
    add("</section>")

    add(f'<section id="feeds"><h2>Feeds ({len(snap.feeds)})</h2>')
    if snap.feeds:
        add("<div class='scroll'><table class='stack'><thead><tr><th>feed</th><th>health</th>"
            "<th>last poll</th><th>last ok</th><th>next poll</th><th>interval</th>"
            "<th>channels</th>"
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
                f'<td data-label="interval">{_interval(feed)}</td>'
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
            add(post_as_html_block(post.chat, post.html, post.time, tz=tz, rich=post.rich))
        add("</div>")
    else:
        add('<p class="note">Nothing posted yet.</p>')
    add("</section></main></body></html>")
    return "\n".join(out)
