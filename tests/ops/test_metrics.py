"""Metric values move as polls and sends are recorded, and the Redis-backed gauges read the
shared queue and feed states at scrape time."""
from __future__ import annotations

import time

import pytest
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from model.delivery import Delivery, SendOutcome
from ops.metrics import Metrics, failure_reason, feed_health
from pipeline.types import PollOutcome
from tests.ops.conftest import TOKEN, seed_status


def value(metrics: Metrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def delivery() -> Delivery:
    return Delivery(chat="@nashir_a", uid="u1", url="https://example.org/1", html="<b>x</b>")


def test_polls_count_by_result_with_latency_and_new_articles() -> None:
    """record_poll counts polls by result, observes their duration and adds new articles and
    queued posts; an unknown status counts as an error."""
    metrics = Metrics(process_metrics=False)
    metrics.record_poll(PollOutcome("https://a", "new", new_articles=3, queued=6), 0.4)
    metrics.record_poll(PollOutcome("https://a", "unchanged"), 0.05)
    metrics.record_poll(PollOutcome("https://b", "error", error="HTTP 500"), 2.0)
    outcome = PollOutcome("https://c", "weird")
    outcome.seconds = 1.5
    metrics.record_poll(outcome)  # the outcome's own duration
    assert value(metrics, "nashir_feed_polls_total", result="new") == 1
    assert value(metrics, "nashir_feed_polls_total", result="unchanged") == 1
    assert value(metrics, "nashir_feed_polls_total", result="error") == 2
    assert value(metrics, "nashir_new_articles_total") == 3
    assert value(metrics, "nashir_posts_queued_total") == 6
    assert value(metrics, "nashir_feed_fetch_duration_seconds_count", result="error") == 2
    assert value(metrics, "nashir_feed_fetch_duration_seconds_sum", result="error") == 3.5
    assert value(metrics, "nashir_feed_fetch_duration_seconds_bucket", result="new",
                 le="0.5") == 1


def test_sends_count_sent_failed_by_reason_and_duplicates() -> None:
    """record_send counts sent posts, failures by a fixed reason class (held or retried),
    skipped duplicates and possible duplicates; a migration is no failure; free-text reasons
    never become label values."""
    metrics = Metrics(process_metrics=False)
    metrics.record_send(SendOutcome(delivery(), "sent", message_id=1))
    metrics.record_send(SendOutcome(delivery(), "sent", message_id=2, possible_duplicate=True))
    metrics.record_send(SendOutcome(delivery(), "held",
                                    reason="Forbidden: bot was kicked from the channel chat"))
    metrics.record_send(SendOutcome(delivery(), "held", reason="Bad Request: chat not found"))
    metrics.record_send(SendOutcome(delivery(), "held", reason=f"token {TOKEN} odd error"))
    metrics.record_send(SendOutcome(delivery(), "retry", reason="flood wait 7 s"))
    metrics.record_send(SendOutcome(delivery(), "retry", reason="Timed out"))
    metrics.record_send(SendOutcome(delivery(), "migrated", reason="moved to -100777"))
    metrics.record_send(SendOutcome(delivery(), "duplicate", reason="already sent"))
    assert value(metrics, "nashir_posts_sent_total") == 2
    assert value(metrics, "nashir_posts_possible_duplicate_total") == 1
    assert value(metrics, "nashir_posts_failed_total", reason="forbidden") == 1
    assert value(metrics, "nashir_posts_failed_total", reason="chat_not_found") == 1
    assert value(metrics, "nashir_posts_failed_total", reason="refused") == 1
    assert value(metrics, "nashir_posts_failed_total", reason="flood_wait") == 1
    assert value(metrics, "nashir_posts_failed_total", reason="network") == 1
    assert value(metrics, "nashir_posts_failed_total", reason="other") == 0
    assert value(metrics, "nashir_posts_duplicate_skipped_total") == 1
    from prometheus_client import generate_latest

    text = generate_latest(metrics.registry).decode()
    assert TOKEN not in text and TOKEN.split(":")[1] not in text


def test_sender_counters_are_read_from_sender_stats() -> None:
    """429s, waits for the shared limits and for Telegram, global pauses and the sender's
    Redis errors come from Sender.stats at scrape time, added to what others reported."""
    from delivery.sender import SenderStats

    stats = SenderStats()
    sender = type("S", (), {"stats": stats})()
    metrics = Metrics(process_metrics=False)
    metrics.attach_sender(sender)
    assert value(metrics, "nashir_telegram_429_total") == 0
    stats.retry_after_waits, stats.retry_after_seconds = 2, 14.0
    stats.rate_limit_waits, stats.rate_limit_wait_seconds = 5, 1.25
    stats.global_pauses, stats.redis_errors = 1, 3
    metrics.record_429(3)
    metrics.record_rate_limit_wait(0.5)
    assert value(metrics, "nashir_telegram_429_total") == 3
    assert value(metrics, "nashir_rate_limit_waits_total", source="telegram") == 3
    assert value(metrics, "nashir_rate_limit_wait_seconds_total", source="telegram") == 17
    assert value(metrics, "nashir_rate_limit_waits_total", source="limiter") == 6
    assert value(metrics, "nashir_rate_limit_wait_seconds_total", source="limiter") == 1.75
    assert value(metrics, "nashir_telegram_global_pauses_total") == 1
    assert value(metrics, "nashir_redis_errors_total", where="sender") == 3


async def test_failing_redis_commands_are_counted() -> None:
    """Commands of an instrumented client that fail (Redis unreachable) count as Redis errors,
    and a scrape that cannot read Redis says so instead of failing."""
    import socket

    from redis.exceptions import ConnectionError as RedisConnectionError

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_connect_timeout=1)
    metrics = Metrics(process_metrics=False)
    metrics.instrument_redis(client)
    metrics.attach_redis(client)
    try:
        with pytest.raises(RedisConnectionError):
            await client.get("x")
        assert value(metrics, "nashir_redis_errors_total", where="command") == 1
        text = (await metrics.render()).decode()
        assert value(metrics, "nashir_redis_errors_total", where="metrics") == 1
        assert value(metrics, "nashir_redis_scrape_ok") == 0
        list(text_string_to_metric_families(text))
    finally:
        await client.aclose()


async def test_queue_depth_oldest_age_held_and_feed_health_come_from_redis(
        redis: aioredis.Redis) -> None:
    """At scrape time the queue depth counts the intake stream and the routed items, the
    oldest age comes from the oldest entry id among both, and feeds are counted by the health
    in their state hashes."""
    now = time.time()
    await seed_status(redis, now)
    metrics = Metrics(process_metrics=False, clock=lambda: now)
    metrics.attach_redis(redis)
    await metrics.refresh()
    assert value(metrics, "nashir_delivery_queue_depth") == 3
    assert value(metrics, "nashir_delivery_queue_oldest_age_seconds") == pytest.approx(90, abs=1)
    assert value(metrics, "nashir_delivery_held") == 1
    assert value(metrics, "nashir_feeds", health="ok") == 1
    assert value(metrics, "nashir_feeds", health="failing") == 1
    assert value(metrics, "nashir_feeds", health="new") == 1
    assert value(metrics, "nashir_redis_scrape_ok") == 1

    await redis.delete("{nashir}:deliveries", "{nashir}:deliveries:items")
    await metrics.refresh()
    assert value(metrics, "nashir_delivery_queue_depth") == 0
    assert value(metrics, "nashir_delivery_queue_oldest_age_seconds") == 0


def test_health_and_failure_classes() -> None:
    """Feed health prefers the poller's own field and falls back to counting failures; send
    failures map onto a fixed set of reasons."""
    assert feed_health({"health": "gone", "failures": "9"}) == "gone"
    assert feed_health({"failures": "7"}) == "broken"
    assert feed_health({"failures": "1"}) == "failing"
    assert feed_health({"failures": "0", "last_ok": "1"}) == "ok"
    assert feed_health({}) == "new"
    assert failure_reason("held", "Forbidden: bot is not a member") == "forbidden"
    assert failure_reason("held", "Bad Request: message is too long") == "refused"
    assert failure_reason("retry", "") == "network"
    assert failure_reason("retry", "flood wait 30 s") == "flood_wait"
