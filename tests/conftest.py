"""Shared fixtures: a real Redis of the tests' own (see tests/scratch_redis.py), flushed for
each test."""
from __future__ import annotations

import os

# REDIS_URL in the runner's shell names someone's real data: nothing in this process, nor any
# bot or tool the tests start (which inherit the environment), may see it.
os.environ.pop("REDIS_URL", None)

# python-telegram-bot 22 warns on int retry_after (an error under filterwarnings=error); the bot
# opts in to timedelta the same way in main.py.
os.environ.setdefault("PTB_TIMEDELTA", "true")

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from store.embedded import EmbeddedRedis
from tests.scratch_redis import TEST_REDIS_VARIABLE, ForeignDataError, require_empty
from tests.support import SHARED, shared_missing

REPO = Path(__file__).resolve().parents[1]
CORPUS = SHARED / "corpus"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An embedded server started for this session in a temporary folder; or the server
    NASHIR_TEST_REDIS_URL names, only when its database is empty (the tests flush it)."""
    external = os.environ.get(TEST_REDIS_VARIABLE, "").strip()
    if external:
        try:
            require_empty(external, TEST_REDIS_VARIABLE)
        except ForeignDataError as exc:
            pytest.exit(str(exc), returncode=pytest.ExitCode.USAGE_ERROR)
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
    """A client of the session's own Redis, emptied for this test."""
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
