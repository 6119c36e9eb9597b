"""A sender process for the crash tests (started, killed and restarted by them):

    python -m tests.delivery.kill_runner REDIS_URL API_ROOT TOKEN CONSUMER LIMITS_JSON

Runs one Sender until SIGTERM, as `main.py run` would, with short leases so a restart takes
over a killed run's chats quickly.
"""
from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys

import redis.asyncio as aioredis

from delivery.queue import DeliveryQueue
from delivery.ratelimit import RateLimits
from delivery.sender import Sender
from delivery.telegram_client import make_bot
from delivery.telegram_transport import TelegramTransport

CONCURRENCY = 4
LEASE_MS = 1_000


async def main(redis_url: str, api_root: str, token: str, consumer: str, limits: str) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    bot = make_bot(token, api_root)
    await bot.initialize()
    transport = TelegramTransport(bot)
    sender = Sender(DeliveryQueue(redis, consumer), transport, concurrency=CONCURRENCY,
                    lease_ms=LEASE_MS, limits=RateLimits(**json.loads(limits)),
                    retry_base=0.05, retry_cap=0.5)
    print("ready", flush=True)
    try:
        await sender.run(stop, block_ms=100)
    finally:
        await transport.aclose()
        await bot.shutdown()
        await redis.aclose()
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    sys.exit(asyncio.run(main(*sys.argv[1:6])))
