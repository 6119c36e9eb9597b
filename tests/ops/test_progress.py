"""Progress: a bar redrawn in place on a terminal, a few plain log lines otherwise."""
from __future__ import annotations

import asyncio
import io
import logging

import pytest

from ops.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_terminal_gets_a_bar_redrawn_in_place() -> None:
    """On a terminal the bar is redrawn with a carriage return, shows done/total and percent,
    and ends with a newline; nothing is logged per item."""
    out = io.StringIO()
    clock = Clock()
    with Progress(4, "polling feeds", stream=out, tty=True, clock=clock,
                  redraw_every_s=0) as progress:
        for n in range(4):
            clock.now += 1
            progress.advance(item=f"https://example.org/{n}.xml", failed=n == 2)
    text = out.getvalue()
    assert text.count("\r") >= 4 and text.endswith("\n")
    last = text.rstrip("\n").rsplit("\r", 1)[-1]
    assert "polling feeds" in last and "4/4" in last and "100%" in last and "(1 failed)" in last
    assert "█" * 28 in last


def test_the_bar_fits_the_width_and_shortens_long_items() -> None:
    """The line never exceeds the terminal width; a long item keeps its end."""
    progress = Progress(10, "importing", stream=io.StringIO(), tty=True)
    progress.advance(item="https://example.org/" + "x" * 200 + "/feed.xml")
    line = progress.render_bar("https://example.org/" + "x" * 200 + "/feed.xml", width=80)
    assert len(line) <= 80 and line.endswith("/feed.xml")


def test_off_a_terminal_it_logs_a_few_plain_lines(caplog: pytest.LogCaptureFixture) -> None:
    """Off a terminal there is no bar: a start line, a line at each tenth (or every few
    seconds), and a closing line with the count of problems."""
    caplog.set_level(logging.INFO, logger="ops.progress")
    out = io.StringIO()
    clock = Clock()
    with Progress(100, "checking channels", stream=out, tty=False, clock=clock,
                  log_every_s=1000) as progress:
        for n in range(100):
            progress.advance(failed=n < 3)
    messages = [r.getMessage() for r in caplog.records]
    assert out.getvalue() == ""
    assert messages[0] == "checking channels: 100 to do"
    assert len(messages) == 12  # start, ten tenths, finish
    assert messages[4] == "checking channels: 40/100 (40%), 3 with problems"
    assert messages[-1].startswith("checking channels: finished 100/100 in ")


def test_time_based_lines_when_items_are_slow(caplog: pytest.LogCaptureFixture) -> None:
    """With few, slow items a line is still written every `log_every_s` seconds."""
    caplog.set_level(logging.INFO, logger="ops.progress")
    clock = Clock()
    progress = Progress(1000, "once", stream=io.StringIO(), tty=False, clock=clock,
                        log_every_s=5)
    for _ in range(3):
        clock.now += 6
        progress.advance()
    assert [r.getMessage() for r in caplog.records] == ["once: 1/1000 (0%)", "once: 2/1000 (0%)",
                                                        "once: 3/1000 (0%)"]


async def test_wrap_advances_once_per_call() -> None:
    """`wrap` turns an async function into one that advances the progress per call."""
    progress = Progress(3, "polling", stream=io.StringIO(), tty=False)

    async def poll(n: int) -> str:
        await asyncio.sleep(0)
        return "error" if n == 1 else "ok"

    wrapped = progress.wrap(poll, failed=lambda result: result == "error")
    assert await asyncio.gather(*(wrapped(n) for n in range(3))) == ["ok", "error", "ok"]
    assert (progress.done, progress.failed) == (3, 1)
