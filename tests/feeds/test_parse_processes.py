"""Parse processes: they die with the bot (even a SIGKILLed one), take bodies in batches,
hand back each body's own error, and are replaced when one is killed."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

from model.errors import FeedParseError, FetchErrorKind
from feeds.parse_pool import ParsePool

REPO = Path(__file__).resolve().parents[2]

# Starts a poller's parse pool (as `run` does), reads one feed through it, prints the pool's
# process ids, then waits to be killed.
_CHILD = """
import asyncio, functools, sys
from feeds.items import read_feed
from pipeline.poller import Poller
from feeds.parser import parse_feed
from config.schema import BotConfig

BODY = b'<rss version="2.0"><channel><title>t</title><item><guid>1</guid><title>a b c d</title></item></channel></rss>'

async def main():
    poller = Poller(BotConfig(), store=None, fetcher=None, parse_workers=1)
    read = await poller._read(functools.partial(read_feed, parse_feed, BODY, feed_url="https://e.org/f"))
    assert read is not None
    print(" ".join(str(p) for p in poller._parse_pool.pids()), flush=True)
    sys.stdin.read()

asyncio.run(main())
"""


def _alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "State:\tZ" not in status.read_text()
    except FileNotFoundError:
        return False


def test_parse_processes_do_not_outlive_a_killed_bot() -> None:
    """After SIGKILL of the process that owns the parse pool, its parse processes exit."""
    child = subprocess.Popen([sys.executable, "-c", _CHILD], cwd=REPO, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        line = child.stdout.readline()  # type: ignore[union-attr]
    finally:
        child.kill()
        child.wait()
    workers = [int(pid) for pid in line.split()]
    assert workers, "the parse pool started no process"
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)  # polling other processes' exit, with a deadline
    assert not any(_alive(pid) for pid in workers), "a parse process outlived its owner"


# -- the pool's batches, errors and dead workers (module-level callables: they are pickled) ---

def _where(tag: int) -> tuple[int, int]:
    return tag, os.getpid()


def _refuse(message: str) -> None:
    raise FeedParseError(message, kind=FetchErrorKind.TOO_LARGE)


def _stall_unless_in(owner: int) -> str:
    """Blocks in a worker process (until it is killed); returns at once in the owner."""
    if os.getpid() != owner:
        time.sleep(600)
    return "parsed in the owner"


async def test_bodies_that_arrive_while_the_worker_is_busy_go_in_one_batch() -> None:
    pool: ParsePool[tuple[int, int]] = ParsePool(1)
    try:
        answers = await asyncio.gather(*(pool.run(partial(_where, i)) for i in range(20)))
    finally:
        await pool.close()
    assert [tag for tag, _ in answers] == list(range(20))
    assert {pid for _, pid in answers} != {os.getpid()}  # parsed in another process
    # The first goes at once; the 19 that came while it was out go together.
    assert pool.batches == 2


async def test_a_failing_body_fails_alone_and_keeps_its_kind() -> None:
    pool: ParsePool[object] = ParsePool(1)
    try:
        answers = await asyncio.gather(pool.run(partial(_where, 1)),
                                       pool.run(partial(_refuse, "too big")),
                                       pool.run(partial(_where, 2)), return_exceptions=True)
    finally:
        await pool.close()
    assert answers[0][0] == 1 and answers[2][0] == 2  # type: ignore[index]
    error = answers[1]
    assert isinstance(error, FeedParseError) and error.kind == FetchErrorKind.TOO_LARGE
    assert error.message == "too big"


async def test_a_killed_worker_loses_no_body_and_is_replaced() -> None:
    """SIGKILL of the worker holding a body: the body is parsed in a thread instead, and the
    next body goes to a new process."""
    pool: ParsePool[object] = ParsePool(1)
    try:
        stalled = asyncio.create_task(pool.run(partial(_stall_unless_in, os.getpid())))
        deadline = time.monotonic() + 30
        while not pool.pids() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)  # the process starts on the first run
        [first] = pool.pids()
        os.kill(first, signal.SIGKILL)
        assert await asyncio.wait_for(stalled, 30) == "parsed in the owner"
        _, pid = await pool.run(partial(_where, 3))  # type: ignore[misc]
        assert pid not in (first, os.getpid())
    finally:
        await pool.close()
