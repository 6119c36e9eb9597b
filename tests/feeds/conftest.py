"""Shared fixtures for the feed tests: the corpus of real feeds and a running FeedServer."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.feed_server import FeedServer
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
