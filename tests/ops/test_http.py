"""The operators' endpoints: /healthz, /readyz, /metrics and the bound address."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from ops.http import ReadinessProbes, start_http
from ops.metrics import Metrics
from ops.secrets import redact, safe_url, secrets_of
from store.embedded import EmbeddedRedis
from tests.ops.conftest import REDIS_PASSWORD, TOKEN, make_settings


async def get(url: str) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.get(url) as answer:
        return answer.status, await answer.text(), dict(answer.headers)


class FakeBot:
    """A Bot stand-in whose getMe works or fails the way PTB's does."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls = 0

    async def get_me(self) -> Any:
        self.calls += 1
        if self.error:
            raise self.error
        return type("Me", (), {"username": "nashir_bot"})()


async def test_healthz_answers_and_the_log_line_names_the_bound_port(
        tmp_path: Path, redis: aioredis.Redis, http_started: list[Any],
        caplog: pytest.LogCaptureFixture) -> None:
    """Port 0 binds a free port, `.port` tells it, the start log line states it, and /healthz
    answers 200."""
    caplog.set_level(logging.INFO, logger="ops.http")
    server = await start_http(make_settings(tmp_path), ReadinessProbes.for_clients(redis, None),
                              Metrics(), None)
    http_started.append(server)
    assert server.port > 0
    status, body, _ = await get(f"{server.url}/healthz")
    assert (status, body.strip()) == (200, "ok")
    assert any(f"127.0.0.1:{server.port}" in r.getMessage() for r in caplog.records)


async def test_readyz_follows_redis_down_and_back(tmp_path: Path, http_started: list[Any]) -> None:
    """/readyz is 200 with Redis up (dry-run: Telegram counts as fine), 503 naming Redis when
    the server is gone, and 200 again once it is back."""
    server_redis = EmbeddedRedis(tmp_path / "own-redis")
    server_redis.start()
    client = aioredis.Redis.from_url(server_redis.url, decode_responses=True,
                                     socket_connect_timeout=1, socket_timeout=1)
    try:
        probes = ReadinessProbes.for_clients(client, None, timeout=2)
        server = await start_http(make_settings(tmp_path), probes, Metrics(), None)
        http_started.append(server)

        status, body, _ = await get(f"{server.url}/readyz")
        assert status == 200, body
        assert "redis: ok" in body and "telegram: ok dry-run" in body

        server_redis.stop()
        status, body, _ = await get(f"{server.url}/readyz")
        assert status == 503
        assert body.startswith("not ready")
        assert "redis: FAIL" in body and "Error" in body

        server_redis.start()
        status, body, _ = await get(f"{server.url}/readyz")
        assert status == 200, body
    finally:
        await client.aclose()
        server_redis.stop()


async def test_readyz_reports_telegram_and_never_shows_the_token(
        tmp_path: Path, redis: aioredis.Redis, http_started: list[Any]) -> None:
    """When getMe fails with an error that carries the token (PTB's InvalidToken does), /readyz
    is 503 with the reason, and the token is masked."""
    from telegram.error import InvalidToken

    bot = FakeBot(InvalidToken(f"The token `{TOKEN}` was rejected by the server."))
    probes = ReadinessProbes.for_clients(redis, bot)
    server = await start_http(make_settings(tmp_path, token=TOKEN), probes, Metrics(), None)
    http_started.append(server)
    status, body, _ = await get(f"{server.url}/readyz")
    assert status == 503
    assert "telegram: FAIL InvalidToken" in body
    assert TOKEN not in body and TOKEN.split(":")[1] not in body
    assert "***" in body


async def test_readyz_caches_a_good_getme(tmp_path: Path, redis: aioredis.Redis,
                                          http_started: list[Any]) -> None:
    """Frequent probes do not call getMe each time once it has answered."""
    bot = FakeBot()
    server = await start_http(make_settings(tmp_path, token=TOKEN),
                              ReadinessProbes.for_clients(redis, bot), Metrics(), None)
    http_started.append(server)
    for _ in range(3):
        status, body, _ = await get(f"{server.url}/readyz")
        assert status == 200, body
    assert bot.calls == 1


async def test_metrics_is_prometheus_text_with_every_family(
        tmp_path: Path, redis: aioredis.Redis, http_started: list[Any]) -> None:
    """/metrics parses with prometheus_client's parser and lists every metric the issue asks
    for, with the exposition content type."""
    metrics = Metrics()
    metrics.attach_redis(redis)
    server = await start_http(make_settings(tmp_path), ReadinessProbes.for_clients(redis, None),
                              metrics, None)
    http_started.append(server)
    status, body, headers = await get(f"{server.url}/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    names = {family.name for family in text_string_to_metric_families(body)}
    for expected in ("nashir_feed_polls", "nashir_feed_fetch_duration_seconds",
                     "nashir_new_articles", "nashir_posts_sent", "nashir_posts_failed",
                     "nashir_delivery_queue_depth", "nashir_delivery_queue_oldest_age_seconds",
                     "nashir_rate_limit_waits", "nashir_telegram_429", "nashir_feeds",
                     "nashir_redis_errors", "process_resident_memory_bytes"):
        assert expected in names, expected


async def test_unknown_paths_are_404(tmp_path: Path, redis: aioredis.Redis,
                                     http_started: list[Any]) -> None:
    """Only the four endpoints exist."""
    server = await start_http(make_settings(tmp_path), ReadinessProbes.for_clients(redis, None),
                              Metrics(), None)
    http_started.append(server)
    status, _, _ = await get(f"{server.url}/admin")
    assert status == 404


async def test_a_taken_address_raises(tmp_path: Path, redis: aioredis.Redis,
                                      http_started: list[Any]) -> None:
    """A second listener on the same port fails loudly instead of serving nothing."""
    first = await start_http(make_settings(tmp_path), ReadinessProbes.for_clients(redis, None),
                             Metrics(), None)
    http_started.append(first)
    with pytest.raises(OSError):
        await start_http(make_settings(tmp_path, port=first.port),
                         ReadinessProbes.for_clients(redis, None), Metrics(), None)


def test_secrets_of_covers_the_token_its_halves_and_the_redis_password(tmp_path: Path) -> None:
    """The masked strings include the token, its secret half, URL-encoded forms and the
    password of REDIS_URL; safe_url hides credentials."""
    settings = make_settings(tmp_path, token=TOKEN,
                             redis_url=f"redis://default:{REDIS_PASSWORD}@redis:6379/0")
    secrets = secrets_of(settings)
    text = (f"url /bot{TOKEN}/getMe; encoded {TOKEN.replace(':', '%3A')}; half "
            f"{TOKEN.split(':')[1]}; redis {REDIS_PASSWORD}")
    masked = redact(text, secrets)
    assert TOKEN.split(":")[1] not in masked and REDIS_PASSWORD not in masked
    assert safe_url(f"redis://default:{REDIS_PASSWORD}@redis:6379/0") == "redis://***@redis:6379/0"
    assert safe_url("unix:///tmp/r.sock") == "unix:///tmp/r.sock"
