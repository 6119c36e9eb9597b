"""Prometheus metrics: what the pipeline did (counted in this process) and what Redis holds
(read at scrape time, so every replica reports the same shared queue and feed health).

Every label value comes from a small fixed set (poll results, failure classes, health classes):
free text such as Telegram's error messages never becomes a label, so no secret, chat title or
URL can reach /metrics, and the number of series stays bounded.

    metrics = Metrics()
    metrics.attach_redis(redis)              # scrape-time gauges read this client
    metrics.instrument_redis(redis)          # count failed Redis commands
    Poller(..., on_poll=metrics.record_poll)
    sender = Sender(..., on_outcome=metrics.record_send)
    metrics.attach_sender(sender)            # 429s, rate-limit waits from sender.stats

Sources: polls and sends are counted from the poller's `PollOutcome` and the sender's
`SendOutcome` callbacks; Telegram's 429s, the waits for the shared rate limits and the sender's
Redis errors are read from `Sender.stats` (the sender counts them where they happen); queue,
held posts and feed health are read from Redis when /metrics is asked.
"""
from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from store import keys

logger = logging.getLogger(__name__)

# The classic text format every Prometheus (and most scrapers) reads; it is also what
# prometheus-client's own server answers a plain GET with.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

POLL_RESULTS = ("new", "unchanged", "error")
FAILURE_REASONS = ("forbidden", "chat_not_found", "refused", "flood_wait", "network", "other")
FEED_HEALTH = ("ok", "failing", "broken", "gone", "new")
WAIT_SOURCES = ("limiter", "telegram")

# For feed states written before the poller kept a `health` field: "broken" after this many
# failed polls in a row.
BROKEN_AFTER_FAILURES = 5

_FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def feed_health(state: Mapping[str, Any]) -> str:
    """One word for a feed's state hash: its `health` field (ok | failing | broken | gone, kept
    by feeds.schedule), else derived from failures; "new" when it was never polled."""
    health = state.get("health")
    if health in FEED_HEALTH:
        return str(health)
    try:
        failures = int(float(state.get("failures") or 0))
    except (TypeError, ValueError):
        failures = 0
    if failures >= BROKEN_AFTER_FAILURES:
        return "broken"
    if failures > 0:
        return "failing"
    if not state.get("last_ok") and not state.get("last_poll"):
        return "new"
    return "ok"


def failure_reason(status: str, reason: str) -> str:
    """A fixed class for a send that did not go out, from SendOutcome's status and its
    free-text reason. `held` posts are kept aside; `retry` ones go again later."""
    text = (reason or "").lower()
    if status == "retry":
        return "flood_wait" if "flood" in text or "retry after" in text else "network"
    if status != "held":
        return "other"
    if any(word in text for word in ("forbidden", "kicked", "blocked", "not enough rights",
                                     "deactivated", "not a member")):
        return "forbidden"
    if "chat not found" in text:
        return "chat_not_found"
    return "refused"


def stream_id_time(entry_id: str) -> float:
    """Unix time of a Redis stream entry id ("<ms>-<seq>")."""
    return int(str(entry_id).split("-", 1)[0]) / 1000.0


class _SenderCounters(Collector):
    """Counters the sender keeps itself (`Sender.stats`), summed over the senders of this
    process, plus what other code reported through Metrics.record_*."""

    def __init__(self) -> None:
        self.sources: list[Any] = []
        self.own_429 = 0
        self.own_waits = dict.fromkeys(WAIT_SOURCES, 0)
        self.own_wait_seconds = dict.fromkeys(WAIT_SOURCES, 0.0)
        self.own_redis_errors: dict[str, int] = {}

    def _sum(self, name: str) -> float:
        return sum(float(getattr(stats, name, 0) or 0) for stats in self.sources)

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily("nashir_telegram_429",
                                  "Too Many Requests answers (RetryAfter) from Telegram.",
                                  value=self.own_429 + self._sum("retry_after_waits"))
        waits = CounterMetricFamily(
            "nashir_rate_limit_waits",
            "Sends that waited for a rate limit: our shared Redis limits (limiter) or "
            "Telegram's RetryAfter (telegram).", labels=["source"])
        seconds = CounterMetricFamily("nashir_rate_limit_wait_seconds",
                                      "Seconds sends waited for rate limits, by source.",
                                      labels=["source"])
        waits.add_metric(["limiter"], self.own_waits["limiter"] + self._sum("rate_limit_waits"))
        waits.add_metric(["telegram"], self.own_waits["telegram"] +
                         self._sum("retry_after_waits"))
        seconds.add_metric(["limiter"], self.own_wait_seconds["limiter"] +
                           self._sum("rate_limit_wait_seconds"))
        seconds.add_metric(["telegram"], self.own_wait_seconds["telegram"] +
                           self._sum("retry_after_seconds"))
        yield waits
        yield seconds
        yield CounterMetricFamily("nashir_telegram_global_pauses",
                                  "429s taken as the bot's overall limit (every chat paused).",
                                  value=self._sum("global_pauses"))
        errors = CounterMetricFamily("nashir_redis_errors",
                                     "Redis commands that failed (connection, timeout, error), "
                                     "by where they happened.", labels=["where"])
        counts = dict(self.own_redis_errors)
        counts["sender"] = counts.get("sender", 0) + int(self._sum("redis_errors"))
        for where in sorted(set(counts) | {"command", "metrics", "sender"}):
            errors.add_metric([where], counts.get(where, 0))
        yield errors


class _RichCounters(Collector):
    """Rich messages (channels with `format: rich`): what the rich transport and the article
    pages did (`delivery.rich_transport.RichStats`, `pipeline.rich_pages.RichPages.stats`)."""

    KINDS = ("unsupported", "refused", "media", "remembered")
    CAUSES = ("page", "fetch_failed", "not_an_article", "shorter", "no_link")

    def __init__(self) -> None:
        self.sources: list[Any] = []
        self.pages: list[Mapping[str, int]] = []

    def collect(self) -> Iterator[CounterMetricFamily]:
        results = CounterMetricFamily(
            "nashir_rich_messages", "Rich messages, by result: sent, edited, photo_dropped "
            "(sent without the photo the chat refused), edit_refused.", labels=["result"])
        for result, name in (("sent", "sent"), ("edited", "edited"),
                             ("photo_dropped", "photos_dropped"),
                             ("edit_refused", "edits_refused")):
            results.add_metric([result], sum(getattr(s, name, 0) for s in self.sources))
        yield results
        fallbacks = CounterMetricFamily(
            "nashir_rich_fallbacks", "Rich deliveries sent as the HTML summary, by why: "
            "unsupported (older Bot API), refused (a limit), media (a media right), "
            "remembered (the chat refused one earlier).", labels=["kind"])
        for kind in self.KINDS:
            fallbacks.add_metric([kind], sum(s.fallbacks.get(kind, 0) for s in self.sources))
        yield fallbacks
        bodies = CounterMetricFamily(
            "nashir_rich_bodies", "Where rich messages' bodies came from: the article's page, "
            "or the feed's content because the page failed (by cause).", labels=["source"])
        for cause in self.CAUSES:
            bodies.add_metric([cause], sum(p.get(cause, 0) for p in self.pages))
        yield bodies


class Metrics:
    """The bot's metrics, in a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None, *,
                 clock: Callable[[], float] = time.time, process_metrics: bool = True) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.clock = clock
        self.redis: Any = None
        r = self.registry
        if process_metrics:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
        self.polls = Counter("nashir_feed_polls", "Feed polls, by result.", ["result"],
                             registry=r)
        # Why polls failed (a FetchErrorKind: blocked_address is a feed added by command that
        # now points inside the network, refused on that poll).
        self.poll_errors = Counter("nashir_feed_poll_errors", "Failed feed polls, by kind.",
                                   ["kind"], registry=r)
        self.poll_seconds = Histogram(
            "nashir_feed_fetch_duration_seconds",
            "Time to poll one feed: fetch, parse and queue its new items.", ["result"],
            buckets=_FETCH_BUCKETS, registry=r)
        self.new_articles = Counter("nashir_new_articles", "Articles seen for the first time.",
                                    registry=r)
        self.queued = Counter("nashir_posts_queued",
                              "Posts queued for delivery (one per article per channel).",
                              registry=r)
        self.sent = Counter("nashir_posts_sent", "Posts Telegram (or the preview) accepted.",
                            registry=r)
        self.edited = Counter("nashir_posts_edited",
                              "Earlier posts edited because their article changed.", registry=r)
        self.failed = Counter(
            "nashir_posts_failed",
            "Sends that did not go out, by reason: held (forbidden, chat_not_found, refused: "
            "kept aside) or retried later (flood_wait, network).", ["reason"], registry=r)
        self.possible_duplicates = Counter(
            "nashir_posts_possible_duplicate",
            "Posts sent after an attempt whose answer was lost (the contract's one window "
            "where a post can appear twice).", registry=r)
        self.duplicates = Counter(
            "nashir_posts_duplicate_skipped",
            "Queued posts not sent because a sent record showed they had gone out already.",
            registry=r)
        self.fates = Counter(
            "nashir_article_fates",
            "What became of articles, one per article per chat, by fate (queued, posted, "
            "held, skipped, failed) and reason (docs/fates.md).", ["fate", "reason"],
            registry=r)
        self.sender_counters = _SenderCounters()
        r.register(self.sender_counters)
        self.rich_counters = _RichCounters()
        r.register(self.rich_counters)
        self.queue_depth = Gauge("nashir_delivery_queue_depth",
                                 "Posts waiting to be sent, all replicas (intake stream plus "
                                 "the chats' queues; held posts excluded).", registry=r)
        self.queue_oldest = Gauge("nashir_delivery_queue_oldest_age_seconds",
                                  "Age of the oldest post waiting to be sent; 0 when none.",
                                  registry=r)
        self.held = Gauge("nashir_delivery_held",
                          "Posts kept aside because they could not be delivered.", registry=r)
        self.feeds = Gauge("nashir_feeds", "Scheduled feeds, by health.", ["health"], registry=r)
        self.scrape_ok = Gauge("nashir_redis_scrape_ok",
                               "1 if the last scrape could read Redis, else 0.", registry=r)
        for result in POLL_RESULTS:
            self.polls.labels(result)
        for reason in FAILURE_REASONS:
            self.failed.labels(reason)
        for health in FEED_HEALTH:
            self.feeds.labels(health)

    # -- events, called by the pipeline ------------------------------------------------------
    def record_poll(self, outcome: Any, seconds: float | None = None) -> None:
        """Count one poll (a pipeline.poller.PollOutcome) and how long it took (default: the
        outcome's own `seconds`); fits Poller(on_poll=...)."""
        result = outcome.status if outcome.status in POLL_RESULTS else "error"
        if seconds is None:
            seconds = float(getattr(outcome, "seconds", 0.0) or 0.0)
        self.polls.labels(result).inc()
        if result == "error":
            kind = getattr(outcome, "error_kind", None)
            self.poll_errors.labels(str(kind.value) if kind is not None else "internal").inc()
        self.poll_seconds.labels(result).observe(max(0.0, seconds))
        if outcome.new_articles:
            self.new_articles.inc(outcome.new_articles)
        if outcome.queued:
            self.queued.inc(outcome.queued)
        for (fate, reason), count in getattr(outcome, "fates", {}).items():
            self.fates.labels(fate, reason).inc(count)

    def record_send(self, outcome: Any) -> None:
        """Count one model.delivery.SendOutcome; fits Sender(on_outcome=...)."""
        status = outcome.status
        if status == "sent":
            self.sent.inc()
            if not outcome.delivery.is_edit:
                self.fates.labels("posted", "").inc()
        elif status == "edited":
            self.edited.inc()
        elif status == "duplicate":
            self.duplicates.inc()
        elif status in ("held", "retry"):
            self.failed.labels(failure_reason(status, outcome.reason)).inc()
        # "migrated": the post moves to the group's new id and is sent from there; not an end.
        if getattr(outcome, "possible_duplicate", False):
            self.possible_duplicates.inc()

    def record_rate_limit_wait(self, seconds: float, source: str = "limiter") -> None:
        """A send outside the Sender waited `seconds` for a rate limit."""
        source = source if source in WAIT_SOURCES else "limiter"
        self.sender_counters.own_waits[source] += 1
        self.sender_counters.own_wait_seconds[source] += max(0.0, seconds)

    def record_429(self, retry_after: float) -> None:
        """Telegram answered 429 to a call outside the Sender (a reply, a check)."""
        self.sender_counters.own_429 += 1
        self.record_rate_limit_wait(retry_after, "telegram")

    def record_redis_error(self, where: str) -> None:
        errors = self.sender_counters.own_redis_errors
        errors[where] = errors.get(where, 0) + 1

    # -- hooks -------------------------------------------------------------------------------
    def record_fates(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Count articles' fates decided outside a poll (delivery: held, failed, released)."""
        for (fate, reason), count in counts.items():
            self.fates.labels(fate, reason).inc(count)

    def attach_sender(self, sender: Any) -> None:
        """Read this sender's own counters (`sender.stats`) at every scrape, and count the
        fates it decides (held, failed, released; posted comes with its outcome)."""
        stats = getattr(sender, "stats", None)
        if stats is not None:
            self.sender_counters.sources.append(stats)
        if hasattr(sender, "on_fates"):
            sender.on_fates = self.record_fates
        rich = getattr(getattr(sender, "transport", None), "stats", None)
        if rich is not None and hasattr(rich, "fallbacks"):
            self.rich_counters.sources.append(rich)

    def attach_rich_pages(self, poller: Any) -> None:
        """Count where this poller's rich messages took their bodies from."""
        pages = getattr(getattr(poller, "articles", None), "pages", None)
        if pages is not None:
            self.rich_counters.pages.append(pages.stats)

    def instrument_redis(self, redis: Any, where: str = "command") -> None:
        """Count failing commands of this client (pipelines are counted by their callers)."""
        original = redis.execute_command

        @functools.wraps(original)
        async def execute_command(*args: Any, **options: Any) -> Any:
            try:
                return await original(*args, **options)
            except (RedisError, OSError):
                self.record_redis_error(where)
                raise

        redis.execute_command = execute_command

    def attach_redis(self, redis: Any) -> None:
        """The client the scrape-time gauges read from."""
        self.redis = redis

    # -- scrape ------------------------------------------------------------------------------
    async def refresh(self) -> None:
        """Read queue depth, oldest entry, held posts and feed health from Redis."""
        if self.redis is None:
            return
        try:
            await self._refresh(self.redis)
        except (RedisError, OSError) as exc:
            self.scrape_ok.set(0)
            self.record_redis_error("metrics")
            logger.warning("metrics: cannot read Redis (%s)", type(exc).__name__)
        else:
            self.scrape_ok.set(1)

    async def _refresh(self, redis: Any) -> None:
        depth, oldest_time, held = await queue_state(redis)
        self.queue_depth.set(depth)
        self.held.set(held)
        self.queue_oldest.set(max(0.0, self.clock() - oldest_time) if oldest_time else 0.0)
        feed_ids = await redis.zrange(keys.feeds_due(), 0, -1)
        counts = dict.fromkeys(FEED_HEALTH, 0)
        for start in range(0, len(feed_ids), 500):
            chunk = feed_ids[start:start + 500]
            async with redis.pipeline(transaction=False) as pipe:
                for feed_id in chunk:
                    pipe.hmget(keys.feed_state(feed_id), "health", "failures", "last_ok",
                               "last_poll")
                states = await pipe.execute()
            for health, failures, last_ok, last_poll in states:
                counts[feed_health({"health": health, "failures": failures,
                                    "last_ok": last_ok, "last_poll": last_poll})] += 1
        for health, count in counts.items():
            self.feeds.labels(health).set(count)

    async def render(self) -> bytes:
        """The Prometheus text exposition, after refreshing the Redis-backed gauges."""
        await self.refresh()
        return generate_latest(self.registry)


async def queue_state(redis: Any) -> tuple[int, float | None, int]:
    """(posts waiting, unix time the oldest of them was queued or None, posts held).

    Waiting posts are in the intake stream (not yet routed) and, once routed, in the items
    hash keyed by their original stream entry id, which still tells when they were queued."""
    items_key = getattr(keys, "delivery_items", None)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.xlen(keys.deliveries())
        pipe.xrange(keys.deliveries(), "-", "+", count=1)
        pipe.xlen(keys.held())
        if items_key is not None:
            pipe.hkeys(items_key())
        answers = await pipe.execute()
    intake, first, held = int(answers[0]), answers[1], int(answers[2])
    routed_ids = answers[3] if items_key is not None else []
    times = [stream_id_time(_entry_id(first[0]))] if first else []
    times += [stream_id_time(entry_id) for entry_id in routed_ids if "-" in str(entry_id)]
    return intake + len(routed_ids), (min(times) if times else None), held


def _entry_id(entry: Any) -> str:
    entry_id = entry[0] if isinstance(entry, (list, tuple)) else entry
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
