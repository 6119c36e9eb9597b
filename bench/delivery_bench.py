"""Delivery throughput against the strict fake Bot API with Telegram's limits switched on.

    python bench/delivery_bench.py [--quick]

Scenarios, each with one sender and with two replicas (two Sender instances, separate consumers,
one Redis) sharing the limits:

* fan-out: one post to 1,000 private chats; the bound is the overall limit (30 messages/s);
* channel: 200 posts to one channel; the bound is the per-channel limit. Telegram's is 20 per
  minute; to finish in seconds the bench scales both per-chat windows down 15 times (channel:
  20 per 4 s; chat: 3 per 0.2 s), in the fake and in our limits alike.

For each it prints the achieved rate as a fraction of the limit: the shortest span the limit
allows for n messages (the k-th message can go at floor(k / N) * W) divided by the span
measured at the fake between the first and the last accepted message; the 429s the fake
answered; and p50/p95 of the time from queueing to Telegram's answer.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Run as a script: make the checkout importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis.asyncio as aioredis

from delivery.queue import DeliveryQueue
from delivery.ratelimit import RateLimits
from delivery.sender import Sender
from delivery.telegram_client import make_bot
from delivery.telegram_transport import TelegramTransport
from model.delivery import Delivery, SendOutcome
from sandbox.telegram_api import FakeTelegram
from sandbox.telegram_api import RateLimits as FakeLimits
from store import keys
from store.embedded import EmbeddedRedis
from tests.scratch_redis import BENCH_REDIS_VARIABLE, require_empty

TOKEN = "777:bench"
CHANNEL = -1009000000001


@dataclass
class Result:
    name: str
    replicas: int
    messages: int
    fraction: float
    rate: float
    limit_rate: float
    rate_limited: int
    p50: float
    p95: float
    duplicates: int
    per_replica: list[int]


def ideal_span(n: int, windows: list[tuple[int, float]]) -> float:
    """The shortest time from the first to the n-th message that every (count, window) limit
    allows: each message goes as early as all the sliding windows let it."""
    times: list[float] = []
    for k in range(n):
        t = 0.0
        for count, window in windows:
            if k >= count:
                t = max(t, times[k - count] + window)
        times.append(t)
    return times[-1] - times[0]


async def scenario(name: str, redis: aioredis.Redis, fake_limits: FakeLimits, ours: RateLimits,
                   chats: list[int], posts_per_chat: int, replicas: int, *,
                   channel: bool, bound: list[tuple[int, float]]) -> Result:
    await redis.flushdb()
    async with FakeTelegram(token=TOKEN, rate_limits=fake_limits) as tg:
        for chat in chats:
            if channel:
                tg.add_chat(chat, "channel")
            else:
                tg.add_user(chat)
        bots = [make_bot(TOKEN, tg.api_root) for _ in range(replicas)]
        for bot in bots:
            await bot.initialize()
        latencies: list[float] = []

        def record(outcome: SendOutcome) -> None:
            if outcome.status == "sent":
                latencies.append(outcome.answered_at - outcome.delivery.queued_at)

        senders = [Sender(DeliveryQueue(redis, f"bench-{i}"), TelegramTransport(bot),
                          limits=ours, on_outcome=record)
                   for i, bot in enumerate(bots)]
        total = len(chats) * posts_per_chat
        now = time.time()
        async with redis.pipeline(transaction=False) as pipe:
            for n in range(posts_per_chat):
                for chat in chats:
                    delivery = Delivery(chat=str(chat), uid=f"post-{n}", url=f"https://e.org/{n}",
                                        html=f"<b>تحليل {n}</b>\nنص التحليل", queued_at=now,
                                        article_time=1_758_186_000.0 + n)
                    pipe.xadd(keys.deliveries(), delivery.to_fields())
            await pipe.execute()
        stop = asyncio.Event()
        tasks = [asyncio.create_task(s.run(stop, block_ms=200)) for s in senders]
        await tg.wait_for(lambda: len(tg.messages) >= total, timeout=600)
        stop.set()
        await asyncio.gather(*tasks)
        for sender in senders:
            await sender.transport.aclose()  # type: ignore[attr-defined]
        for bot in bots:
            await bot.shutdown()
        times = sorted(m.time for m in tg.messages)
        span = times[-1] - times[0]
        per_window, window = bound[0]
        seen = {(m.chat_id, m.html) for m in tg.messages}
        latencies.sort()
        return Result(
            name=name, replicas=replicas, messages=len(tg.messages),
            fraction=ideal_span(total, bound) / span if span else 0.0,
            rate=(total - 1) / span if span else 0.0, limit_rate=per_window / window,
            rate_limited=len(tg.rate_limited),
            p50=statistics.median(latencies),
            p95=latencies[int(0.95 * (len(latencies) - 1))],
            duplicates=len(tg.messages) - len(seen),
            per_replica=[s.stats.sent for s in senders])


def show(result: Result) -> None:
    print(f"{result.name:<34} replicas={result.replicas}  messages={result.messages:>5}  "
          f"rate={result.rate:6.2f}/s (limit {result.limit_rate:.2f}/s)  "
          f"fraction={result.fraction:.3f}  429s={result.rate_limited}  "
          f"p50={result.p50:6.2f} s  p95={result.p95:6.2f} s  duplicates={result.duplicates}  "
          f"per replica={result.per_replica}", flush=True)


async def main(quick: bool) -> int:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        # Each scenario flushes the database: never REDIS_URL (someone's real data); an
        # external server only when named for benches and empty.
        url = os.environ.get(BENCH_REDIS_VARIABLE, "").strip()
        server = None
        if url:
            require_empty(url, BENCH_REDIS_VARIABLE)
        else:
            server = EmbeddedRedis(Path(tmp))
            server.start()
            url = server.url
        redis = aioredis.Redis.from_url(url, decode_responses=True)
        try:
            fan_chats = list(range(10_001, 10_001 + (300 if quick else 1000)))
            channel_posts = 60 if quick else 200
            fanout_fake = FakeLimits()                     # Telegram's: 30/s overall
            fanout_ours = RateLimits()
            channel_fake = FakeLimits(chat_per_second=15.0, chat_burst=3,
                                      group_per_minute=20, group_window=4.0)
            channel_ours = RateLimits(chat_per_second=15.0, chat_burst=3,
                                      group_per_minute=20, group_window=4.0)
            print(f"fan-out: {len(fan_chats)} private chats, limit 30 messages/s overall")
            print(f"channel: {channel_posts} posts to one channel, limit 20 per 4 s "
                  "(Telegram: 20 per 60 s; scaled 15x for the bench)")
            results = []
            for replicas in (1, 2):
                result = await scenario("fan-out 1 post -> chats", redis, fanout_fake,
                                        fanout_ours, fan_chats, 1, replicas, channel=False,
                                        bound=[(30, 1.0)])
                show(result)
                results.append(result)
                result = await scenario("channel burst", redis, channel_fake, channel_ours,
                                        [CHANNEL], channel_posts, replicas, channel=True,
                                        bound=[(20, 4.0), (3, 0.2)])
                show(result)
                results.append(result)
        finally:
            await redis.aclose()
            if server is not None:
                server.stop()
    return 0 if all(r.duplicates == 0 for r in results) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    sys.exit(asyncio.run(main(parser.parse_args().quick)))
