"""A poll worker as its own process, for the lease tests: the real Poller.run against a config
file and a Redis, until SIGTERM (or SIGKILL).

    python -m tests.feeds.poll_runner --redis URL --config FILE --worker ID [--lease S]

Its requests carry the User-Agent `nashir-test/<worker>`, so a feed server can tell workers
apart. It prints `ready` once it is connected.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from config.schema import load_config
from feeds.fetcher import Fetcher, FetchLimits, make_session
from pipeline.poller import Poller
from store.redis_store import Store, connect


async def serve(args: argparse.Namespace) -> None:
    config = load_config(Path(args.config))
    redis = await connect(args.redis)
    limits = FetchLimits(connect_timeout=5, read_timeout=10, total_timeout=20,
                         user_agent=f"nashir-test/{args.worker}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with make_session(limits) as session:
        poller = Poller(config, Store(redis), Fetcher(session, limits), worker_id=args.worker,
                        concurrency=args.concurrency)
        print("ready", flush=True)
        await poller.run(stop, lease_s=args.lease)
    await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--worker", required=True)
    parser.add_argument("--lease", type=float, default=300.0)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"{args.worker} %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
