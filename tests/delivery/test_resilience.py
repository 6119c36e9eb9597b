"""Crashes and outages: a sender process killed with SIGKILL at random moments and restarted,
over and over; Redis stopped and started again in the middle of delivery."""
from __future__ import annotations

import asyncio
import json
import random
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from delivery.queue import DeliveryQueue
from sandbox.telegram_api import FakeTelegram
from sandbox.telegram_api import RateLimits as FakeLimits
from store import keys
from store.embedded import EmbeddedRedis
from tests.delivery import kill_runner
from tests.delivery.conftest import (
    TOKEN,
    limits_for,
    make_sender,
    post,
    queue_all,
    running,
)

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

REPO = Path(__file__).resolve().parents[2]
QUICK = FakeLimits(chat_per_second=20.0, chat_burst=20, group_per_minute=100, group_window=1.0,
                   overall_per_second=150)


async def start_runner(redis_url: str, tg: FakeTelegram, consumer: str
                       ) -> asyncio.subprocess.Process:
    limits = json.dumps({"overall_per_second": QUICK.overall_per_second,
                         "chat_per_second": QUICK.chat_per_second,
                         "chat_burst": QUICK.chat_burst,
                         "group_per_minute": QUICK.group_per_minute,
                         "group_window": QUICK.group_window})
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.delivery.kill_runner", redis_url, tg.api_root, TOKEN,
        consumer, limits, cwd=str(REPO), stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)


async def recorded_keys(redis: aioredis.Redis) -> set[str]:
    return {key async for key in redis.scan_iter(match=keys.sent("*", "*"), count=1000)}


async def test_sigkill_at_random_moments_loses_nothing_and_repeats_only_sends_in_flight(
        redis_url: str, redis: aioredis.Redis) -> None:
    """300 posts to 30 chats; the sender process is SIGKILLed six times at random points and
    restarted. Every post arrives (no loss), each chat in article order; the only second
    copies are of sends Telegram had taken when the process died (at most the sender's
    concurrency per kill); the last run exits 0 on SIGTERM."""
    rng = random.Random(20250918)
    chats = list(range(11_001, 11_031))
    expected = {(chat, post(chat, n).html) for chat in chats for n in range(10)}
    async with FakeTelegram(token=TOKEN, rate_limits=QUICK) as tg:
        for chat in chats:
            tg.add_user(chat)
        queue = DeliveryQueue(redis, "setup")
        await queue.ensure_group()
        await queue_all(queue, [post(chat, n) for n in range(10) for chat in chats])

        def delivered() -> int:
            return len({(m.chat_id, m.html) for m in tg.messages})

        uid_of = {(chat, post(chat, n).html): post(chat, n).uid
                  for chat in chats for n in range(10)}
        kills, unrecorded = 0, []
        for round_ in range(6):
            first = len(tg.messages)
            process = await start_runner(redis_url, tg, f"runner-{round_}")
            target = min(len(expected), delivered() + rng.randint(5, 45))
            await tg.wait_for(lambda target=target: delivered() >= target, timeout=30)
            if delivered() == len(expected):
                process.send_signal(signal.SIGTERM)
                await process.wait()
                break
            process.kill()
            await process.wait()
            kills += 1
            # Accepted by Telegram in this run but not recorded: what a restart will send again.
            # Only this run's sends count against this kill: on a busy machine a run can die
            # before it re-sends what an earlier kill left unrecorded.
            recorded = await recorded_keys(redis)
            unrecorded.append(sum(
                keys.sent(str(m.chat_id), uid_of[(m.chat_id, m.html)]) not in recorded
                for m in tg.messages[first:]))
        process = await start_runner(redis_url, tg, "runner-last")
        await tg.wait_for(lambda: delivered() == len(expected), timeout=60)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 20) == 0

    received = Counter((m.chat_id, m.html) for m in tg.messages)
    duplicates = sum(received.values()) - len(received)
    print(f"\nkills={kills} unrecorded at each kill={unrecorded} duplicates={duplicates}")
    assert set(received) == expected                        # no loss
    assert kills >= 3
    assert all(n <= kill_runner.CONCURRENCY for n in unrecorded)
    assert duplicates <= sum(unrecorded) <= kills * kill_runner.CONCURRENCY
    for chat in chats:
        firsts = list(dict.fromkeys(m.html for m in tg.messages if m.chat_id == chat))
        assert firsts == [post(chat, n).html for n in range(10)]
    assert await DeliveryQueue(redis, "check").depth() == 0


async def test_redis_restart_during_delivery_loses_and_repeats_nothing(
        tmp_path: Path, bot_factory) -> None:
    """Redis is stopped mid-delivery and started again (append-only file): the sender waits
    and reconnects without exiting, and every post arrives exactly once."""
    server = EmbeddedRedis(tmp_path)
    server.start()
    client = aioredis.Redis.from_url(server.url, decode_responses=True)
    limits = FakeLimits(chat_per_second=5.0, chat_burst=5, group_per_minute=100,
                        group_window=1.0, overall_per_second=30)
    try:
        async with FakeTelegram(token=TOKEN, rate_limits=limits) as tg:
            chats = list(range(12_001, 12_021))
            for chat in chats:
                tg.add_user(chat)
            sender = make_sender(client, await bot_factory(tg), limits=limits_for(limits),
                                 lease_ms=10_000)
            await queue_all(sender.queue, [post(chat, n) for n in range(3) for chat in chats])
            async with running(sender):
                await tg.wait_for_messages(15, timeout=20)
                server.stop()
                await tg.wait_for(lambda: sender.stats.redis_errors > 0 or len(tg.messages) >= 60,
                                  timeout=10)
                errors_seen = sender.stats.redis_errors
                server.start()
                await tg.wait_for_messages(60, timeout=30)
            received = Counter((m.chat_id, m.html) for m in tg.messages)
            assert len(received) == 60 and max(received.values()) == 1
            assert errors_seen > 0
            assert await sender.queue.depth() == 0
    finally:
        await client.aclose()
        server.stop()
