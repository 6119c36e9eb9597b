"""What `run` tells the person at the terminal once its first round of polls is done.

A first run in dry-run writes posts and then would fall silent; a second run finds nothing new
and would say nothing at all. So, once every active feed has been polled and what it queued has
been delivered, one log record of a few lines says where to look:

    Nashir (dry-run): 8 posts written to the preview; nothing is sent to Telegram.
      preview      data/preview/index.html  (every post: data/preview/posts.jsonl)
      status page  http://127.0.0.1:8080/
      next poll    13:25 (in 10 min); Ctrl-C stops
      post for real: copy config/example.yaml to config/bot.yaml, set your channels there,
                     and set TELEGRAM_BOT_TOKEN

or, when nothing was new, that everything was already posted and when the next poll is. One
record, so that with BOT_LOG_FORMAT=json it is one JSON line like every other.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from config.schema import BotConfig
from config.settings import BUNDLED_EXAMPLE, Settings
from ops.metrics import queue_state

logger = logging.getLogger("nashir")

# How long the guide waits for the first posts to be delivered before it speaks anyway.
DRAIN_WAIT_S = 30.0
# The poller writes each feed's next due time shortly after reporting the poll.
SCHEDULE_WAIT_S = 5.0


class PollReport(Protocol):
    feed_url: str
    status: str
    queued: int


class FirstRunGuide:
    """Counts the first round of polls; when every active feed has reported, waits for the
    queue to empty and logs the guide. `watching(listener)` wraps the poller's on_poll."""

    def __init__(self, settings: Settings, config: BotConfig, redis: Any, *,
                 status_page: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        # The listener's own URL when known (BOT_HTTP_ADDR may ask for port 0).
        self.status_page = status_page or status_url(settings)
        self.config = config
        self.redis = redis
        self.clock = clock
        self.active = {feed.url for feed in config.feeds if not feed.paused}
        # The feeds this round waits for: known once the schedule has been read (a feed
        # polled by an earlier run a minute ago is not polled now).
        self.expected: set[str] | None = None
        self.seen: set[str] = set()
        self.queued = 0
        self.failed = 0
        self.task: asyncio.Task[None] | None = None
        self._begin: asyncio.Task[None] | None = None

    def watching(self, listener: Callable[[Any], None] | None = None
                 ) -> Callable[[Any], None]:
        """An on_poll listener that feeds the guide, then calls `listener`. Call it from the
        running loop: it starts reading which feeds are due."""
        self._begin = asyncio.get_running_loop().create_task(self._read_schedule(),
                                                             name="first-run schedule")

        def on_poll(outcome: Any) -> None:
            self.record(outcome)
            if listener is not None:
                listener(outcome)

        return on_poll

    def record(self, outcome: PollReport) -> None:
        """One poll's outcome; the first of each feed counts."""
        if self.task is not None or outcome.feed_url in self.seen:
            return
        self.seen.add(outcome.feed_url)
        self.queued += outcome.queued
        self.failed += outcome.status == "error"
        self._maybe_speak()

    async def _read_schedule(self) -> None:
        from model.article import feed_id_for
        from store import keys

        started = self.clock()
        urls = sorted(self.active)
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for url in urls:
                    pipe.zscore(keys.feeds_due(), feed_id_for(url))
                    pipe.exists(keys.feed_lease(feed_id_for(url)))
                answers = await pipe.execute()
        except Exception as exc:  # the guide is a courtesy: wait for every active feed
            logger.debug("first-run guide cannot read the schedule: %r", exc)
            answers = [None, 1] * len(urls)
        self.expected = set()
        for index, url in enumerate(urls):
            due, polling = answers[2 * index], answers[2 * index + 1]
            if due is None or float(due) <= started + 5 or polling:
                self.expected.add(url)
        self._maybe_speak()

    def _maybe_speak(self) -> None:
        if self.task is None and self.expected is not None and self.expected <= self.seen:
            self.task = asyncio.get_running_loop().create_task(self._speak(),
                                                               name="first-run guide")

    async def _speak(self) -> None:
        try:
            remaining = await self._drained()
            next_poll = await self._next_poll()
        except Exception as exc:  # Redis trouble: the guide is a courtesy, say what we know
            logger.debug("first-run guide: %r", exc)
            remaining, next_poll = None, None
        logger.info(self.text(remaining=remaining, next_poll=next_poll))

    async def _drained(self) -> int | None:
        deadline = time.monotonic() + DRAIN_WAIT_S
        while True:
            depth, _, _ = await queue_state(self.redis)
            if depth == 0 or time.monotonic() > deadline:
                return depth
            await asyncio.sleep(0.2)  # the sender, in this process, is delivering meanwhile

    async def _next_poll(self) -> float | None:
        from store import keys

        deadline = time.monotonic() + SCHEDULE_WAIT_S
        while True:
            first = await self.redis.zrange(keys.feeds_due(), 0, 0, withscores=True)
            due = float(first[0][1]) if first else None
            # Just after a poll the score may still be the poll's short lease.
            if due is None or due > self.clock() + 5 or time.monotonic() > deadline:
                return due
            await asyncio.sleep(0.2)

    def text(self, *, remaining: int | None, next_poll: float | None) -> str:
        """The guide itself (pure, for tests)."""
        settings = self.settings
        dry = settings.dry_run
        mode = "dry-run" if dry else "live"
        feeds = len(self.active)
        if not feeds:
            headline = (f"Nashir ({mode}): no active feed in {_shown(settings.config_path)}; "
                        "add one under feeds: and restart.")
        elif self.queued:
            posts = _count(self.queued, "post")
            if dry:
                headline = (f"Nashir (dry-run): {posts} written to the preview; nothing is "
                            "sent to Telegram.")
            else:
                headline = f"Nashir (live): {posts} queued for Telegram."
            if remaining:
                headline += f" {remaining} still being delivered."
        else:
            where = "to the preview" if dry else "to Telegram"
            headline = (f"Nashir ({mode}): nothing new; every item of the "
                        f"{_count(feeds, 'feed')} was already posted {where}.")
        lines = [headline]
        if self.failed:
            lines.append(f"  {_count(self.failed, 'feed')} failed to poll: see the log above "
                         "and the status page")
        if dry:
            lines.append(f"  preview      {_shown(settings.preview_dir / 'index.html')}  "
                         f"(every post: {_shown(settings.preview_dir / 'posts.jsonl')})")
        lines.append(f"  status page  {self.status_page.rstrip('/')}/")
        stop = "Ctrl-C stops"
        if next_poll is not None:
            lines.append(f"  next poll    {self._clock(next_poll)}; {stop}")
        else:
            lines.append(f"  {stop}")
        if dry:
            if settings.config_path.resolve() == BUNDLED_EXAMPLE:
                lines.append(f"  post for real: copy {_shown(BUNDLED_EXAMPLE)} to "
                             "config/bot.yaml, set your channels there, and set "
                             "TELEGRAM_BOT_TOKEN")
            else:
                lines.append("  post for real: set TELEGRAM_BOT_TOKEN (the config is "
                             f"{_shown(settings.config_path)})")
        return "\n".join(lines)

    def _clock(self, when: float) -> str:
        from zoneinfo import ZoneInfo

        moment = datetime.fromtimestamp(when, ZoneInfo(self.config.timezone))
        seconds = max(0.0, when - self.clock())
        if seconds < 90:
            left = f"in {int(seconds)} s"
        elif seconds < 5400:
            left = f"in {round(seconds / 60)} min"
        else:
            left = f"in {seconds / 3600:.1f} h"
        return f"{moment:%H:%M %Z} ({left})"


def status_url(settings: Settings) -> str:
    """Where a browser on this machine finds the status page."""
    host = settings.http_host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.http_port}/"


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to the working folder when inside it."""
    absolute = path.resolve()
    try:
        return str(absolute.relative_to(Path(os.getcwd()).resolve()))
    except ValueError:
        return str(absolute)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


__all__ = ["FirstRunGuide", "status_url"]
