"""Shared fixtures for the feed tests: the corpus of real feeds, a running FeedServer and a
poller rig over it (a real Redis), with the helpers the poller tests share."""
from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from config.schema import BotConfig, parse_config
from feeds.fetcher import Fetcher, FetchLimits, make_session
from feeds.parser import ParsedFeed, parse_feed
from model.article import feed_id_for
from model.delivery import Delivery
from pipeline.poller import Poller
from store import keys
from store.redis_store import Store
from tests.fakes.feed_server import FeedItem, FeedServer
from tests.support import SHARED, shared_missing

# The corpus lives beside the repository (../shared/corpus from the repo root) and is never
# copied into it.
CORPUS = SHARED / "corpus"


@pytest.fixture
def corpus() -> Path:
    """The shared corpus directory; skips the test when it is not there."""
    if not (CORPUS / "INDEX.tsv").is_file():
        pytest.skip(shared_missing(CORPUS / "INDEX.tsv", "the corpus of real feeds"))
    return CORPUS


@pytest.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    """A FeedServer on 127.0.0.1, closed after the test."""
    async with FeedServer() as srv:
        yield srv


# -- a poller over the feed server (test_poller, test_fates) ----------------------------------

LIMITS = FetchLimits(connect_timeout=2, read_timeout=2, total_timeout=5)
BASE = datetime(2025, 9, 18, 9, 0, tzinfo=UTC)
CHAT_A, CHAT_B = "@nashir_a", "-1001000000002"


def item(n: int, *, guid: str | None = None, link: str | None = None, title: str | None = None,
         summary: str | None = None, hours: int | None = None,
         categories: tuple[str, ...] = ()) -> FeedItem:
    return FeedItem(
        guid=guid if guid is not None else f"item-{n}",
        title=title if title is not None else f"تحليل رقم {n}: قراءة في تقرير صندوق النقد",
        link=link if link is not None else f"https://example.org/analysis/{n}",
        published=BASE + timedelta(hours=n if hours is None else hours),
        summary_html=summary if summary is not None else f"<p>فقرة التحليل رقم {n}.</p>",
        categories=categories,
    )


class CountingParse:
    """parse_feed, counting its calls (it runs in worker threads)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self._lock = threading.Lock()

    def __call__(self, body: bytes, *, feed_url: str, content_type: str = "") -> ParsedFeed:
        with self._lock:
            self.bodies.append(body)
        return parse_feed(body, feed_url=feed_url, content_type=content_type)

    @property
    def calls(self) -> int:
        return len(self.bodies)


@dataclass
class Clock:
    now: float = 1_760_000_000.0

    def __call__(self) -> float:
        return self.now


class Rig:
    """A poller over a FeedServer and a real Redis, with the parts tests look at."""

    def __init__(self, redis: aioredis.Redis, server: FeedServer, fetcher: Fetcher) -> None:
        self.redis, self.server, self.fetcher = redis, server, fetcher
        self.store = Store(redis)
        self.parse = CountingParse()
        self.clock = Clock()

    def config(self, feeds: list[dict[str, Any]], **extra: Any) -> BotConfig:
        channels = extra.pop("channels", [{"chat": CHAT_A}, {"chat": CHAT_B}])
        return parse_config({"channels": channels, "feeds": feeds, **extra})

    def feed(self, path: str, chats: tuple[str, ...] = (CHAT_A,), **options: Any) -> dict:
        return {"url": self.server.url(path), "channels": list(chats), **options}

    def poller(self, config: BotConfig, **options: Any) -> Poller:
        options.setdefault("clock", self.clock)
        options.setdefault("parse", self.parse)
        return Poller(config, self.store, self.fetcher, **options)

    async def deliveries(self) -> list[Delivery]:
        return [Delivery.from_fields(fields)
                for _, fields in await self.redis.xrange(keys.deliveries())]

    async def posted(self, chat: str) -> list[str]:
        return [d.uid for d in await self.deliveries() if d.chat == chat and d.kind == "post"]

    async def state(self, url: str) -> dict[str, str]:
        return await self.redis.hgetall(keys.feed_state(feed_id_for(url)))

    async def due(self, url: str) -> float:
        score = await self.redis.zscore(keys.feeds_due(), feed_id_for(url))
        assert score is not None
        return float(score)


@pytest.fixture
async def rig(redis: aioredis.Redis, feed_server: FeedServer) -> AsyncIterator[Rig]:
    async with make_session(LIMITS) as session:
        yield Rig(redis, feed_server, Fetcher(session, LIMITS))
