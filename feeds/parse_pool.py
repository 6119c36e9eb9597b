"""Feed parsing off the event loop, bounded in time: in worker processes handed bodies in
batches (the bot), or in threads (tests, `once`).

feedparser holds the GIL, so on a machine with a core to spare the poller parses in other
processes. A round trip through ProcessPoolExecutor costs both sides about 0.15 ms of CPU
(threads, pipes, pickling), as much as a tenth of parsing a small feed. So bodies go over in
batches, with no timer: a body goes at once when a process is free; while every process is
busy, the bodies that come in wait and go together when one is free again.

Time bound. Each body may take `time_limit_s` (10 s by default):
* In a process, a timer signal ends a parse that runs past the limit; the body fails with
  FeedParseError(PARSE_TIMEOUT) and the process goes on with the rest of its batch.
* A parse the signal cannot stop (stuck in C code, signals blocked) is ended from outside: the
  process writes which body it is on and since when into shared memory, and the owner kills it
  half the limit (and a second) later. The body being parsed fails with PARSE_TIMEOUT; the
  other bodies of the batch are sent again to a new process. A process that dies for another
  reason (the out-of-memory killer) costs its current body one more try alone, then
  PARSE_CRASH. Nothing is ever re-parsed in the bot's own process.
* In threads, a parse past the limit is abandoned: the caller gets PARSE_TIMEOUT at once and
  the thread, which cannot be killed, finishes on its own without holding a slot.
Each process is a one-process executor of its own, so killing one touches no other batch.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future as ConcurrentFuture
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Generic, TypeVar

from model.errors import FeedParseError, FetchErrorKind
from store.embedded import die_with_parent

logger = logging.getLogger(__name__)

T = TypeVar("T")
# A batch is sent whole and answered whole: bounded so the first body of a large batch is not
# held up long by the last.
MAX_BATCH = 32
DEFAULT_TIME_LIMIT_S = 10.0
THREADS = 4               # parses at once in thread mode (they share the GIL)
START_TIMEOUT_S = 60.0    # a process that has not begun its batch by then is stuck starting
MAX_TRIES = 2             # a body whose process died under it gets one more try, alone

_Answer = tuple[bool, Any]


def parse_timeout(limit_s: float) -> FeedParseError:
    """The error of a body whose parse ran past the time limit."""
    return FeedParseError(
        f"reading the feed took longer than {limit_s:g} seconds and was abandoned (the body "
        "is too large or too convoluted to read)", kind=FetchErrorKind.PARSE_TIMEOUT)


def _parse_crash() -> FeedParseError:
    return FeedParseError("the feed could not be read: the process reading it died twice "
                          "(out of memory?)", kind=FetchErrorKind.PARSE_CRASH)


def hard_limit(limit_s: float) -> float:
    """When the owner kills a parse the timer signal did not stop."""
    return limit_s * 1.5 + 1.0


# -- in the worker process ---------------------------------------------------------------------

class _Overtime(BaseException):
    """Raised inside a parse by the timer signal. Not an Exception: feedparser's own
    `except Exception` must not swallow it."""


_progress: Any = None      # shared [index of the body being parsed, when it began]
_armed = False


def _overtime(signum: int, frame: FrameType | None) -> None:
    if _armed:
        raise _Overtime


def init_worker(progress: Any) -> None:
    """Process initializer: die with the bot, report progress, stop overlong parses, and
    leave Ctrl-C to the bot. A terminal's Ctrl-C goes to the whole process group; the bot stops
    its workers itself (`ParsePool.close`), so a worker that also took the SIGINT would only
    print a KeyboardInterrupt traceback."""
    global _progress
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    _progress = progress
    signal.signal(signal.SIGALRM, _overtime)


def _disarm() -> None:
    global _armed
    _armed = False
    signal.setitimer(signal.ITIMER_REAL, 0)


def run_batch(calls: list[Callable[[], T]], time_limit_s: float | None = None
              ) -> list[_Answer]:
    """In the worker: each call's result, or the exception it raised (one bad body must not
    fail the others of its batch). With a time limit (only in a process set up by
    `init_worker`), a call that runs past it fails with PARSE_TIMEOUT."""
    global _armed
    answers: list[_Answer] = []
    limit = time_limit_s if _progress is not None else None
    for index, call in enumerate(calls):
        if _progress is not None:
            _progress[1] = time.monotonic()
            _progress[0] = index
        try:
            if limit is not None:
                _armed = True
                signal.setitimer(signal.ITIMER_REAL, limit)
            try:
                value = call()
            finally:
                if limit is not None:
                    _disarm()
            answers.append((True, value))
        except _Overtime:
            _disarm()
            answers.append((False, parse_timeout(time_limit_s or 0.0)))
        except Exception as exc:  # noqa: BLE001 - handed back to that body's caller
            answers.append((False, exc))
    if _progress is not None:
        _progress[0] = -1
    return answers


# -- in the owner ------------------------------------------------------------------------------

@dataclass(eq=False)
class _Job(Generic[T]):
    call: Callable[[], T]
    future: asyncio.Future[T]
    tries: int = 0
    alone: bool = False     # sent in a batch of its own (its process died under it once)


@dataclass(eq=False)
class _Slot:
    """One worker process: its executor, its shared progress and the batch it holds."""

    progress: Any
    executor: ProcessPoolExecutor | None = None
    batch: list[_Job[Any]] = field(default_factory=list)
    sent_at: float = 0.0
    timer: asyncio.TimerHandle | None = None
    killed_for_time: bool = False


class ParsePool(Generic[T]):
    """`await pool.run(call)` runs `call` (picklable: a module-level function or a partial of
    one) in one of `workers` processes, or in a thread when `workers` is 0, and raises
    FeedParseError(PARSE_TIMEOUT) when it runs longer than `time_limit_s`. Processes start on
    first use, get the parent-death signal like the embedded Redis (a SIGKILLed bot leaves none
    behind), and are replaced when one dies."""

    def __init__(self, workers: int, *, time_limit_s: float = DEFAULT_TIME_LIMIT_S) -> None:
        self.workers = max(0, workers)
        self.time_limit_s = time_limit_s
        self._context = multiprocessing.get_context("spawn")
        self._slots = [_Slot(self._context.RawArray("d", [-1.0, 0.0]))
                       for _ in range(self.workers)]
        self._waiting: deque[_Job[T]] = deque()
        self._thread_slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        self.batches = 0     # round trips made, for tests and the curious
        self.timeouts = 0    # bodies abandoned for time
        self.deaths = 0      # worker processes that died or were killed

    async def run(self, call: Callable[[], T]) -> T:
        """The call's result; raises what it raised, or FeedParseError(PARSE_TIMEOUT)."""
        if not self.workers:
            return await self._run_in_thread(call)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Job(call, future))
        self._dispatch()
        return await future

    def pids(self) -> list[int]:
        """The worker processes' ids (none before the first `run`)."""
        return [pid for slot in self._slots for pid in _pids(slot.executor)]

    async def close(self) -> None:
        """Stop the processes; bodies still waiting or being parsed are cancelled."""
        waiting, self._waiting = self._waiting, deque()
        for job in waiting:
            job.future.cancel()
        for slot in self._slots:
            if slot.timer is not None:
                slot.timer.cancel()
            executor, slot.executor = slot.executor, None
            if slot.batch:   # a parse in progress could take its whole time limit, or hang
                _kill(executor)
            for job in slot.batch:
                job.future.cancel()
            slot.batch = []
            if executor is not None:
                await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    # -- threads -----------------------------------------------------------------------------
    async def _run_in_thread(self, call: Callable[[], T]) -> T:
        # A thread of its own per parse, at most THREADS at once: an abandoned thread gives its
        # slot back at once and holds no shared executor's thread.
        loop = asyncio.get_running_loop()
        if self._thread_slots is None or self._thread_slots[0] is not loop:
            self._thread_slots = (loop, asyncio.Semaphore(THREADS))   # one per event loop
        async with self._thread_slots[1]:
            future: asyncio.Future[T] = loop.create_future()

            def work() -> None:
                try:
                    result: _Answer = (True, call())
                except Exception as exc:  # noqa: BLE001 - handed to the caller
                    result = (False, exc)
                with contextlib.suppress(RuntimeError):  # the loop may be closed by now
                    loop.call_soon_threadsafe(_settle, future, result)

            threading.Thread(target=work, name="feed-parse", daemon=True).start()
            try:
                return await asyncio.wait_for(future, self.time_limit_s)
            except TimeoutError:
                self.timeouts += 1
                logger.warning("a feed parse ran past %g s in a thread: abandoned (the thread "
                               "finishes on its own)", self.time_limit_s)
                raise parse_timeout(self.time_limit_s) from None

    # -- processes ---------------------------------------------------------------------------
    def _dispatch(self) -> None:
        for slot in self._slots:
            if not self._waiting:
                return
            if not slot.batch:
                self._send(slot)

    def _next_batch(self) -> list[_Job[T]]:
        batch: list[_Job[T]] = []
        while self._waiting and len(batch) < MAX_BATCH:
            job = self._waiting[0]
            if job.future.done():   # its poll was cancelled: dropped
                self._waiting.popleft()
                continue
            if job.alone and batch:
                break
            batch.append(self._waiting.popleft())
            if job.alone:
                break
        return batch

    def _send(self, slot: _Slot) -> None:
        batch = self._next_batch()
        if not batch:
            return
        if slot.executor is None:
            slot.executor = ProcessPoolExecutor(1, mp_context=self._context,
                                                initializer=init_worker,
                                                initargs=(slot.progress,))
        slot.progress[0] = -1.0
        try:
            submitted = slot.executor.submit(run_batch, [job.call for job in batch],
                                             self.time_limit_s)
        except BrokenProcessPool:
            slot.executor = None
            self._waiting.extendleft(reversed(batch))
            self._dispatch()
            return
        slot.batch, slot.sent_at, slot.killed_for_time = batch, time.monotonic(), False
        self.batches += 1
        loop = asyncio.get_running_loop()
        slot.timer = loop.call_later(hard_limit(self.time_limit_s), self._watch, slot)
        submitted.add_done_callback(
            lambda done: loop.call_soon_threadsafe(self._answer, slot, batch, done))

    def _watch(self, slot: _Slot) -> None:
        """Kill the slot's process if its current body is past the hard limit, else look
        again when it would be."""
        slot.timer = None
        if not slot.batch:
            return
        now = time.monotonic()
        index, began = slot.progress[0], slot.progress[1]
        # Not begun yet (the process is starting): the start-up gets its own, longer, limit.
        due = (slot.sent_at + START_TIMEOUT_S if index < 0
               else began + hard_limit(self.time_limit_s))
        if now < due:
            slot.timer = asyncio.get_running_loop().call_later(
                min(due - now, hard_limit(self.time_limit_s)), self._watch, slot)
            return
        slot.killed_for_time = index >= 0
        logger.warning("a feed parse process is stuck (%s); killing it",
                       "a body past the time limit" if index >= 0 else "it never started")
        _kill(slot.executor)

    def _answer(self, slot: _Slot, batch: list[_Job[T]],
                done: ConcurrentFuture[list[_Answer]]) -> None:
        if slot.timer is not None:
            slot.timer.cancel()
            slot.timer = None
        slot.batch = []
        error = None if done.cancelled() else done.exception()
        if done.cancelled():
            for job in batch:
                job.future.cancel()
        elif isinstance(error, BrokenProcessPool):
            self._lost(slot, batch)
        elif error is not None:  # e.g. an answer that could not be pickled
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(error)
        else:
            for job, (ok, value) in zip(batch, done.result(), strict=True):
                if job.future.done():  # its poll was cancelled meanwhile
                    continue
                if ok:
                    job.future.set_result(value)
                else:
                    if isinstance(value, FeedParseError) and (
                            value.kind is FetchErrorKind.PARSE_TIMEOUT):
                        self.timeouts += 1
                    job.future.set_exception(value)
        self._dispatch()

    def _lost(self, slot: _Slot, batch: list[_Job[T]]) -> None:
        """The slot's process died holding `batch`: the body it was on fails (or, if the death
        was not ours, gets one more try alone); the others go again, first."""
        self.deaths += 1
        index = int(slot.progress[0])
        executor, slot.executor = slot.executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        culprit = batch[index] if 0 <= index < len(batch) else None
        again: list[_Job[T]] = []
        for job in batch:
            if job.future.done():
                continue
            if job is culprit and slot.killed_for_time:
                self.timeouts += 1
                job.future.set_exception(parse_timeout(self.time_limit_s))
            elif job is culprit or culprit is None:
                # Not killed by us (out of memory, a crash) or not known which body: once more,
                # alone, at the back of the line.
                job.tries += 1
                if job.tries >= MAX_TRIES:
                    job.future.set_exception(_parse_crash())
                else:
                    job.alone = True
                    self._waiting.append(job)
            else:
                again.append(job)
        logger.warning("a feed parse process died (%s); %d bodies sent again, a new process "
                       "starts", "killed past the time limit" if slot.killed_for_time
                       else "killed or crashed", len(again))
        self._waiting.extendleft(reversed(again))
        self._dispatch()


def _pids(executor: ProcessPoolExecutor | None) -> list[int]:
    if executor is None:
        return []
    return list(executor._processes or {})  # noqa: SLF001


def _kill(executor: ProcessPoolExecutor | None) -> None:
    for pid in _pids(executor):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _settle(future: asyncio.Future[T], result: _Answer) -> None:
    if future.done():   # abandoned for time meanwhile
        return
    ok, value = result
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


__all__ = ["DEFAULT_TIME_LIMIT_S", "MAX_BATCH", "ParsePool", "hard_limit", "parse_timeout",
           "run_batch"]
