"""The worker split by roles and reloaded by SIGHUP, as real processes: a poller-only and a
sender-only process share one Redis and deliver a feed end to end; each one's /metrics shows
its side of the work; a SIGHUP adds a feed without a restart."""
from __future__ import annotations

import asyncio
import json
import re
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from sandbox.telegram_api import FakeTelegram
from tests.fakes.feed_server import FeedItem, FeedServer
from tests.ops.conftest import wait_until
from tests.support import bot_env, start_bot, write_config

TOKEN = "123456:TEST-roles-and-reload"
CHANNEL = -1001000000001
BASE_TIME = datetime(2025, 9, 18, 9, 0, tzinfo=UTC)


def item(n: int) -> FeedItem:
    return FeedItem(guid=f"item-{n}", title=f"تحليل رقم {n}: قراءة في تقرير 2025",
                    link=f"https://example.org/analysis/{n}",
                    published=BASE_TIME + timedelta(hours=n),
                    summary_html=f"<p>هذه فقرة التحليل رقم {n}.</p>")


class Bot:
    """A running `main.py run` whose stderr (JSON log lines) is collected as it comes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            try:
                self.lines.append(json.loads(raw))
            except ValueError:
                self.lines.append({"message": raw.decode(errors="replace")})

    def messages(self) -> list[str]:
        return [line.get("message", "") for line in self.lines]

    async def port(self) -> int:
        await wait_until(lambda: any("HTTP listening" in m for m in self.messages()),
                         within=30, what="the HTTP listener")
        line = next(m for m in self.messages() if "HTTP listening" in m)
        return int(re.search(r":(\d+) ", line).group(1))  # type: ignore[union-attr]

    async def metric(self, name: str, **labels: str) -> float:
        from prometheus_client.parser import text_string_to_metric_families

        async with aiohttp.ClientSession() as session, \
                session.get(f"http://127.0.0.1:{await self.port()}/metrics") as answer:
            text = await answer.text()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v
                                               for k, v in labels.items()):
                    return sample.value
        return 0.0

    async def stop(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), 40)
        await self.reader
        return code


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        fake.add_chat(CHANNEL, type="channel", username="nashir_a", title="A")
        yield fake


@pytest.fixture
async def feeds() -> AsyncIterator[FeedServer]:
    async with FeedServer() as server:
        yield server


def config(feed_urls: list[str]) -> dict:
    return {"timezone": "Asia/Damascus", "channels": [{"chat": "@nashir_a", "language": "ar"}],
            "feeds": [{"url": url, "channels": ["@nashir_a"], "first_run": "all",
                       "interval": "1m"} for url in feed_urls]}


async def test_a_poller_and_a_sender_process_deliver_a_feed(
        tmp_path: Path, redis_url: str, redis: aioredis.Redis, telegram: FakeTelegram,
        feeds: FeedServer) -> None:
    """A `--roles poller` process queues the feed's items and sends nothing; a `--roles sender`
    process started later sends them, each once; each one's /metrics counts its own side."""
    feeds.add_feed("/a.xml", title="مرصد", items=[item(1), item(2), item(3)])
    path = write_config(tmp_path / "bot.yaml", config([feeds.url("/a.xml")]))
    poller = Bot(await start_bot("run", "--roles", "poller", env=bot_env(
        config=path, data_dir=tmp_path / "poller", api_root=telegram.api_root, token=TOKEN,
        redis_url=redis_url)))
    sender = None
    try:
        async def queued() -> int:
            from ops.metrics import queue_state

            return (await queue_state(redis))[0]

        await wait_until(lambda: _ge(queued(), 3), within=60, what="3 posts queued")
        assert telegram.messages == []
        assert await poller.metric("nashir_feed_polls_total", result="new") >= 1
        assert await poller.metric("nashir_new_articles_total") == 3
        assert await poller.metric("nashir_delivery_queue_depth") == 3

        sender = Bot(await start_bot("run", "--roles", "sender", env=bot_env(
            config=path, data_dir=tmp_path / "sender", api_root=telegram.api_root,
            token=TOKEN, redis_url=redis_url)))
        await telegram.wait_for(lambda: len(telegram.messages) >= 3, timeout=60)
        await wait_until(lambda: _ge(sender.metric("nashir_posts_sent_total"), 3), within=20,
                         what="the sender's metrics")
        assert await sender.metric("nashir_feed_polls_total", result="new") == 0
        assert await poller.metric("nashir_posts_sent_total") == 0
        assert await queued() == 0
    finally:
        codes = [await poller.stop()] + ([await sender.stop()] if sender else [])
    titles = [m.text.split("\n", 1)[0] for m in telegram.messages]
    assert len(titles) == 3 and len(set(titles)) == 3
    assert codes == [0, 0]
    assert any("running as poller:" in m for m in poller.messages())


async def test_sighup_adds_a_feed_without_a_restart(
        tmp_path: Path, redis_url: str, redis: aioredis.Redis, telegram: FakeTelegram,
        feeds: FeedServer) -> None:
    """After the config file gains a feed and the process gets SIGHUP, the new feed's item is
    posted by the same process, and one log line names the change."""
    feeds.add_feed("/a.xml", title="A", items=[item(1)])
    feeds.add_feed("/b.xml", title="B", items=[item(7)])
    path = write_config(tmp_path / "bot.yaml", config([feeds.url("/a.xml")]))
    bot = Bot(await start_bot("run", env=bot_env(
        config=path, data_dir=tmp_path / "data", api_root=telegram.api_root, token=TOKEN,
        redis_url=redis_url)))
    try:
        await telegram.wait_for(lambda: len(telegram.messages) >= 1, timeout=60)
        write_config(path, config([feeds.url("/a.xml"), feeds.url("/b.xml")]))
        bot.process.send_signal(signal.SIGHUP)
        await telegram.wait_for(lambda: len(telegram.messages) >= 2, timeout=60)
    finally:
        code = await bot.stop()
    assert code == 0
    assert "٧" in telegram.messages[1].text or "7" in telegram.messages[1].text
    reloaded = [m for m in bot.messages() if m.startswith("config reloaded")]
    assert len(reloaded) == 1 and f"feed added: {feeds.url('/b.xml')}" in reloaded[0]


async def _ge(value: object, minimum: float) -> bool:
    return (await value) >= minimum  # type: ignore[misc]
