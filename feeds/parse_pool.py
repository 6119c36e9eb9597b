"""Feed parsing in worker processes, handed over in batches.

feedparser holds the GIL, so on a machine with a core to spare the poller parses in other
processes. A round trip through ProcessPoolExecutor costs both sides about 0.15 ms of CPU
(threads, pipes, pickling), as much as a tenth of parsing a small feed. So bodies go over in
batches, with no timer: a body goes at once when a process is free; while every process is
busy, the bodies that come in wait and go together when one is free again. A quiet bot sends
one body at a time with no delay; a busy one pays one round trip for many.
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
from collections.abc import Callable
from concurrent.futures import Future as ConcurrentFuture
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Generic, TypeVar

from store.embedded import die_with_parent

logger = logging.getLogger(__name__)

T = TypeVar("T")
# A batch is sent whole and answered whole: bounded so the first body of a large batch is not
# held up long by the last.
MAX_BATCH = 32

_Waiting = tuple[Callable[[], T], "asyncio.Future[T]"]


def _start_worker() -> None:
    """In each new worker: die with the bot, and leave Ctrl-C to it. A terminal's Ctrl-C
    goes to the whole process group; the bot stops its workers itself (`ParsePool.close`), so
    a worker that also took the SIGINT would only print a KeyboardInterrupt traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()


def run_batch(calls: list[Callable[[], T]]) -> list[tuple[bool, T | Exception]]:
    """In the worker: each call's result, or the exception it raised (one bad body must not
    fail the others of its batch)."""
    answers: list[tuple[bool, T | Exception]] = []
    for call in calls:
        try:
            answers.append((True, call()))
        except Exception as exc:  # noqa: BLE001 - handed back to that body's caller
            answers.append((False, exc))
    return answers


class ParsePool(Generic[T]):
    """`await pool.run(call)` runs `call` (picklable: a module-level function or a partial of
    one) in one of `workers` processes. Processes start on first use, get the parent-death
    signal like the embedded Redis (a SIGKILLed bot leaves none behind), and are replaced when
    one dies; the bodies of a batch lost that way are parsed in threads meanwhile."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._executor: ProcessPoolExecutor | None = None
        self._waiting: list[_Waiting[T]] = []
        self._in_flight = 0
        self.batches = 0  # round trips made, for tests and the curious
        self._fallbacks: set[asyncio.Task[None]] = set()

    async def run(self, call: Callable[[], T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiting.append((call, future))
        if self._in_flight < self.workers:
            self._send()
        return await future

    def pids(self) -> list[int]:
        """The worker processes' ids (none before the first `run`)."""
        executor = self._executor
        return list(executor._processes) if executor is not None else []  # noqa: SLF001

    async def close(self) -> None:
        """Stop the processes; bodies still waiting are cancelled."""
        executor, self._executor = self._executor, None
        waiting, self._waiting = self._waiting, []
        for _, future in waiting:
            future.cancel()
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    def _send(self) -> None:
        batch: list[_Waiting[T]] = []
        while self._waiting and not batch:  # bodies whose polls were cancelled are dropped
            batch = [(call, future) for call, future in self._waiting[:MAX_BATCH]
                     if not future.done()]
            del self._waiting[:MAX_BATCH]
        if not batch:
            return
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker)
        try:
            submitted = self._executor.submit(run_batch, [call for call, _ in batch])
        except BrokenProcessPool:
            self._replace(batch)
            return
        self._in_flight += 1
        self.batches += 1
        loop = asyncio.get_running_loop()
        submitted.add_done_callback(lambda done: loop.call_soon_threadsafe(
            self._answer, batch, done))

    def _answer(self, batch: list[_Waiting[T]], done: ConcurrentFuture[list[tuple[bool, T]]]
                ) -> None:
        self._in_flight -= 1
        error = None if done.cancelled() else done.exception()
        if done.cancelled():
            for _, future in batch:
                future.cancel()
        elif isinstance(error, BrokenProcessPool):
            self._replace(batch)
        elif error is not None:  # e.g. an answer that could not be pickled
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
        else:
            for (_, future), (ok, value) in zip(batch, done.result(), strict=True):
                if future.done():  # its poll was cancelled meanwhile
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)  # type: ignore[arg-type]
        if self._waiting and self._in_flight < self.workers:
            self._send()

    def _replace(self, batch: list[_Waiting[T]]) -> None:
        # A process died (killed, out of memory): new ones start with the next batch; this
        # batch is parsed in threads meanwhile.
        logger.warning("a feed parsing process died; starting new ones")
        self._executor = None
        for call, future in batch:
            task = asyncio.create_task(_settle(future, call))
            self._fallbacks.add(task)
            task.add_done_callback(self._fallbacks.discard)


async def _settle(future: asyncio.Future[T], call: Callable[[], T]) -> None:
    try:
        result = await asyncio.to_thread(call)
    except Exception as exc:  # noqa: BLE001 - handed to the caller
        if not future.done():
            future.set_exception(exc)
    else:
        if not future.done():
            future.set_result(result)


__all__ = ["MAX_BATCH", "ParsePool", "run_batch"]
