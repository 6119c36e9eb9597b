"""Receiving updates: one replica long-polls getUpdates at a time (a Redis lock, renewed while
held), and updates that arrive by webhook go to the same application queue."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from datetime import timedelta
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from telegram import Update
from telegram.error import NetworkError, RetryAfter, TelegramError

from bot.context import NashirApp
from store import keys

logger = logging.getLogger(__name__)

_RENEW_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class UpdatesLock:
    """The right to long-poll getUpdates: a Redis key holding this replica's id, with expiry,
    renewed while held. A holder that dies stops renewing; the key expires; another takes it."""

    def __init__(self, redis: aioredis.Redis, replica_id: str | None = None, *,
                 ttl_s: float = 30.0) -> None:
        self.redis = redis
        self.replica_id = (replica_id
                           or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}")
        self.ttl_ms = int(ttl_s * 1000)
        self._renew = redis.register_script(_RENEW_LUA)
        self._release = redis.register_script(_RELEASE_LUA)

    @property
    def ttl_s(self) -> float:
        return self.ttl_ms / 1000

    async def try_acquire(self) -> bool:
        return bool(await self.redis.set(keys.bot_updates_lock(), self.replica_id, nx=True,
                                         px=self.ttl_ms))

    async def renew(self) -> bool:
        return bool(await self._renew(keys=[keys.bot_updates_lock()],
                                      args=[self.replica_id, self.ttl_ms]))

    async def release(self) -> None:
        await self._release(keys=[keys.bot_updates_lock()], args=[self.replica_id])

    async def holder(self) -> str | None:
        holder = await self.redis.get(keys.bot_updates_lock())
        return None if holder is None else str(holder)


# channel_post: a command someone posts in a channel is answered (commands are not taken there,
# bot.handlers.errors.channel_command); every other post is ignored.
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member", "channel_post"]


async def poll_with_lock(app: NashirApp, stop: asyncio.Event, lock: UpdatesLock, *,
                         poll_timeout_s: float = 10.0) -> None:
    """Wait for the lock, long-poll while renewing it, stop polling the moment it is lost."""
    updater = app.updater
    assert updater is not None
    renew_every = max(0.05, lock.ttl_s / 3)
    # A waiting replica asks often (a cheap SET NX), so a clean hand-over is near-immediate.
    retry_every = min(renew_every, 1.0)
    while not stop.is_set():
        try:
            acquired = await lock.try_acquire()
        except (RedisError, OSError) as exc:
            logger.warning("cannot reach Redis for the updates lock (%s)", exc)
            acquired = False
        if not acquired:
            await wait_or_stop(stop, retry_every)
            continue
        logger.info("this replica (%s) now receives bot updates", lock.replica_id)
        try:
            await updater.start_polling(timeout=timedelta(seconds=poll_timeout_s),
                                        allowed_updates=ALLOWED_UPDATES,
                                        error_callback=_polling_error)
        except (NetworkError, RetryAfter) as exc:  # deleteWebhook at start failed: an outage
            logger.warning("could not start polling (%s); retrying", exc)
            await _release(lock)
            await wait_or_stop(stop, retry_every)
            continue
        lost = False
        last_renewed = time.monotonic()
        while not stop.is_set():
            await wait_or_stop(stop, renew_every)
            if stop.is_set():
                break
            try:
                if await lock.renew():
                    last_renewed = time.monotonic()
                else:
                    lost = True
            except (RedisError, OSError) as exc:
                # Keep polling while the lock cannot have expired yet; after that another
                # replica may hold it, and two pollers only make Telegram answer 409.
                logger.warning("cannot renew the updates lock (%s)", exc)
                lost = time.monotonic() - last_renewed > lock.ttl_s
            if lost:
                logger.warning("lost the updates lock; another replica receives updates now")
                break
        await updater.stop()
        if not lost:
            await _release(lock)


async def _release(lock: UpdatesLock) -> None:
    try:
        await lock.release()
    except (RedisError, OSError) as exc:
        logger.warning("could not release the updates lock (%s); it expires", exc)


def _polling_error(exc: TelegramError) -> None:
    logger.warning("getUpdates failed: %s", exc)


async def process_update_json(app: NashirApp, payload: dict[str, Any]) -> None:
    """Hand one update (as Telegram sends it) to the application's queue."""
    update = Update.de_json(payload, app.bot)
    if update is not None:
        await app.update_queue.put(update)


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
