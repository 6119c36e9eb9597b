"""Parse processes: they die with the bot (even a SIGKILLed one), take bodies in batches,
hand back each body's own error, are replaced when one is killed (its batch sent again), and
bound each parse in time (in processes and in threads)."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from feeds.parse_pool import ParsePool
from model.errors import FeedParseError, FetchErrorKind

REPO = Path(__file__).resolve().parents[2]

# Starts a poller's parse pool (as `run` does), reads one feed through it, prints the pool's
# process ids, then waits to be killed.
_CHILD = """
import asyncio, functools, sys
from feeds.items import read_feed
from pipeline.poller import Poller
from feeds.parser import parse_feed
from config.schema import BotConfig

BODY = (b'<rss version="2.0"><channel><title>t</title><item><guid>1</guid>'
        b'<title>a b c d</title></item></channel></rss>')

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


def _stall_once(marker: str) -> str:
    """Blocks (until killed) the first time, in a worker process; answers the second time."""
    path = Path(marker)
    if not path.exists():
        path.write_text(str(os.getpid()))
        time.sleep(600)
    return f"second try in {os.getpid()}"


def _busy_forever() -> None:
    """A parse that never ends, in Python code: the timer signal stops it."""
    while True:
        pass


def _busy_deaf() -> None:
    """A parse that never ends and blocks the timer signal (as code stuck in C would)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    while True:
        pass


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


async def test_bodies_that_arrive_while_the_worker_is_busy_go_in_one_batch() -> None:
    """The first body goes at once; those that arrive while it is out go in one batch."""
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
    """One body's FeedParseError reaches its caller with its kind; its batch-mates succeed."""
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


async def _wait_for(condition: Callable[[], object], within: float = 30) -> None:
    deadline = time.monotonic() + within
    # Another process's state: there is no event to wait on, so look every 10 ms.
    while not condition() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    assert condition(), "condition not met in time"


async def test_a_killed_worker_loses_no_body_and_is_replaced(tmp_path: Path) -> None:
    """SIGKILL of a worker in the middle of a batch: the other bodies of the batch are sent
    again to a new process, the body it was on gets one more try there, alone; nothing is
    parsed in the bot's own process."""
    marker = tmp_path / "stalled"
    pool: ParsePool[object] = ParsePool(1)
    try:
        warm = asyncio.create_task(pool.run(partial(_sleep, 0.3)))  # holds the process...
        await _wait_for(pool.pids)
        # ...so these three go together, the staller in the middle.
        tasks = [asyncio.create_task(pool.run(call)) for call in (
            partial(_where, 1), partial(_stall_once, str(marker)), partial(_where, 2))]
        await warm
        await _wait_for(marker.exists)
        [first] = pool.pids()
        os.kill(first, signal.SIGKILL)
        one, stalled, two = await asyncio.wait_for(asyncio.gather(*tasks), 60)
    finally:
        await pool.close()
    assert pool.batches == 4 and pool.deaths == 1   # warm, the three, the two again, the one
    assert one[0] == 1 and two[0] == 2  # type: ignore[index]
    assert {one[1], two[1]} & {first, os.getpid()} == set()  # type: ignore[index]
    assert stalled == f"second try in {one[1]}"  # type: ignore[index]


async def test_a_parse_past_the_time_limit_fails_alone_and_the_process_goes_on() -> None:
    """A body whose parse runs past the limit fails with PARSE_TIMEOUT when the limit is up;
    the bodies of its batch get their answers from the same process."""
    pool: ParsePool[object] = ParsePool(1, time_limit_s=1.0)
    try:
        warm = asyncio.create_task(pool.run(partial(_sleep, 0.3)))
        await _wait_for(pool.pids)
        [pid] = pool.pids()
        started = time.monotonic()
        answers = await asyncio.gather(pool.run(partial(_where, 1)), pool.run(_busy_forever),
                                       pool.run(partial(_where, 2)), return_exceptions=True)
        took = time.monotonic() - started
        await warm
    finally:
        await pool.close()
    assert answers[0] == (1, pid) and answers[2] == (2, pid)
    error = answers[1]
    assert isinstance(error, FeedParseError) and error.kind == FetchErrorKind.PARSE_TIMEOUT
    assert "1 seconds" in error.message
    assert 1.0 <= took < 10.0 and pool.deaths == 0 and pool.timeouts == 1


async def test_a_parse_the_signal_cannot_stop_is_killed_and_its_batch_sent_again() -> None:
    """A body that ignores the timer signal is ended by killing its process past the hard
    limit: it fails with PARSE_TIMEOUT, the rest of its batch is parsed by a new process."""
    pool: ParsePool[object] = ParsePool(1, time_limit_s=1.0)
    try:
        warm = asyncio.create_task(pool.run(partial(_sleep, 0.3)))
        await _wait_for(pool.pids)
        [first] = pool.pids()
        started = time.monotonic()
        answers = await asyncio.gather(pool.run(partial(_where, 1)), pool.run(_busy_deaf),
                                       pool.run(partial(_where, 2)), return_exceptions=True)
        took = time.monotonic() - started
        await warm
    finally:
        await pool.close()
    error = answers[1]
    assert isinstance(error, FeedParseError) and error.kind == FetchErrorKind.PARSE_TIMEOUT
    (one, pid_one), (two, pid_two) = answers[0], answers[2]  # type: ignore[misc]
    assert (one, two) == (1, 2) and pid_one == pid_two and pid_one not in (first, os.getpid())
    assert took < 30.0 and pool.deaths == 1 and pool.timeouts == 1


async def test_in_threads_a_parse_past_the_limit_is_abandoned() -> None:
    """Without processes, the caller of a parse past the limit gets PARSE_TIMEOUT when the
    limit is up, and other parses go on meanwhile."""
    pool: ParsePool[object] = ParsePool(0, time_limit_s=0.5)
    started = time.monotonic()
    slow, quick = await asyncio.gather(pool.run(partial(_sleep, 5.0)),
                                       pool.run(partial(_where, 7)), return_exceptions=True)
    took = time.monotonic() - started
    assert isinstance(slow, FeedParseError) and slow.kind == FetchErrorKind.PARSE_TIMEOUT
    assert quick == (7, os.getpid()) and took < 4.0


async def test_closing_the_pool_does_not_wait_for_a_hung_parse() -> None:
    """close() ends a process stuck in a parse at once, and cancels that body's caller."""
    pool: ParsePool[object] = ParsePool(1, time_limit_s=60.0)
    hung = asyncio.create_task(pool.run(_busy_deaf))
    await _wait_for(pool.pids)
    [pid] = pool.pids()
    started = time.monotonic()
    await asyncio.wait_for(pool.close(), 30)
    assert time.monotonic() - started < 10.0
    await asyncio.wait_for(asyncio.gather(hung, return_exceptions=True), 5)
    assert hung.cancelled() and not _alive(pid)
