"""Shared fixtures: a real Redis (embedded, or REDIS_URL when set), flushed for each test."""
from __future__ import annotations

import os

# python-telegram-bot 22 warns on int retry_after (an error under filterwarnings=error); the bot
# opts in to timedelta the same way in main.py.
os.environ.setdefault("PTB_TIMEDELTA", "true")

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from store.embedded import EmbeddedRedis
from tests.support import SHARED, shared_missing

REPO = Path(__file__).resolve().parents[1]
CORPUS = SHARED / "corpus"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_URL when the environment names a server; otherwise our embedded one."""
    external = os.environ.get("REDIS_URL", "").strip()
    if external:
        yield external
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(shared_missing(CORPUS, "the corpus of real feeds"))
    return CORPUS
