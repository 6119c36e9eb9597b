"""Held posts and their way out.

A chat the bot cannot post in (403, "chat not found", no rights) is *blocked*: its posts move to
the held stream (fate: held, blocked, with Telegram's words), and later ones follow on arrival.
Nothing stays there without a way out:

* **the probe**: every blocked chat is probed (a chat action, which Telegram refuses exactly
  where it would refuse a post) first `probe_first_s` after the block, then backing off to every
  `probe_max_s`; one log line per attempt; on success its held posts go back to the queue in
  article order (fate: queued, released);
* **at once** when the bot is added back (`my_chat_member`), the user sends /start or
  /subscribe, an owner sends /release CHAT, or `python main.py release CHAT` (all call
  `release_chat`);
* **the cap**: past `cap` held posts the oldest are dropped, each with fate failed
  (held_overflow), counted and logged with its link; owners get one notice per crossing.

Posts held because their channel is paused are not the probe's business: the chat is not
blocked, and /resume releases them (`DeliveryQueue.release_paused`). A post Telegram refused for
itself (fate: failed, refused) stays held for an operator until the cap drops it.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from delivery import telegram_errors as tg
from delivery.queue import DeliveryQueue, QueuedDelivery
from delivery.ratelimit import is_group_chat
from delivery.tasks import Backoff, Hook, SenderStats, call_hook, wait_any
from delivery.transport import Transport, chat_unusable
from model.delivery import SendOutcome
from store import fates

logger = logging.getLogger("delivery.sender")

REDIS_ERRORS = (RedisError, OSError)
DEFAULT_HELD_CAP = 10_000
PROBE_TIME_S = 60.0          # a chat being probed is not handed to another replica this long


@dataclass(frozen=True, slots=True)
class HeldPolicy:
    """How blocked chats are probed and how many posts the held stream keeps."""

    cap: int = DEFAULT_HELD_CAP
    probe_first_s: float = 60.0
    probe_max_s: float = 6 * 3600.0

    @property
    def tick_s(self) -> float:
        """How often the keeper looks for due probes and the cap."""
        return max(0.05, min(1.0, self.probe_first_s / 4))


FateCounter = Callable[[str, str, int], None]


class HeldKeeper:
    """The sender's side of held posts: blocking and refusing (with their hooks), the probe
    loop and the cap."""

    def __init__(self, queue: DeliveryQueue, transport: Transport, policy: HeldPolicy,
                 stats: SenderStats, count: FateCounter, *,
                 on_chat_blocked: Hook | None = None, on_user_blocked: Hook | None = None,
                 on_overflow: Hook | None = None) -> None:
        self.queue = queue
        self.transport = transport
        self.policy = policy
        self.stats = stats
        self.count = count
        self.on_chat_blocked = on_chat_blocked
        self.on_user_blocked = on_user_blocked
        self.on_overflow = on_overflow

    # -- decisions the sender takes ------------------------------------------------------
    async def blocked(self, queued: QueuedDelivery, token: str, reason: str,
                      context: dict[str, str]) -> SendOutcome:
        """The bot may not post in the chat: block it, hold its posts, schedule its probe."""
        chat = queued.target
        newly, count = await self.queue.block_chat(
            chat, token, reason, probe_first_s=self.policy.probe_first_s,
            probe_max_s=self.policy.probe_max_s)
        self.stats.held += count
        self.stats.failed_by_reason["forbidden"] += 1
        self.count(fates.Fate.HELD.value, fates.BLOCKED, count)
        if newly:
            self.stats.blocked_chats += 1
            logger.error("cannot post to this chat (%s); its %d post(s) are kept aside, it is "
                         "probed from %.0f s on, and released at once when the bot is added "
                         "back, on /start, /subscribe or /release", reason, count,
                         self.policy.probe_first_s, extra=context)
            if is_group_chat(chat):
                await call_hook(self.on_chat_blocked, chat, reason)
            else:
                await call_hook(self.on_user_blocked, chat)
        await self.trim()
        return SendOutcome(queued.delivery, "held", reason=reason, chat=chat)

    async def refused(self, queued: QueuedDelivery, token: str, reason: str,
                      context: dict[str, str]) -> SendOutcome:
        """Telegram refused this post itself: keep it aside (fate: failed, refused)."""
        await self.queue.hold(queued, token, reason)
        self.stats.held += 1
        self.stats.failed_by_reason["refused"] += 1
        if not queued.delivery.is_edit:
            self.count(fates.Fate.FAILED.value, fates.REFUSED, 1)
        logger.error("Telegram refused the post (%s); it is kept aside: %s", reason,
                     queued.delivery.url, extra=context)
        await self.trim()
        return SendOutcome(queued.delivery, "held", reason=reason, chat=queued.target)

    # -- the loop ---------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Probe due chats and keep the cap until `stop` is set."""
        backoff = Backoff()
        scheduled = False
        while not stop.is_set():
            try:
                if not scheduled:
                    await self.queue.schedule_missing_probes(self.policy.probe_first_s,
                                                             self.policy.probe_max_s)
                    scheduled = True
                await self.trim()
                await self.probe_due(stop)
                backoff.reset()
                delay = self.policy.tick_s
            except REDIS_ERRORS as exc:
                self.stats.redis_errors += 1
                delay = backoff.next()
                logger.warning("Redis unreachable while minding held posts (%s); retrying in "
                               "%.1f s", exc, delay)
            except Exception:
                logger.exception("unexpected error minding held posts; retrying")
                delay = backoff.next()
            await wait_any(delay, stop)

    async def probe_due(self, stop: asyncio.Event | None = None) -> int:
        """Probe every blocked chat whose time has come; returns how many were released."""
        released = 0
        for chat in await self.queue.probe_due(probe_ms=int(PROBE_TIME_S * 1000)):
            if stop is not None and stop.is_set():
                break
            released += await self._probe(chat)
        return released

    async def _probe(self, chat: str) -> int:
        context = {"chat": chat}
        probe = getattr(self.transport, "probe", None)
        try:
            if probe is not None:
                await probe(chat)
        except tg.TelegramError as exc:
            result = "closed" if _chat_closed(exc) else "error"
            self.stats.probes[result] += 1
            wait = await self.queue.probe_failed(chat, self.policy.probe_first_s,
                                                 self.policy.probe_max_s)
            logger.info("probe: %s (%s); next probe in %.0f s",
                        "still cannot post there" if result == "closed"
                        else "could not ask Telegram", exc, wait, extra=context)
            return 0
        moved = await self.queue.release_held(chat, reset_probes=False)
        self.stats.probes["released"] += 1
        self.count(fates.Fate.QUEUED.value, fates.RELEASED, moved)
        logger.warning("probe: the bot can post here again; %d held post(s) go back to the "
                       "queue", moved, extra=context)
        return 1

    async def trim(self) -> int:
        """Drop held posts past the cap (oldest first); returns how many."""
        dropped = await self.queue.drop_held_overflow(self.policy.cap)
        for chat, url in dropped.posts:
            logger.error("held posts are past their cap of %d: dropped the oldest, %s",
                         self.policy.cap, url or "(no link)", extra={"chat": chat})
        if dropped.posts:
            self.stats.held_dropped += len(dropped.posts)
            self.count(fates.Fate.FAILED.value, fates.HELD_OVERFLOW, len(dropped.posts))
        if dropped.crossed:
            await call_hook(self.on_overflow, self.policy.cap, len(dropped.posts))
        return len(dropped.posts)


def _chat_closed(exc: tg.TelegramError) -> bool:
    """Telegram says the bot may not post there (as opposed to an outage or a flood wait)."""
    return isinstance(exc, tg.Forbidden) or (isinstance(exc, tg.BadRequest)
                                             and chat_unusable(exc))


async def release_chat(redis: aioredis.Redis, chat: str, why: str) -> int:
    """Release a blocked chat now (the bot was added back, the user wrote, an owner asked):
    its held posts go back to the queue in order, and its probe's backoff starts afresh. One
    log line; returns how many posts went back (0 for a chat that was not held)."""
    queue = DeliveryQueue(redis, "release")
    started = time.monotonic()
    moved = await queue.release_held(chat, reset_probes=True)
    if moved:
        logger.warning("%s: %d held post(s) go back to the queue (%.2f s)", why, moved,
                       time.monotonic() - started, extra={"chat": chat})
    return moved


def chats_of(chat_id: int | str, username: str | None = None) -> list[str]:
    """The ids a chat may be known by in the queue: its number and, for public chats, its
    @username (channels are often configured by name)."""
    found = [str(chat_id)]
    if username:
        found.append("@" + username.lstrip("@"))
    return found
