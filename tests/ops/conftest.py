"""Fixtures for the operators' side: settings, a seeded Redis, the HTTP listener."""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from config.schema import parse_config
from config.settings import Settings
from model.article import feed_id_for
from store import keys

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"

TOKEN = "7012345678:AAE-TopSecretTokenPartForTests_xyz123"
REDIS_PASSWORD = "s3cr3t-redis-pa55"

FEED_OK = "https://example.org/ar/feed.xml"
FEED_FAILING = "https://broken.example.net/rss"
FEED_NEW = "https://new.example.com/atom.xml"


def make_settings(tmp_path: Path, *, token: str | None = None, redis_url: str | None = None,
                  port: int = 0, api_url: str = "https://api.telegram.org") -> Settings:
    return Settings(token=token, api_url=api_url, redis_url=redis_url,
                    config_path=tmp_path / "bot.yaml", data_dir=tmp_path / "data",
                    http_host="127.0.0.1", http_port=port, log_format="json")


def sample_config() -> Any:
    return parse_config({
        "timezone": "Asia/Damascus",
        "channels": [{"chat": "@nashir_a", "language": "ar"},
                     {"chat": "-1001000000002", "language": "en"}],
        "feeds": [
            {"url": FEED_OK, "channels": ["@nashir_a"]},
            {"url": FEED_FAILING, "channels": ["@nashir_a", "-1001000000002"]},
            {"url": FEED_NEW, "channels": ["-1001000000002"]},
        ],
    })


ARABIC_POST = ('<b>تحليل: قراءة في تقرير IMF لعام 2025</b>\n'
               'الخميس 18 أيلول 2025\n'
               'ارتفعت النسبة إلى 28% في الربع الثالث، وفق التقرير.\n'
               '<a href="https://example.org/ar/1">اقرأ المقال</a>')
ENGLISH_POST = ('<b>Analysis: the 2025 IMF report</b>\n'
                'Thursday 18 September 2025\n'
                'The share rose to 28% in the third quarter.\n'
                '<a href="https://example.org/en/1">Read the article</a>')


async def seed_status(redis: aioredis.Redis, now: float, *, secret_error: str = "") -> None:
    """A believable shared state: three feeds (ok, failing, never polled), two channels, a
    queue of three posts (the oldest 90 s old), one held post and a day of posts."""
    ok_id, failing_id, new_id = (feed_id_for(u) for u in (FEED_OK, FEED_FAILING, FEED_NEW))
    await redis.hset(keys.feed_state(ok_id), mapping={
        "title": "مرصد التحليلات", "health": "ok", "failures": 0, "last_ok": now - 120,
        "last_poll": now - 120})
    await redis.hset(keys.feed_state(failing_id), mapping={
        "title": "Broken Weekly", "health": "failing", "failures": 3, "last_ok": now - 7200,
        "last_poll": now - 300,
        "last_error": secret_error or "HTTP 503 Service Unavailable"})
    await redis.zadd(keys.feeds_due(), {ok_id: now + 480, failing_id: now + 900,
                                        new_id: now - 5})
    await redis.hset(keys.chat_stats("@nashir_a"), mapping={"last_post": now - 60, "posts": 41})
    await redis.hset(keys.chat_stats("-1001000000002"), mapping={"last_post": now - 3 * 3600,
                                                                 "posts": 7})
    # The queue: one post routed to its chat's queue (queued 90 s ago), two still in the intake.
    oldest_ms = int((now - 90) * 1000)
    for n in range(3):
        payload = json.dumps({"chat": "@nashir_a", "uid": f"u{n}", "url": f"https://e.org/{n}",
                              "html": "x"})
        entry_id = f"{oldest_ms + n * 1000}-0"
        if n == 0:
            await redis.hset(keys.delivery_items(), entry_id, payload)
        else:
            await redis.xadd(keys.deliveries(), {"d": payload}, id=entry_id)
    await redis.xadd(keys.held(), {"d": json.dumps({"chat": "@gone_channel", "uid": "h1",
                                                    "url": "https://e.org/held"}),
                                   "reason": "Forbidden: bot was kicked from the channel chat",
                                   "held_at": str(now - 600)})
    # Posts: 3 in the current hour, 2 five hours ago, 1 a day and a half ago (not charted).
    times = [now - 60, now - 120, now - 180, now - 5 * 3600, now - 5 * 3600 - 60, now - 36 * 3600]
    for index, when in enumerate(sorted(times)):
        html = ARABIC_POST if index % 2 == 0 else ENGLISH_POST
        chat = "@nashir_a" if index % 2 == 0 else "-1001000000002"
        await redis.lpush(keys.posts_log(), json.dumps(
            {"chat": chat, "html": html, "time": when, "url": "https://example.org/x",
             "message_id": index + 1, "language": "ar" if index % 2 == 0 else "en"},
            ensure_ascii=False))
        await redis.zadd(keys.post_times(), {f"entry-{index}": when})


async def wait_until(predicate: Callable[[], Awaitable[bool] | bool], *, within: float = 10.0,
                     interval: float = 0.02, what: str = "condition") -> None:
    """Poll `predicate` until it is true or the deadline passes (no fixed sleeps)."""
    deadline = time.monotonic() + within
    while True:
        result = predicate()
        if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
            result = await result  # type: ignore[misc]
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {within} s")
        await asyncio.sleep(interval)


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
async def http_started() -> AsyncIterator[list[Any]]:
    """Collects started servers and stops them at the end of the test."""
    servers: list[Any] = []
    yield servers
    for server in servers:
        await server.stop()

