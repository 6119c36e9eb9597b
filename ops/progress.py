"""Progress of long commands (`once` over many feeds, `check` over many channels,
`import-opml`): a bar redrawn in place on a terminal, plain log lines otherwise.

    with Progress(len(feeds), "polling feeds") as progress:
        for feed in feeds:
            ...
            progress.advance(item=feed.url)

On a terminal the bar goes to stderr and nothing is logged per step. Off a terminal (a
container, CI, a pipe) a log line is written at most every `log_every_s` seconds and at each
tenth of the way, plus one at the end, so logs show the command is alive without a line per item.
"""
from __future__ import annotations

import functools
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TextIO, TypeVar

from guards.urls import mask_urls_in_text

logger = logging.getLogger(__name__)

T = TypeVar("T")

_BAR_WIDTH = 28


class Progress:
    """Counts done items out of `total` and shows it."""

    def __init__(self, total: int, label: str, *, stream: TextIO | None = None,
                 tty: bool | None = None, log: logging.Logger | None = None,
                 log_every_s: float = 5.0, redraw_every_s: float = 0.1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total = max(0, int(total))
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.tty = _isatty(self.stream) if tty is None else tty
        self.log = log or logger
        self.log_every_s = log_every_s
        self.redraw_every_s = redraw_every_s
        self.clock = clock
        self.done = 0
        self.failed = 0
        self.started = clock()
        self._last_draw = -1e18
        self._last_log = self.started
        self._last_tenth = 0
        self._closed = False
        self._drawn = False

    def __enter__(self) -> Progress:
        if not self.tty and self.total:
            self.log.info("%s: %d to do", self.label, self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def advance(self, n: int = 1, *, item: str = "", failed: bool = False) -> None:
        """Mark `n` more items done (`failed` counts them as problems too)."""
        self.done = min(self.total, self.done + n) if self.total else self.done + n
        if failed:
            self.failed += n
        now = self.clock()
        if self.tty:
            if now - self._last_draw >= self.redraw_every_s or self.done >= self.total:
                self._draw(item)
                self._last_draw = now
            return
        tenth = (10 * self.done // self.total) if self.total else 0
        if now - self._last_log >= self.log_every_s or tenth > self._last_tenth:
            self._log_line()
            self._last_log, self._last_tenth = now, tenth

    def wrap(self, fn: Callable[..., Awaitable[T]],
             failed: Callable[[T], bool] | None = None) -> Callable[..., Awaitable[T]]:
        """An async function that calls `fn` and advances once per call."""

        @functools.wraps(fn)
        async def wrapped(*args: Any, **kwargs: Any) -> T:
            result = await fn(*args, **kwargs)
            self.advance(failed=bool(failed and failed(result)))
            return result

        return wrapped

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        elapsed = self.clock() - self.started
        if self.tty:
            if self._drawn or self.total:
                self._draw("")
                self.stream.write("\n")
                self.stream.flush()
            return
        problems = f", {self.failed} with problems" if self.failed else ""
        self.log.info("%s: finished %d/%d in %.1f s%s", self.label, self.done, self.total,
                      elapsed, problems)

    def render_bar(self, item: str = "", width: int = 100) -> str:
        """The bar line as drawn on a terminal (without the carriage return)."""
        fraction = (self.done / self.total) if self.total else 1.0
        filled = int(round(_BAR_WIDTH * fraction))
        bar = "█" * filled + "░" * (_BAR_WIDTH - filled)
        problems = f" ({self.failed} failed)" if self.failed else ""
        line = f"{self.label} {bar} {self.done}/{self.total} {int(fraction * 100):3d}%{problems}"
        if item:
            item = mask_urls_in_text(item)  # a feed's address may carry a key
            room = width - len(line) - 1
            if room > 8:
                line += " " + (item if len(item) <= room else "…" + item[-(room - 1):])
        return line[:width]

    def _draw(self, item: str) -> None:
        width = _terminal_width(self.stream)
        self.stream.write("\r\x1b[2K" + self.render_bar(item, width))
        self.stream.flush()
        self._drawn = True

    def _log_line(self) -> None:
        percent = int(100 * self.done / self.total) if self.total else 100
        problems = f", {self.failed} with problems" if self.failed else ""
        self.log.info("%s: %d/%d (%d%%)%s", self.label, self.done, self.total, percent, problems)


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _terminal_width(stream: TextIO) -> int:
    import os
    import shutil

    try:
        return max(40, os.get_terminal_size(stream.fileno()).columns - 1)
    except (AttributeError, OSError, ValueError):
        return max(40, shutil.get_terminal_size().columns - 1)
