"""The sender: claims chats from the shared queue and posts their deliveries, handling each
Telegram error on purpose. Transports (Telegram, dry-run preview) are swappable behind
`Transport`.

One sender runs three kinds of tasks: a router (intake stream -> chat queues), a dispatcher
(claims the next chat while fewer than `concurrency` sends are in flight) and one task per send.
A send task sleeps until the slot the rate-limit log reserved for it, sends, and records the
result in one Redis script. Errors, by kind:

* 429 `retry_after`: the chat (or, when several chats got one, every chat on every replica)
  waits exactly that long; counted.
* group upgraded (`migrate_to_chat_id`): the chat's queue moves to the new id, a hook tells the
  bot layer, the post goes there.
* forbidden / chat not found / no rights: the chat is blocked and its posts held (kept in
  Redis); the owners' hook is called once; a private user who blocked the bot is unsubscribed
  through its own hook. `delivery.held` probes blocked chats and releases them, and caps the
  held posts.
* HTML refused: the same post as plain text (TelegramTransport), logged loudly, counted.
* Photo URL refused: downloaded and uploaded, else posted without the photo.
* 5xx, timeouts, dropped connections: retried with capped exponential backoff and jitter,
  forever (an outage must not lose posts). When the failure may have come after Telegram took
  the message, the eventual success is counted as a possible duplicate.
* Redis unreachable: every loop backs off and retries; a finished send's record is retried
  until Redis takes it, and no new chat is claimed meanwhile.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import TypeVar
from uuid import uuid4

from redis.exceptions import RedisError

from delivery import telegram_errors as tg
from delivery.held import HeldKeeper, HeldPolicy
from delivery.queue import Claim, DeliveryQueue, QueuedDelivery
from delivery.ratelimit import RateLimits, SharedRateLimiter
from delivery.tasks import (
    Backoff,
    Hook,
    SenderStats,
    call_hook,
    maybe_delivered,
    retry_after_seconds,
    wait_any,
)
from delivery.transport import Transport, chat_unusable
from model.delivery import Posted, SendOutcome

__all__ = ["Sender", "SenderStats"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

REDIS_ERRORS = (RedisError, OSError)

# -- the sender -------------------------------------------------------------------------------

@dataclass(slots=True)
class _Job:
    queued: QueuedDelivery
    phase: str = "waiting"            # waiting | sending | recording


class Sender:
    """Claims chats from the shared queue and sends their posts, one chat's posts in order."""

    def __init__(self, queue: DeliveryQueue, transport: Transport, *, concurrency: int = 8,
                 lease_ms: int = 20_000, max_attempts: int = 5,
                 limits: RateLimits | None = None, grace: float = 10.0,
                 retry_base: float = 1.0, retry_cap: float = 60.0, idle_poll: float = 0.25,
                 on_outcome: Callable[[SendOutcome], None] | None = None,
                 on_chat_blocked: Hook | None = None, on_user_blocked: Hook | None = None,
                 on_chat_migrated: Hook | None = None, held: HeldPolicy | None = None,
                 on_held_overflow: Hook | None = None) -> None:
        """`concurrency` bounds the sends in flight, and with it the duplicates a crash can
        cause. `max_attempts` failed attempts in a row turn the retry log from a warning into an
        error (the post is still retried). Hooks may be plain or async functions:
        `on_chat_blocked(chat, reason)` (tell the owners; once per block),
        `on_user_blocked(chat)` (unsubscribe), `on_chat_migrated(old, new)`,
        `on_held_overflow(cap, dropped)` (tell the owners; once per crossing). `held`: the
        probe's schedule and the held posts' cap."""
        self.queue = queue
        self.transport = transport
        self.concurrency = max(1, concurrency)
        self.lease_ms = lease_ms
        self.max_attempts = max_attempts
        self.limits = limits if limits is not None else RateLimits()
        self.grace = grace
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.idle_poll = idle_poll
        self.on_outcome = on_outcome
        self.on_chat_migrated = on_chat_migrated
        # Delivery's fates other than posted, as counted: Metrics.attach_sender sets this.
        self.on_fates: Callable[[Mapping[tuple[str, str], int]], None] | None = None
        self.token = f"{queue.consumer}:{uuid4().hex[:12]}"
        self.stats = SenderStats()
        self.held = HeldKeeper(queue, transport, held or HeldPolicy(), self.stats,
                               self._count_fates, on_chat_blocked=on_chat_blocked,
                               on_user_blocked=on_user_blocked, on_overflow=on_held_overflow)
        self.limiter = SharedRateLimiter(queue.redis, self.limits)
        self._jobs: dict[asyncio.Task[None], _Job] = {}
        self._wake = asyncio.Event()
        self._recording = 0               # finished sends whose record waits for Redis
        self._paused_until = 0.0          # loop time: a flood-wait on the whole bot ends
        self._hard_deadline: float | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event, *, block_ms: int = 1000) -> None:
        """Send until `stop` is set. Then claim nothing more, let in-flight sends finish for up
        to `grace` seconds and give the rest back to the queue."""
        await self._serve(stop, block_ms=block_ms, until_empty=False)

    async def drain(self, timeout: float) -> int:  # noqa: ASYNC109 (a deadline, not I/O)
        """Send everything queued now (the `once` command); returns how many posts remain
        (0 unless the time ran out, e.g. Telegram was down)."""
        stop = asyncio.Event()
        serving = asyncio.create_task(self._serve(stop, block_ms=50, until_empty=True))
        try:
            await asyncio.wait_for(asyncio.shield(serving), timeout)
        except TimeoutError:
            stop.set()
            await serving
        return await self.queue.depth()

    async def _serve(self, stop: asyncio.Event, *, block_ms: int, until_empty: bool) -> None:
        self._hard_deadline = None
        await self._until_redis(self.queue.ensure_group, stop)
        if stop.is_set():
            return
        halt = asyncio.Event()
        router = asyncio.create_task(self._route_loop(halt, block_ms), name="sender-router")
        beat = asyncio.create_task(self._heartbeat(), name="sender-heartbeat")
        keeper = asyncio.create_task(self.held.run(halt), name="sender-held")
        try:
            await self._dispatch(stop, until_empty)
        finally:
            halt.set()
            await self._finish_in_flight()
            beat.cancel()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(router, block_ms / 1000 + 5)
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(keeper, 10)
            await asyncio.gather(beat, return_exceptions=True)

    async def _finish_in_flight(self) -> None:
        if not self._jobs:
            return
        loop = asyncio.get_running_loop()
        self._hard_deadline = loop.time() + self.grace
        logger.info("stopping: waiting up to %.0f s for %d send(s) in flight", self.grace,
                    len(self._jobs))
        _, pending = await asyncio.wait(set(self._jobs), timeout=self.grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    # -- routing ------------------------------------------------------------------------------
    async def _route_loop(self, halt: asyncio.Event, block_ms: int) -> None:
        loop = asyncio.get_running_loop()
        backoff = Backoff()
        next_stale = 0.0
        while not halt.is_set():
            try:
                moved = 0
                if loop.time() >= next_stale:
                    moved += await self.queue.route_stale(self.lease_ms)
                    next_stale = loop.time() + self.lease_ms / 2000
                moved += await self.queue.route_new(count=500, block_ms=block_ms)
                if moved:
                    self._wake.set()
                backoff.reset()
            except REDIS_ERRORS as exc:
                self.stats.redis_errors += 1
                delay = backoff.next()
                logger.warning("Redis unreachable while reading the queue (%s); retrying in "
                               "%.1f s", exc, delay)
                await wait_any(delay, halt)
            except Exception:
                logger.exception("unexpected error routing the queue; retrying")
                await wait_any(backoff.next(), halt)

    # -- dispatching --------------------------------------------------------------------------
    async def _dispatch(self, stop: asyncio.Event, until_empty: bool) -> None:
        backoff = Backoff()
        while not stop.is_set():
            if len(self._jobs) >= self.concurrency or self._recording:
                # Full, or a finished send's record waits for Redis: claiming now could take
                # that very chat again once its lease ran out during the outage.
                self._wake.clear()
                await wait_any(None if not self._recording else 0.5, stop, self._wake)
                continue
            self._wake.clear()
            try:
                claim = await self.queue.claim(self.token, self.lease_ms, self.limits)
            except REDIS_ERRORS as exc:
                self.stats.redis_errors += 1
                delay = backoff.next()
                logger.warning("Redis unreachable (%s); the sender retries in %.1f s", exc,
                               delay)
                await wait_any(delay, stop)
                continue
            backoff.reset()
            if claim.queued is not None:
                self._start(claim)
                continue
            if claim.reason == "pause":
                wait: float | None = claim.wait
                self._pause(claim.wait)
            elif claim.reason == "later":
                wait = min(claim.wait, 5.0)
            else:
                if until_empty and not self._jobs and await self._queue_empty():
                    return
                wait = self.idle_poll
            await wait_any(wait, stop, self._wake)

    async def _queue_empty(self) -> bool:
        try:
            return await self.queue.depth() == 0
        except REDIS_ERRORS:
            return False

    def _start(self, claim: Claim) -> None:
        assert claim.queued is not None
        job = _Job(claim.queued)
        task = asyncio.create_task(self._work(job, claim.payload_error))
        self._jobs[task] = job
        task.add_done_callback(self._job_done)

    def _job_done(self, task: asyncio.Task[None]) -> None:
        self._jobs.pop(task, None)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            logger.error("send task failed: %r", task.exception())

    async def _heartbeat(self) -> None:
        interval = self.lease_ms / 3000
        while True:
            await asyncio.sleep(interval)  # lease renewal period, not a wait for work
            chats = [job.queued.target for job in self._jobs.values()]
            if chats:
                try:
                    await self.queue.renew(self.token, self.lease_ms, chats)
                except REDIS_ERRORS as exc:
                    logger.warning("could not renew leases (%s)", exc)

    # -- one send -----------------------------------------------------------------------------
    async def _work(self, job: _Job, payload_error: str) -> None:
        queued = job.queued
        context = {"chat": queued.target, "article": queued.delivery.uid,
                   "feed": queued.delivery.feed_id}
        outcome: SendOutcome | None = None
        try:
            if payload_error:
                await self.queue.hold(queued, self.token, payload_error, kind="unreadable")
                self.stats.held += 1
                outcome = SendOutcome(queued.delivery, "held", reason=payload_error)
            else:
                outcome = await self._process(job, context)
        except asyncio.CancelledError:
            await self._give_back(job, context)
            raise
        except REDIS_ERRORS as exc:
            self.stats.redis_errors += 1
            logger.warning("Redis error during a send (%s); the chat's lease will expire and "
                           "the post be retried", exc, extra=context)
        except Exception:
            logger.exception("unexpected error sending; the post is retried later",
                             extra=context)
            self.stats.failed_by_reason["internal"] += 1
            with contextlib.suppress(*REDIS_ERRORS):
                await self.queue.release(queued, self.token, self._backoff(queued.attempts + 1),
                                         failed=True, maybe_sent=job.phase == "sending",
                                         limits=self.limits)
        if outcome is not None:
            self._emit(outcome)

    async def _give_back(self, job: _Job, context: dict[str, str]) -> None:
        """Cancelled (shutdown past the grace period): return the chat to the queue now
        instead of at the end of the lease."""
        if job.phase == "recording":
            logger.error("stopped before the sent record was written; this post may be sent "
                         "again", extra=context)
            return
        try:
            await asyncio.wait_for(asyncio.shield(self.queue.release(
                job.queued, self.token, maybe_sent=job.phase == "sending",
                limits=self.limits)), 2.0)
        except (TimeoutError, *REDIS_ERRORS):
            logger.warning("could not return the post to the queue; its lease will expire",
                           extra=context)

    async def _process(self, job: _Job, context: dict[str, str]) -> SendOutcome:
        queued = job.queued
        delivery = queued.delivery
        if not delivery.is_edit:
            record = await self.queue.sent_record(delivery.chat, delivery.uid)
            if record is not None:
                # Taken over from a sender that died after Telegram's answer: done already.
                await self._must(lambda: self.queue.complete(queued, self.token, None), context)
                self.stats.already_sent += 1
                logger.info("already sent as message %s; not sending again", record.message_id,
                            extra=context)
                return SendOutcome(delivery, "duplicate", record.message_id, "already sent",
                                   chat=record.chat)
        if queued.delay > 0:
            # Sleep after the checks, so the request leaves right at the reserved slot.
            self.stats.rate_limit_waits += 1
            self.stats.rate_limit_wait_seconds += queued.delay
            await asyncio.sleep(queued.delay)  # the slot the shared rate-limit log reserved
        paused = self._paused_until - asyncio.get_running_loop().time()
        if paused > 0:
            # The bot hit its overall limit after this slot was handed out: wait with the rest.
            await self.queue.release(queued, self.token, paused)
            return SendOutcome(delivery, "retry", reason="paused by a flood wait",
                               chat=queued.target)
        target = delivery if queued.target == delivery.chat else replace(delivery,
                                                                          chat=queued.target)
        job.phase = "sending"
        try:
            result = await self.transport.send(target)
        except tg.RetryAfter as exc:
            return await self._flood_wait(queued, exc, context)
        except tg.ChatMigrated as exc:
            return await self._migrated(queued, str(exc.new_chat_id), context)
        except tg.Forbidden as exc:
            return await self.held.blocked(queued, self.token, str(exc), context)
        except tg.BadRequest as exc:
            if chat_unusable(exc):
                return await self.held.blocked(queued, self.token, str(exc), context)
            return await self.held.refused(queued, self.token, str(exc), context)
        except (tg.TimedOut, tg.NetworkError) as exc:
            return await self._retry(queued, exc, context, maybe_sent=maybe_delivered(exc))
        except tg.TelegramError as exc:  # InvalidToken, Conflict, …: nothing was posted
            return await self._retry(queued, exc, context, maybe_sent=False)
        answered = time.time()
        loop = asyncio.get_running_loop()
        answered_at = loop.time()
        job.phase = "recording"
        posted = result if isinstance(result, Posted) else Posted(int(result))
        _, maybe = await self._must(
            lambda: self.queue.complete(queued, self.token, posted, self.limits,
                                        answered_ago=loop.time() - answered_at), context)
        possible_duplicate = maybe or queued.maybe_sent
        if posted.plain_fallback:
            self.stats.plain_fallbacks += 1
        if posted.photo == "upload":
            self.stats.photo_uploads += 1
        elif posted.photo == "dropped":
            self.stats.photos_dropped += 1
        if possible_duplicate:
            self.stats.possible_duplicates += 1
            logger.warning("posted after an attempt that may have gone out too: possible "
                           "duplicate", extra=context)
        status = "edited" if delivery.is_edit else "sent"
        if delivery.is_edit:
            self.stats.edited += 1
        else:
            self.stats.sent += 1
        describe = getattr(self.transport, "describe", None)  # the preview: "written to …"
        logger.info("%s", describe(status, posted.message_id) if describe else
                    f"{status} message {posted.message_id}", extra=context)
        reason = "plain text" if posted.plain_fallback else (
            "without photo" if posted.photo == "dropped" else "")
        return SendOutcome(delivery, status, posted.message_id, reason, chat=queued.target,
                           possible_duplicate=possible_duplicate, answered_at=answered)

    async def _flood_wait(self, queued: QueuedDelivery, exc: tg.RetryAfter,
                          context: dict[str, str]) -> SendOutcome:
        wait = retry_after_seconds(exc)
        overall = await self.limiter.note_429(queued.target, wait)
        self.stats.retry_after_waits += 1
        self.stats.retry_after_seconds += wait
        self.stats.failed_by_reason["flood_wait"] += 1
        if overall:
            self.stats.global_pauses += 1
            self._pause(wait)
        scope = "every chat (the bot's overall limit)" if overall else "this chat"
        logger.warning("Telegram asks to wait %.0f s; pausing %s", wait, scope, extra=context)
        await self.queue.release(queued, self.token, wait)
        return SendOutcome(queued.delivery, "retry", reason=f"flood wait {wait:.0f} s",
                           chat=queued.target)

    async def _migrated(self, queued: QueuedDelivery, new_chat: str,
                        context: dict[str, str]) -> SendOutcome:
        old = queued.target
        moved = await self.queue.migrate_chat(old, new_chat, self.token)
        self.stats.migrated_chats += 1
        logger.warning("the group became supergroup %s; %d post(s) move there", new_chat,
                       moved, extra=context)
        await call_hook(self.on_chat_migrated, old, new_chat)
        return SendOutcome(queued.delivery, "migrated", reason=f"moved to {new_chat}",
                           chat=new_chat)

    async def _retry(self, queued: QueuedDelivery, exc: Exception, context: dict[str, str],
                     *, maybe_sent: bool) -> SendOutcome:
        attempts = queued.attempts + 1
        delay = self._backoff(attempts)
        kind = "maybe_sent" if maybe_sent else "network"
        self.stats.failed_by_reason[kind] += 1
        self.stats.retries += 1
        await self.queue.release(queued, self.token, delay, failed=True, maybe_sent=maybe_sent,
                                 limits=self.limits)
        log = logger.error if attempts >= self.max_attempts else logger.warning
        log("sending failed (%s, attempt %d%s); retrying in %.1f s", exc, attempts,
            ", Telegram may have posted it" if maybe_sent else "", delay, extra=context)
        return SendOutcome(queued.delivery, "retry", reason=str(exc), chat=queued.target)

    def _count_fates(self, fate: str, reason: str, count: int) -> None:
        if count <= 0:
            return
        self.stats.fates[(fate, reason)] += count
        if self.on_fates is not None:
            try:
                self.on_fates({(fate, reason): count})
            except Exception:
                logger.exception("on_fates callback failed")

    def _pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until,
                                 asyncio.get_running_loop().time() + seconds)

    def _backoff(self, attempts: int) -> float:
        """Capped exponential backoff with jitter."""
        ceiling = min(self.retry_cap, self.retry_base * 2 ** max(0, attempts - 1))
        return float(ceiling * random.uniform(0.5, 1.0))

    async def _must(self, action: Callable[[], Awaitable[T]], context: dict[str, str]) -> T:
        """A write that must reach Redis (the record of a finished send): retried through an
        outage; gives up only when a shutdown's grace period is over."""
        backoff = Backoff(first=0.1, cap=5.0)
        self._recording += 1
        try:
            while True:
                try:
                    return await action()
                except REDIS_ERRORS as exc:
                    self.stats.redis_errors += 1
                    loop = asyncio.get_running_loop()
                    if self._hard_deadline is not None and loop.time() > self._hard_deadline:
                        raise
                    delay = backoff.next()
                    logger.warning("Redis unreachable while recording a send (%s); retrying in "
                                   "%.1f s", exc, delay, extra=context)
                    await asyncio.sleep(delay)  # backoff before the next try
        finally:
            self._recording -= 1

    def _emit(self, outcome: SendOutcome) -> None:
        if self.on_outcome is not None:
            try:
                self.on_outcome(outcome)
            except Exception:
                logger.exception("on_outcome callback failed")

    async def _until_redis(self, action: Callable[[], Awaitable[object]],
                           stop: asyncio.Event) -> None:
        backoff = Backoff()
        while not stop.is_set():
            try:
                await action()
                return
            except REDIS_ERRORS as exc:
                self.stats.redis_errors += 1
                delay = backoff.next()
                logger.warning("Redis unreachable (%s); retrying in %.1f s", exc, delay)
                await wait_any(delay, stop)
