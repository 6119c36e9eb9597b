"""One bot replica as its own process, for the updates-lock hand-over test.

    python -m tests.bot.replica   (env: API_ROOT, REDIS_URL, BOT_CONFIG, REPLICA_ID, LOCK_TTL)

It answers commands until SIGTERM, like `main.py run` would; the test kills one with SIGKILL.
"""
from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from bot.app import build_application, run_commands
from bot.updates import UpdatesLock
from config.schema import load_config
from config.settings import Settings
from feeds.fetcher import Fetcher, FetchLimits, make_session
from store.redis_store import connect
from tests.bot.conftest import TOKEN


async def main() -> None:
    settings = Settings(token=TOKEN, api_url=os.environ["API_ROOT"], redis_url=None,
                        config_path=Path(os.environ["BOT_CONFIG"]), data_dir=Path("."),
                        http_host="127.0.0.1", http_port=0, log_format="text")
    config = load_config(settings.config_path)
    redis = await connect(os.environ["REDIS_URL"])
    limits = FetchLimits()
    session = make_session(limits)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        app = build_application(settings, config, redis, Fetcher(session, limits),
                                poll_timeout_s=1)
        lock = UpdatesLock(redis, os.environ["REPLICA_ID"], ttl_s=float(os.environ["LOCK_TTL"]))
        print("ready", flush=True)
        await run_commands(app, stop, lock=lock, poll_timeout_s=1, register=False)
    finally:
        await session.close()
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main())
