"""Dry-run delivery: with no bot token every post goes to a preview instead of Telegram.

Each post is printed (as text on a terminal; with BOT_LOG_FORMAT=json as one JSON object per
line, like the logs), appended to `preview/posts.jsonl` (fields: chat, html, url, time) and the
page `preview/index.html` is rewritten to show the posts as a channel would."""
from __future__ import annotations

import asyncio
import html
import json
import sys
import time
from collections import deque
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, TextIO

from formatters.preview import post_lines_html
from formatters.rich_html import RICH_STYLE, rich_message_html
from formatters.telegram_html import html_to_plain
from model.delivery import Delivery

_PAGE_POSTS = 200   # the page shows this many of the newest posts
PAGE_EVERY_S = 1.0   # the page is rewritten at most this often while posts come in

_PAGE = """<!doctype html>
<html lang="ar"><head><meta charset="utf-8"><title>Nashir preview</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ background:#8fa7b3; font: 15px/1.5 system-ui, "Noto Naskh Arabic", sans-serif; margin:0 }}
header {{ background:#fff; padding:10px 16px; font-weight:600 }}
main {{ max-width:560px; margin:0 auto; padding:12px }}
.chat {{ color:#fff; font-size:13px; margin:14px 4px 4px }}
.post {{ background:#fff; border-radius:12px; padding:10px 12px; margin:6px 0;
         white-space:pre-wrap; overflow-wrap:anywhere; box-shadow:0 1px 1px rgba(0,0,0,.15) }}
.post p {{ margin:0 }}
.post p.gap {{ min-height:1em }}
.time {{ color:#8a9aa6; font-size:12px; text-align:end; margin-top:4px }}
.post img {{ max-width:100%; border-radius:8px }}
.post.rich-post {{ white-space:normal; padding:0; background:none; box-shadow:none }}
{rich_style}
</style></head>
<body><header>Nashir — dry-run preview ({count} posts, newest first)</header><main>
{posts}
</main></body></html>
"""


def post_as_html_block(chat: str, post_html: str, when: float, photo_url: str | None = None,
                       tz: tzinfo | None = None, rich: dict[str, Any] | None = None) -> str:
    """One post as a chat bubble. Each line is its own paragraph with dir=auto, the way
    Telegram's clients pick a direction per line from its first strong character. The time is
    shown in `tz` (default: this machine's zone), with the zone's name. A rich message (`rich`:
    its payload) is drawn as one (headings, quotes, photo, footer, button; right to left when
    `is_rtl`) instead of the summary."""
    if rich is not None:
        paragraphs = rich_message_html(rich)
        photo_url = None
    else:
        paragraphs = post_lines_html(post_html)
    image = f'<img src="{html.escape(photo_url)}" alt="">' if photo_url else ""
    moment = datetime.fromtimestamp(when, tz) if tz is not None else \
        datetime.fromtimestamp(when).astimezone()
    stamp = html.escape(moment.strftime("%Y-%m-%d %H:%M %Z"))
    return (f'<div class="chat">{html.escape(chat)}</div>'
            f'<div class="post{" rich-post" if rich is not None else ""}">{image}{paragraphs}'
            f'<div class="time" dir="ltr">'
            f'<time datetime="{moment.isoformat()}">{stamp}</time></div></div>')


class PreviewTransport:
    """A transport that writes posts to the preview instead of sending them."""

    def __init__(self, preview_dir: Path, out: TextIO | None = None, *,
                 json_lines: bool = False) -> None:
        self.dir = preview_dir
        self.out = out if out is not None else sys.stdout
        self.json_lines = json_lines
        self.dir.mkdir(parents=True, exist_ok=True)
        self.jsonl = self.dir / "posts.jsonl"
        self.page = self.dir / "index.html"
        self._next_id = int(time.time() * 1000) % 1_000_000_000
        # The page's newest posts, drawn once each: writing a post costs the same whether it
        # is the first or the thousandth (the file is read back only once, on the first post).
        self._blocks: deque[str] | None = None
        # The page is rewritten at most once a second (a burst of posts costs one write), and
        # on close.
        self._page_written = 0.0
        self._page_timer: asyncio.TimerHandle | None = None

    async def send(self, delivery: Delivery) -> int:
        now = time.time()
        record = {"chat": delivery.chat, "html": delivery.html, "url": delivery.url, "time": now}
        if delivery.photo_url:
            record["photo"] = delivery.photo_url
        if delivery.rich:  # a rich channel: the message itself (`html` is its fallback)
            record["rich"] = json.loads(delivery.rich)
        with self.jsonl.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._add_block(record)
        self._page_due()
        self._print(delivery, now)
        self._next_id += 1
        return self._next_id

    @staticmethod
    def describe(status: str, message_id: int) -> str:
        """The sender's log line for a post that went here: nothing was sent."""
        done = "edit" if status == "edited" else "post"
        return f"{done} written to the preview (dry-run: nothing sent to Telegram)"

    def _print(self, delivery: Delivery, now: float) -> None:
        text = html_to_plain(delivery.html)
        if self.json_lines:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + \
                f".{int(now * 1000) % 1000:03d}Z"
            line = json.dumps({"time": stamp, "level": "info", "logger": "delivery.preview",
                               "message": "written to the preview", "chat": delivery.chat,
                               "url": delivery.url, "text": text}, ensure_ascii=False)
            print(line, file=self.out, flush=True)
        else:
            print(f"\n── preview → {delivery.chat} ──\n{text}\n", file=self.out, flush=True)

    async def aclose(self) -> None:
        """Write the page now if posts are waiting for it."""
        if self._page_timer is not None:
            self._page_timer.cancel()
            self._write_page()

    def _page_due(self) -> None:
        elapsed = time.monotonic() - self._page_written
        if elapsed >= PAGE_EVERY_S:
            self._write_page()
        elif self._page_timer is None:
            self._page_timer = asyncio.get_running_loop().call_later(
                PAGE_EVERY_S - elapsed, self._write_page)

    def _add_block(self, record: dict[str, Any]) -> None:
        if self._blocks is None:
            self._blocks = deque(maxlen=_PAGE_POSTS)
            for line in self.jsonl.read_text(encoding="utf-8").splitlines()[-_PAGE_POSTS:]:
                try:
                    self._blocks.appendleft(_block(json.loads(line)))
                except json.JSONDecodeError:
                    continue  # a torn last line from a killed process; the rest still shows
        else:
            self._blocks.appendleft(_block(record))

    def _write_page(self) -> None:
        self._page_timer = None
        self._page_written = time.monotonic()
        blocks = self._blocks or ()
        tmp = self.page.with_suffix(".tmp")
        tmp.write_text(_PAGE.format(count=len(blocks), posts="\n".join(blocks),
                                    rich_style=RICH_STYLE), encoding="utf-8")
        tmp.replace(self.page)


def _block(record: dict[str, Any]) -> str:
    rich = record.get("rich")
    return post_as_html_block(record["chat"], record["html"], record["time"], record.get("photo"),
                              rich=rich if isinstance(rich, dict) else None)
