"""What the status page shows, read from Redis at one moment (`RedisStatusSource.snapshot`):
feeds with their health and effective interval, channels, the queue, today's fates and the
latest skipped items, the last posts and posts per hour. Drawing is `ops.status_page`."""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from redis.exceptions import RedisError

from guards.urls import display_url, mask_urls_in_text
from model.article import feed_id_for
from ops.metrics import feed_health, queue_state
from store import keys
from store.fates import Fates, totals_by_fate

logger = logging.getLogger(__name__)

POSTS_SHOWN = 20
SKIPS_SHOWN = 20
HOURS = 24


@dataclass(frozen=True, slots=True)
class FeedRow:
    feed_id: str
    url: str
    title: str
    health: str                    # ok | failing | broken | gone | new (ops.metrics.feed_health)
    failures: int
    last_poll: float | None
    last_ok: float | None
    next_poll: float | None
    last_error: str
    channels: tuple[str, ...]
    paused: bool = False
    interval: float = 0.0          # configured seconds between polls
    effective_interval: float = 0.0
    interval_cause: str = ""       # max-age | ttl | retry-after | backoff | rare | ""


@dataclass(frozen=True, slots=True)
class SkipRow:
    """One of the latest skipped items: where, why."""

    chat: str
    url: str
    reason: str
    detail: str
    at: float


@dataclass(frozen=True, slots=True)
class ChannelRow:
    chat: str
    language: str
    posts: int
    last_post: float | None
    paused: bool = False


@dataclass(frozen=True, slots=True)
class PostRow:
    chat: str
    html: str
    time: float
    url: str = ""
    rich: dict[str, Any] | None = None   # a rich message as sent (its payload)


@dataclass(frozen=True, slots=True)
class HeldRow:
    chat: str
    url: str
    reason: str
    held_at: float | None


@dataclass(slots=True)
class StatusSnapshot:
    """Everything the page shows, read at one moment."""

    generated_at: float
    timezone: str = "UTC"
    mode: str = ""                               # "live" or "dry-run"
    feeds: list[FeedRow] = field(default_factory=list)
    channels: list[ChannelRow] = field(default_factory=list)
    queue_depth: int = 0
    queue_oldest_age: float | None = None
    held: int = 0
    held_recent: list[HeldRow] = field(default_factory=list)
    posts: list[PostRow] = field(default_factory=list)    # newest first
    posts_per_hour: list[int] = field(default_factory=lambda: [0] * HOURS)  # oldest hour first
    hour_starts: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    fates_today: dict[str, int] = field(default_factory=dict)           # fate -> count
    reasons_today: dict[tuple[str, str], int] = field(default_factory=dict)
    skipped_recent: list[SkipRow] = field(default_factory=list)        # newest first


def unavailable_snapshot(reason: str) -> StatusSnapshot:
    """A snapshot that only says why nothing could be read."""
    return StatusSnapshot(generated_at=time.time(), errors=[reason])


def posts_per_hour(times: Sequence[float], now: float, tz: ZoneInfo,
                   hours: int = HOURS) -> tuple[list[int], list[float]]:
    """Counts of posts in each of the last `hours` clock hours (the current one last), and the
    start of each hour as unix time."""
    current = datetime.fromtimestamp(now, tz).replace(minute=0, second=0, microsecond=0)
    starts = [(current - timedelta(hours=hours - 1 - i)).timestamp() for i in range(hours)]
    counts = [0] * hours
    for when in times:
        if when < starts[0] or when > now:
            continue
        index = min(hours - 1, int((when - starts[0]) // 3600))
        counts[index] += 1
    return counts, starts


class RedisStatusSource:
    """Reads a StatusSnapshot from Redis; every replica shows the same shared state."""

    def __init__(self, redis: Any, config: Any, *, dry_run: bool,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.config = config
        self.dry_run = dry_run
        self.clock = clock

    def set_config(self, config: Any) -> None:
        """After a config reload."""
        self.config = config

    async def snapshot(self) -> StatusSnapshot:
        now = self.clock()
        snap = StatusSnapshot(generated_at=now, timezone=self.config.timezone,
                              mode="dry-run" if self.dry_run else "live")
        try:
            await self._read(snap, now)
        except (RedisError, OSError) as exc:
            logger.warning("status page: cannot read Redis (%s)", type(exc).__name__)
            snap.errors.append(f"Redis is unreachable ({type(exc).__name__}: {exc}); "
                               "what follows may be incomplete")
        return snap

    async def _config(self) -> Any:
        try:
            from store.registry import effective_config
        except ImportError:
            return self.config
        return await effective_config(self.redis, self.config)

    async def _read(self, snap: StatusSnapshot, now: float) -> None:
        redis = self.redis
        config = await self._config()
        tz = ZoneInfo(config.timezone)
        feeds = list(config.feeds)
        feed_ids = [feed_id_for(f.url) for f in feeds]
        async with redis.pipeline(transaction=False) as pipe:
            for feed_id in feed_ids:
                pipe.hgetall(keys.feed_state(feed_id))
                pipe.zscore(keys.feeds_due(), feed_id)
            for channel in config.channels:
                pipe.hgetall(keys.chat_stats(channel.chat))
            pipe.xrevrange(keys.held(), "+", "-", count=5)
            pipe.lrange(keys.posts_log(), 0, -1)
            pipe.zrangebyscore(keys.post_times(), now - HOURS * 3600, "+inf", withscores=True)
            answers = await pipe.execute()
        position = 0
        for feed, feed_id in zip(feeds, feed_ids, strict=True):
            state, due = answers[position], answers[position + 1]
            position += 2
            snap.feeds.append(FeedRow(
                feed_id=feed_id, url=display_url(feed.url), title=state.get("title") or "",
                health=feed_health(state), failures=_int(state.get("failures")),
                last_poll=_float(state.get("last_poll")), last_ok=_float(state.get("last_ok")),
                next_poll=None if due is None else float(due),
                last_error=mask_urls_in_text(state.get("last_error") or ""),
                channels=tuple(t.chat for t in feed.channels), paused=feed.paused,
                interval=feed.interval, effective_interval=_float(state.get("interval")) or 0.0,
                interval_cause=state.get("interval_cause") or ""))
        for channel in config.channels:
            stats = answers[position]
            position += 1
            snap.channels.append(ChannelRow(
                chat=channel.chat, language=channel.language, posts=_int(stats.get("posts")),
                last_post=_float(stats.get("last_post")), paused=channel.paused))
        held_recent, log, post_times = answers[position:position + 3]
        depth, oldest, held = await queue_state(redis)
        snap.queue_depth, snap.held = depth, held
        if depth and oldest is not None:
            snap.queue_oldest_age = max(0.0, now - oldest)
        for _, fields in held_recent:
            snap.held_recent.append(_held_row(fields))
        records = []
        for raw in log:
            try:
                record = json.loads(raw)
                rich = json.loads(record["rich"]) if record.get("rich") else None
                records.append(PostRow(chat=str(record["chat"]), html=str(record["html"]),
                                       time=float(record["time"]), url=str(record.get("url", "")),
                                       rich=rich if isinstance(rich, dict) else None))
            except (ValueError, KeyError, TypeError):
                continue  # a record of another version: the page shows the rest
        records.sort(key=lambda r: r.time, reverse=True)
        snap.posts = records[:POSTS_SHOWN]
        # From every post's time, not the capped log: the chart misses no post of a busy day.
        snap.posts_per_hour, snap.hour_starts = posts_per_hour(
            [when for _, when in post_times], now, tz)
        fates = Fates(redis)
        midnight = datetime.fromtimestamp(now, tz).replace(hour=0, minute=0, second=0,
                                                           microsecond=0).timestamp()
        snap.reasons_today = await fates.counts_since(midnight, now)
        snap.fates_today = totals_by_fate(snap.reasons_today)
        snap.skipped_recent = [
            SkipRow(chat=r.chat, url=display_url(r.url), reason=r.reason,
                    detail=mask_urls_in_text(r.detail.replace("\x1f", " · ")), at=r.at)
            for r in await fates.latest_skipped(SKIPS_SHOWN)]


def _held_row(fields: dict[str, str]) -> HeldRow:
    chat = url = ""
    try:
        data = json.loads(fields.get("d", "{}"))
        chat, url = str(data.get("chat", "")), str(data.get("url", ""))
    except ValueError:
        pass
    return HeldRow(chat=chat, url=display_url(url),
                   reason=mask_urls_in_text(fields.get("reason", "")),
                   held_at=_float(fields.get("held_at")))


def _int(value: Any) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0


def _float(value: Any) -> float | None:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if result > 0 else None
