"""The poll orchestrator: due feed -> fetch -> parse -> new items -> render -> queue.

Side effects stay at the edges (Fetcher for HTTP, Store for Redis); parsing and rendering are
pure and run off the event loop where they are heavy."""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from config.schema import BotConfig, FeedConfig
from delivery.models import Delivery
from feeds.arabic import matches_filters
from feeds.errors import FeedError, FetchErrorKind
from feeds.fetcher import Fetcher
from feeds.models import Article, feed_id_for
from feeds.parser import ParsedFeed, parse_feed
from feeds.schedule import HealthEvent, SchedulePolicy, after_failure, after_success
from formatters.errors import UnrenderableArticle
from formatters.post import render_post
from store.redis_store import Store

logger = logging.getLogger(__name__)

MIN_INTERVAL_S = 60.0


@dataclass(slots=True)
class PollOutcome:
    """What one poll of one feed did."""

    feed_url: str
    status: str                          # new | unchanged | error
    new_articles: int = 0
    queued: int = 0
    error: str = ""
    error_kind: FetchErrorKind | None = None
    retry_after: float | None = None
    max_age: float | None = None
    ttl: float | None = None
    seconds: float = 0.0                 # how long the poll took
    event: HealthEvent | None = None     # broken / gone / recovered, announced once
    skipped: list[str] = field(default_factory=list)


HealthListener = Callable[[FeedConfig, HealthEvent, str], Awaitable[None]]
PollListener = Callable[[PollOutcome], None]


class Poller:
    def __init__(self, config: BotConfig, store: Store, fetcher: Fetcher, *,
                 worker_id: str | None = None,
                 clock: Callable[[], float] = time.time,
                 policy: SchedulePolicy = SchedulePolicy(),
                 on_health: HealthListener | None = None,
                 on_poll: PollListener | None = None) -> None:
        self.config = config
        self.store = store
        self.fetcher = fetcher
        self.worker_id = worker_id or uuid.uuid4().hex[:12]
        self.clock = clock
        self.policy = policy
        self.on_health = on_health
        self.on_poll = on_poll
        self.feeds = {feed_id_for(f.url): f for f in config.feeds}

    async def sync_schedule(self) -> None:
        """Put every configured feed on the schedule (due now if it is new there)."""
        now = self.clock()
        for feed_id in self.feeds:
            await self.store.schedule(feed_id, now, only_if_new=True)
        await self.store.unschedule_except(set(self.feeds))

    async def poll_all(self, concurrency: int = 20) -> list[PollOutcome]:
        """Poll every feed now, whatever its schedule (the `once` command)."""
        slots = asyncio.Semaphore(concurrency)

        async def one(feed: FeedConfig) -> PollOutcome:
            async with slots:
                return await self.poll_feed(feed)

        return list(await asyncio.gather(*(one(f) for f in self.feeds.values() if not f.paused)))

    async def run(self, stop: asyncio.Event, *, lease_s: float = 300.0, batch: int = 50) -> None:
        """Poll feeds as they come due until `stop` is set."""
        await self.sync_schedule()
        running: set[asyncio.Task[None]] = set()
        while not stop.is_set():
            try:
                claimed = await self.store.claim_due(self.worker_id, limit=batch, lease_s=lease_s)
            except Exception as exc:  # Redis away: wait and try again, never exit
                logger.warning("cannot read the schedule (%s); retrying", exc)
                claimed = []
            for feed_id in claimed:
                task = asyncio.create_task(self._poll_claimed(feed_id))
                running.add(task)
                task.add_done_callback(running.discard)
            if not claimed:
                try:
                    await asyncio.wait_for(stop.wait(), 1.0)
                except TimeoutError:
                    pass
        if running:
            await asyncio.gather(*running, return_exceptions=True)

    async def _poll_claimed(self, feed_id: str) -> None:
        feed = self.feeds.get(feed_id)
        if feed is None or feed.paused:
            await self.store.release(feed_id, self.worker_id, self.clock() + 3600)
            return
        _, next_due = await self._poll_and_plan(feed, feed_id)
        await self.store.release(feed_id, self.worker_id, next_due)

    async def poll_feed(self, feed: FeedConfig) -> PollOutcome:
        """Fetch one feed now, queue its new items and plan its next poll; never raises."""
        feed_id = feed_id_for(feed.url)
        outcome, next_due = await self._poll_and_plan(feed, feed_id)
        try:
            await self.store.schedule(feed_id, next_due)
        except Exception as exc:
            logger.warning("could not reschedule (%s)", exc, extra={"feed": feed.url})
        return outcome

    async def _poll_and_plan(self, feed: FeedConfig, feed_id: str) -> tuple[PollOutcome, float]:
        started = time.monotonic()
        try:
            outcome = await self._poll(feed, feed_id)
        except FeedError as exc:
            outcome = PollOutcome(feed.url, "error", error=exc.message, error_kind=exc.kind,
                                  retry_after=getattr(exc, "retry_after", None))
        except Exception as exc:  # one bad feed must never stop the others
            logger.exception("unexpected error polling feed", extra={"feed": feed.url})
            outcome = PollOutcome(feed.url, "error", error=f"internal error: {exc!r}")
        outcome.seconds = time.monotonic() - started
        next_due = self.clock() + max(MIN_INTERVAL_S, feed.interval)
        try:
            next_due = await self._plan(feed, feed_id, outcome)
        except Exception as exc:  # Redis away: the lease expiry brings the feed back anyway
            logger.warning("could not record the poll (%s)", exc, extra={"feed": feed.url})
        if self.on_poll:
            self.on_poll(outcome)
        return outcome, next_due

    async def _plan(self, feed: FeedConfig, feed_id: str, outcome: PollOutcome) -> float:
        state = await self.store.feed_state(feed_id)
        now = self.clock()
        base = max(MIN_INTERVAL_S, feed.interval)
        if outcome.status == "error":
            decision = after_failure(state, now=now, base_interval_s=base,
                                     kind=outcome.error_kind, retry_after_s=outcome.retry_after,
                                     policy=self.policy)
            decision.fields.update(last_error=outcome.error, last_poll=now)
            logger.warning("feed poll failed: %s; next attempt in %.0f s", outcome.error,
                           decision.delay_s, extra={"feed": feed.url})
        else:
            decision = after_success(state, now=now, base_interval_s=base,
                                     new_items=outcome.new_articles, max_age_s=outcome.max_age,
                                     ttl_s=outcome.ttl, policy=self.policy)
        await self.store.update_feed_state(feed_id, {**decision.fields,
                                                     "next_poll": now + decision.delay_s})
        if decision.event is not None:
            outcome.event = decision.event
            logger.warning("feed is now %s: %s", decision.event.value, outcome.error or "ok",
                           extra={"feed": feed.url})
            if self.on_health:
                try:
                    await self.on_health(feed, decision.event, outcome.error)
                except Exception:
                    logger.exception("could not announce the feed's health",
                                     extra={"feed": feed.url})
        return now + decision.delay_s

    async def _poll(self, feed: FeedConfig, feed_id: str) -> PollOutcome:
        state = await self.store.feed_state(feed_id)
        result = await self.fetcher.fetch(
            state.get("current_url") or feed.url, etag=state.get("etag") or None,
            last_modified=state.get("last_modified") or None, trusted=True,
            user_agent=feed.user_agent, headers=feed.headers or None, proxy=feed.proxy,
        )
        now = self.clock()
        validators: dict[str, str | int | float] = {
            "etag": result.etag or "", "last_modified": result.last_modified or "",
            "last_poll": now, "last_error": ""}
        if result.permanent_redirect_to:
            # A permanent redirect moves the feed for good; temporary ones are not stored.
            validators["current_url"] = result.permanent_redirect_to
            logger.info("feed moved permanently to %s", result.permanent_redirect_to,
                        extra={"feed": feed.url})
        if result.body is None or (result.body_hash and result.body_hash == state.get("body_hash")
                                   and state.get("first_polled")):
            await self.store.update_feed_state(feed_id, validators)
            return PollOutcome(feed.url, "unchanged", max_age=result.max_age,
                               ttl=_f(state.get("ttl")))
        parsed: ParsedFeed = await asyncio.to_thread(
            parse_feed, result.body, feed_url=result.url, content_type=result.content_type)
        first_run = not state.get("first_polled")
        outcome = await self._queue_new(feed, feed_id, parsed, first_run=first_run)
        await self.store.update_feed_state(feed_id, {
            **validators, "body_hash": result.body_hash or "", "first_polled": 1,
            "title": parsed.title, "ttl": parsed.ttl_seconds or "",
        })
        outcome.max_age, outcome.ttl = result.max_age, parsed.ttl_seconds
        return outcome

    async def _queue_new(self, feed: FeedConfig, feed_id: str, parsed: ParsedFeed, *,
                         first_run: bool) -> PollOutcome:
        articles = _oldest_first(parsed.articles)
        link_counts = Counter(a.url for a in articles if a.url)
        identities = {a.uid: _identities(a, link_counts) for a in articles}
        all_keys = [key for keys_ in identities.values() for key in keys_]
        seen = await self.store.seen_identities(feed_id, all_keys)
        fresh = [a for a in articles if not seen.intersection(identities[a.uid])]
        to_post = fresh
        if first_run:
            to_post = {"none": [], "latest": fresh[-1:], "all": fresh}[feed.first_run]
        outcome = PollOutcome(feed.url, "new", new_articles=len(fresh))
        first_seen = datetime.fromtimestamp(self.clock(), UTC)
        posting = {a.uid for a in to_post}
        for article in fresh:
            deliveries: list[Delivery | None]
            if article.uid in posting and _wanted(feed, article):
                deliveries = self._render_for_channels(feed, feed_id, article, first_seen, outcome)
            else:
                deliveries = [None]  # mark seen only: old items of a new feed, filtered items
            result = await self.store.queue_article(feed_id, identities[article.uid], deliveries)
            outcome.queued += len(result.queued_chats)
            if result.queued_chats:
                logger.info("queued for %s", ", ".join(result.queued_chats),
                            extra={"feed": feed.url, "article": article.uid})
        return outcome

    def _render_for_channels(self, feed: FeedConfig, feed_id: str, article: Article,
                             first_seen: datetime, outcome: PollOutcome) -> list[Delivery | None]:
        deliveries: list[Delivery | None] = []
        for target in feed.channels:
            channel = self.config.channel(target.chat)
            if channel is None or channel.paused:
                deliveries.append(None)
                continue
            try:
                post = render_post(article, channel, timezone=self.config.timezone,
                                   first_seen=first_seen)
            except UnrenderableArticle as exc:
                logger.warning("skipped: %s", exc, extra={"feed": feed.url, "article": article.uid})
                outcome.skipped.append(f"{article.url or article.uid}: {exc}")
                deliveries.append(None)
                continue
            deliveries.append(Delivery(
                chat=target.chat, topic=target.topic, uid=article.uid, url=article.url,
                html=post.html, feed_id=feed_id, photo_url=post.photo_url,
                preview_url=post.preview_url, language=post.language,
                article_time=(article.published_at or first_seen).timestamp(),
                queued_at=self.clock(),
            ))
        return deliveries or [None]


def _f(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _wanted(feed: FeedConfig, article: Article) -> bool:
    if not feed.include and not feed.exclude:
        return True
    text = " ".join([article.title, " ".join(article.categories), article.content_html])
    return matches_filters(text, feed.include, feed.exclude)


def _oldest_first(articles: tuple[Article, ...]) -> list[Article]:
    # Feeds list newest first; reversing keeps undated items in a sensible order, and the
    # stable sort then orders dated ones by date.
    ordered = list(reversed(articles))
    epoch = datetime.fromtimestamp(0, UTC)
    return sorted(ordered, key=lambda a: a.published_at or epoch) if all(
        a.published_at for a in ordered) else ordered


def _identities(article: Article, link_counts: Counter[str]) -> tuple[str, ...]:
    """The article's identity keys, minus a link shared by several items of the same feed
    (some feeds give every item the home page as link; that link identifies nothing)."""
    keys = article.identity_keys or (article.uid,)
    if not article.url or link_counts[article.url] < 2:
        return keys
    link_keys = {k for k in keys if k != article.uid}
    return tuple(k for k in keys if k not in link_keys) or (article.uid,)
