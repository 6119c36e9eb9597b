"""Helpers for the delivery tests: the strict fake Bot API, a PTB bot pointed at it, queueing
and running senders."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import pytest
import redis.asyncio as aioredis

from delivery.queue import DeliveryQueue
from delivery.ratelimit import RateLimits
from delivery.sender import Sender
from delivery.telegram_client import make_bot
from delivery.telegram_transport import TelegramTransport
from model.delivery import Delivery
from sandbox import telegram_api as fake

TOKEN = "424242:delivery-tests"


def limits_for(fake_limits: fake.RateLimits, **overrides: object) -> RateLimits:
    """Our limits equal to what the fake enforces."""
    values: dict[str, object] = {
        "overall_per_second": fake_limits.overall_per_second, "overall_window": 1.0,
        "chat_per_second": fake_limits.chat_per_second, "chat_burst": fake_limits.chat_burst,
        "group_per_minute": fake_limits.group_per_minute,
        "group_window": fake_limits.group_window}
    values.update(overrides)
    return RateLimits(**values)  # type: ignore[arg-type]


def post(chat: int | str, n: int, *, priority: int = 0, article_time: float | None = None,
         html: str | None = None, photo_url: str | None = None, uid: str | None = None
         ) -> Delivery:
    return Delivery(
        chat=str(chat), uid=uid or f"article-{n}", url=f"https://example.org/a/{n}",
        html=html if html is not None else f"<b>تحليل {n}</b>\nنص التحليل رقم {n}",
        article_time=1_758_186_000.0 + n if article_time is None else article_time,
        queued_at=time.time(), priority=priority, photo_url=photo_url)


async def queue_all(queue: DeliveryQueue, deliveries: Iterable[Delivery]) -> int:
    count = 0
    async with queue.redis.pipeline(transaction=False) as pipe:
        from store import keys
        for delivery in deliveries:
            pipe.xadd(keys.deliveries(), delivery.to_fields())
            count += 1
        await pipe.execute()
    return count


@pytest.fixture
async def bot_factory(redis: aioredis.Redis):
    """make(tg) -> an initialized PTB Bot at the fake; all closed at the end."""
    bots = []

    async def make(tg: fake.FakeTelegram):
        bot = make_bot(TOKEN, tg.api_root)
        await bot.initialize()
        bots.append(bot)
        return bot

    yield make
    for bot in bots:
        await bot.shutdown()


def make_sender(redis: aioredis.Redis, bot, consumer: str = "test", **options) -> Sender:
    options.setdefault("retry_base", 0.05)
    options.setdefault("retry_cap", 0.5)
    options.setdefault("lease_ms", 5_000)
    return Sender(DeliveryQueue(redis, consumer), TelegramTransport(bot), **options)


@asynccontextmanager
async def running(*senders: Sender, block_ms: int = 100) -> AsyncIterator[asyncio.Event]:
    """Run senders until the block ends; then stop them as SIGTERM would."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(s.run(stop, block_ms=block_ms)) for s in senders]
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        for sender in senders:
            transport = sender.transport
            if isinstance(transport, TelegramTransport):
                await transport.aclose()


async def wait_until(predicate, within: float = 10.0, what: str = "condition") -> None:
    """Wait for a Redis-side condition (async predicate), re-checked every 20 ms."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.02)  # polling Redis state with a deadline
