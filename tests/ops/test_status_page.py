"""The status page: what it reads from Redis, how it draws it, and that it never shows a
secret."""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import redis.asyncio as aioredis

from ops.http import ReadinessProbes, start_http
from ops.metrics import Metrics
from ops.status_data import RedisStatusSource
from ops.status_page import PostRow, StatusSnapshot, posts_per_hour, render_status_page
from tests.ops.conftest import (
    FEED_FAILING,
    FEED_NEW,
    FEED_OK,
    REDIS_PASSWORD,
    TOKEN,
    make_settings,
    sample_config,
    seed_status,
)


def mid_hour_now() -> float:
    """Half past the current hour, so seeded posts fall clearly inside their hours."""
    return (int(time.time()) // 3600) * 3600 + 1800.0


async def test_snapshot_reads_feeds_channels_queue_and_posts(redis: aioredis.Redis) -> None:
    """The snapshot holds each feed's health, last and next poll, each channel's last post and
    count, the queue with its oldest entry and held posts, and the last posts newest first."""
    now = mid_hour_now()
    await seed_status(redis, now)
    snap = await RedisStatusSource(redis, sample_config(), dry_run=True,
                                   clock=lambda: now).snapshot()
    feeds = {f.url: f for f in snap.feeds}
    assert feeds[FEED_OK].health == "ok" and feeds[FEED_OK].title == "مرصد التحليلات"
    assert feeds[FEED_OK].last_poll == now - 120 and feeds[FEED_OK].next_poll == now + 480
    assert feeds[FEED_FAILING].health == "failing" and feeds[FEED_FAILING].failures == 3
    assert feeds[FEED_FAILING].last_error == "HTTP 503 Service Unavailable"
    assert feeds[FEED_NEW].health == "new" and feeds[FEED_NEW].last_poll is None
    channels = {c.chat: c for c in snap.channels}
    assert channels["@nashir_a"].posts == 41 and channels["@nashir_a"].last_post == now - 60
    assert snap.queue_depth == 3 and abs((snap.queue_oldest_age or 0) - 90) < 1
    assert snap.held == 1 and snap.held_recent[0].chat == "@gone_channel"
    assert "kicked" in snap.held_recent[0].reason
    assert [p.time for p in snap.posts] == sorted((p.time for p in snap.posts), reverse=True)
    assert len(snap.posts) == 6
    assert sum(snap.posts_per_hour) == 5          # the post 36 h ago is outside the day
    assert snap.posts_per_hour[-1] == 3 and snap.posts_per_hour[-6] == 2
    assert snap.mode == "dry-run" and snap.errors == []


def test_posts_per_hour_buckets_by_clock_hour_in_the_timezone() -> None:
    """Posts are counted in clock hours of the configured time zone, the current hour last."""
    tz = ZoneInfo("Asia/Kolkata")  # a half-hour offset: hours do not start on UTC hours
    now = 1_760_000_000.0
    counts, starts = posts_per_hour([now - 10, now - 3600 * 23.2, now - 3600 * 30, now + 5],
                                    now, tz)
    assert len(counts) == 24 and len(starts) == 24
    assert counts[-1] == 1 and sum(counts) == 2
    assert all(b - a == 3600 for a, b in zip(starts, starts[1:], strict=False))
    from datetime import datetime

    assert datetime.fromtimestamp(starts[-1], tz).minute == 0


def test_page_shows_every_section_and_the_chart() -> None:
    """The rendered page has the summary, a 24-bar chart whose bars carry their counts, the
    feeds with health badges, the channels, the queue and the posts with dir=auto lines."""
    now = mid_hour_now()
    snap = StatusSnapshot(generated_at=now, timezone="Asia/Damascus", mode="live",
                          posts_per_hour=[0] * 20 + [1, 0, 4, 2],
                          hour_starts=[now - 1800 - 3600 * (23 - i) for i in range(24)])
    page = render_status_page(snap)
    for section in ("summary", "chart", "feeds", "channels", "queue", "posts"):
        assert f'id="{section}"' in page
    counts = [int(c) for c in re.findall(r'<rect class="bar"[^>]*data-count="(\d+)"', page)]
    assert counts == [0] * 20 + [1, 0, 4, 2]
    assert "<script" not in page.lower()
    assert "Nothing posted yet" in page


async def test_the_page_over_http_masks_secrets_and_forbids_scripts(
        tmp_path: Path, redis: aioredis.Redis, http_started: list[Any]) -> None:
    """GET / shows the state; a token or Redis password that reached Redis (in a feed's last
    error, a post, a held reason) is masked on the page, and the page forbids scripts."""
    now = time.time()
    leaky = f"GET https://api.telegram.org/bot{TOKEN}/getMe failed; redis :{REDIS_PASSWORD}@"
    await seed_status(redis, now, secret_error=leaky)
    await redis.lpush("{nashir}:posts:log",
                      f'{{"chat": "@nashir_a", "html": "{TOKEN}", "time": {now}}}')
    settings = make_settings(tmp_path, token=TOKEN,
                             redis_url=f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0")
    source = RedisStatusSource(redis, sample_config(), dry_run=False)
    server = await start_http(settings, ReadinessProbes.for_clients(redis, None), Metrics(),
                              source)
    http_started.append(server)
    async with aiohttp.ClientSession() as session, session.get(server.url + "/") as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/html")
        policy = answer.headers["Content-Security-Policy"]
        page = await answer.text()
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert TOKEN not in page and TOKEN.split(":")[1] not in page
    assert REDIS_PASSWORD not in page
    assert "***" in page
    assert "مرصد التحليلات" in page and "Broken Weekly" in page
    assert 'dir="auto"' in page


async def test_the_page_still_renders_when_redis_is_down(tmp_path: Path,
                                                         http_started: list[Any]) -> None:
    """With Redis unreachable the page answers 200 with a banner saying so."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_connect_timeout=1,
                                     decode_responses=True)
    try:
        source = RedisStatusSource(client, sample_config(), dry_run=True)
        server = await start_http(make_settings(tmp_path),
                                  ReadinessProbes.for_clients(client, None), Metrics(), source)
        http_started.append(server)
        async with aiohttp.ClientSession() as session, session.get(server.url + "/") as answer:
            assert answer.status == 200
            page = await answer.text()
        assert 'role="alert"' in page and "Redis is unreachable" in page
    finally:
        await client.aclose()


def test_post_cards_show_local_time_with_the_zone_and_keep_blank_lines() -> None:
    """A post card's time is in the config's zone with its name (as the header is), and a
    blank line between blocks stays a visible gap; no column of a table lacks its label for
    the phone layout."""
    when = 1_758_200_000.0  # 2025-09-18 12:53:20 UTC = 15:53 in Damascus (+03)
    snap = StatusSnapshot(generated_at=when + 60, timezone="Asia/Damascus", mode="live",
                          posts=[PostRow(chat="@nashir_a", html="<b>عنوان</b>\n\nفقرة.",
                                         time=when)])
    page = render_status_page(snap)
    assert "2025-09-18 15:53 +03</time>" in page
    assert '<p class="gap"></p>' in page and "p.gap { min-height:1em }" in page
    assert "@media (max-width: 480px)" in page
    assert not re.search(r"<td(?![^>]*data-label)", page)
