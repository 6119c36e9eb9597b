"""The bot the command fuzzing talks to: the real Application against the strict fake Bot API
(fixtures of tests/bot), with feeds to act on and no command limit to hit."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.services import CommandLimiter
from tests.bot.conftest import NEWS_CHAT, REVIEW, Harness, pages, start_bot, tg  # noqa: F401

FEEDS = [{"url": "https://example.org/declared.xml", "channels": [NEWS_CHAT]},
         {"url": "https://example.org/review.xml", "channels": [NEWS_CHAT], "mode": "review"}]


@pytest.fixture
async def fuzz_bot(start_bot, redis) -> AsyncIterator[Harness]:  # noqa: F811
    """One running bot for all the examples of a test."""
    async with start_bot(limiter=CommandLimiter(redis, limit=10**9), review_chat=REVIEW,
                         feeds=FEEDS) as harness:
        yield harness
