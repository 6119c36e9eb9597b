"""Leases across processes: real poll workers (tests/feeds/poll_runner.py) against the local
feed server and a real Redis. No two workers poll one feed at once, and a feed whose worker was
killed mid-poll is taken over by another worker once the lease runs out."""
from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from model.article import feed_id_for
from store import keys
from tests.fakes.feed_server import FeedItem, FeedServer
from tests.support import REPO, write_config

CHAT = "@nashir_a"


class Workers:
    """Poll worker processes, killed at the end of the test whatever happens."""

    def __init__(self, redis_url: str, config: Path) -> None:
        self.redis_url, self.config = redis_url, config
        self.processes: list[asyncio.subprocess.Process] = []

    async def start(self, worker: str, *, lease: float) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.feeds.poll_runner", "--redis", self.redis_url,
            "--config", str(self.config), "--worker", worker, "--lease", str(lease),
            cwd=str(REPO), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        self.processes.append(process)
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert line.strip() == b"ready", line
        return process

    async def close(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.kill()
            await process.wait()


@pytest.fixture
async def workers(tmp_path: Path, redis_url: str) -> AsyncIterator[Workers]:
    pool = Workers(redis_url, tmp_path / "bot.yaml")
    try:
        yield pool
    finally:
        await pool.close()


def _config(path: Path, server: FeedServer, paths: list[str]) -> None:
    write_config(path, {"channels": [{"chat": CHAT}], "feeds": [
        {"url": server.url(p), "channels": [CHAT], "first_run": "all", "interval": "1h"}
        for p in paths]})


async def _until(check: Callable[[], object], what: str, within: float = 30.0) -> None:
    """Wait (with a deadline) until `check()` is true; it may be a coroutine function."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_killed_workers_feed_is_taken_over_after_the_lease(
        redis: aioredis.Redis, feed_server: FeedServer, workers: Workers) -> None:
    """Worker A is SIGKILLed while its request is in flight; worker B, running meanwhile,
    leaves the feed alone while A's lease lasts and polls it once the lease is over. The feed
    never has two requests at once, and its item is queued once."""
    feed_server.add_feed("/slow.xml", items=[FeedItem(guid="1", title="مقال أول",
                                                      link="https://example.org/1")])
    feed_server.delay("/slow.xml", 1.0)
    _config(workers.config, feed_server, ["/slow.xml"])
    a = await workers.start("a", lease=3)
    await _until(lambda: feed_server.in_flight("/slow.xml") == 1, "worker a's request")
    lease = keys.feed_lease(feed_id_for(feed_server.url("/slow.xml")))
    assert await redis.get(lease) == "a"
    await workers.start("b", lease=3)
    a.kill()
    await a.wait()
    await feed_server.wait_for_hits("/slow.xml", 2, within=30)
    await _until(lambda: redis.xlen(keys.deliveries()), "the item to be queued")
    await _until(lambda: feed_server.in_flight("/slow.xml") == 0, "b's request to finish")
    requests = feed_server.requests_for("/slow.xml")
    assert [r.headers["User-Agent"] for r in requests] == ["nashir-test/a", "nashir-test/b"]
    assert feed_server.max_concurrent("/slow.xml") == 1

    async def released() -> bool:
        return await redis.get(lease) is None

    await _until(released, "b to release its lease")
    assert await redis.xlen(keys.deliveries()) == 1


async def test_two_workers_share_feeds_without_polling_one_twice(
        redis: aioredis.Redis, feed_server: FeedServer, workers: Workers) -> None:
    """Two live workers claim from one schedule: every feed is polled exactly once, never by
    both at once, and both workers do part of the work."""
    paths = [f"/f{n}.xml" for n in range(24)]
    for n, path in enumerate(paths):
        feed_server.add_feed(path, items=[FeedItem(guid=f"g{n}", title=f"مقال {n}",
                                                   link=f"https://example.org/{n}")])
        feed_server.delay(path, 0.3)
    _config(workers.config, feed_server, paths)
    # Due a moment from now, so both workers are up when the feeds come due.
    due = time.time() + 3
    await redis.zadd(keys.feeds_due(),
                     {feed_id_for(feed_server.url(p)): due for p in paths})
    await asyncio.gather(workers.start("a", lease=60), workers.start("b", lease=60))

    async def all_queued() -> bool:
        return await redis.xlen(keys.deliveries()) >= len(paths)

    await _until(all_queued, "every feed's item to be queued")
    for path in paths:
        assert feed_server.hits(path) == 1 and feed_server.max_concurrent(path) == 1
    agents = {r.headers["User-Agent"] for r in feed_server.requests}
    assert agents == {"nashir-test/a", "nashir-test/b"}
