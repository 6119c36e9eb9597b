"""The poll orchestrator: due feed -> fetch -> parse -> new items -> render -> queue.

Side effects stay at the edges (Fetcher for HTTP, Store for Redis); parsing and rendering are
pure and run off the event loop where they are heavy."""
from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from config.schema import BotConfig, FeedConfig
from delivery.models import Delivery
from feeds.arabic import matches_filters
from feeds.errors import FeedParseError, FetchError
from feeds.fetcher import Fetcher
from feeds.models import Article, feed_id_for
from feeds.parser import ParsedFeed, parse_feed
from formatters.errors import UnrenderableArticle
from formatters.post import render_post
from store.redis_store import Store

logger = logging.getLogger(__name__)

MIN_INTERVAL_S = 60.0
MAX_BACKOFF_S = 6 * 3600.0


@dataclass(slots=True)
class PollOutcome:
    """What one poll of one feed did."""

    feed_url: str
    status: str                          # new | unchanged | error
    new_articles: int = 0
    queued: int = 0
    error: str = ""
    skipped: list[str] = field(default_factory=list)


class Poller:
    def __init__(self, config: BotConfig, store: Store, fetcher: Fetcher, *,
                 worker_id: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.store = store
        self.fetcher = fetcher
        self.worker_id = worker_id or uuid.uuid4().hex[:12]
        self.clock = clock
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
        if feed is None:
            return
        outcome = await self.poll_feed(feed)
        state = await self.store.feed_state(feed_id)
        failures = int(state.get("failures") or 0)
        interval = max(MIN_INTERVAL_S, feed.interval)
        if outcome.status == "error":
            interval = min(MAX_BACKOFF_S, interval * 2 ** min(failures, 10))
            interval *= random.uniform(0.8, 1.2)
        await self.store.release(feed_id, self.worker_id, self.clock() + interval)

    async def poll_feed(self, feed: FeedConfig) -> PollOutcome:
        """Fetch one feed and queue its new items; never raises."""
        feed_id = feed_id_for(feed.url)
        try:
            return await self._poll(feed, feed_id)
        except (FetchError, FeedParseError) as exc:
            return await self._failed(feed, feed_id, str(exc))
        except Exception as exc:  # one bad feed must never stop the others
            logger.exception("unexpected error polling feed", extra={"feed": feed.url})
            return await self._failed(feed, feed_id, f"internal error: {exc!r}")

    async def _failed(self, feed: FeedConfig, feed_id: str, reason: str) -> PollOutcome:
        logger.warning("feed poll failed: %s", reason, extra={"feed": feed.url})
        try:
            state = await self.store.feed_state(feed_id)
            await self.store.update_feed_state(feed_id, {
                "failures": int(state.get("failures") or 0) + 1, "last_error": reason,
                "last_poll": self.clock(),
            })
        except Exception as exc:
            logger.warning("could not record the failure (%s)", exc, extra={"feed": feed.url})
        return PollOutcome(feed.url, "error", error=reason)

    async def _poll(self, feed: FeedConfig, feed_id: str) -> PollOutcome:
        state = await self.store.feed_state(feed_id)
        result = await self.fetcher.fetch(
            feed.url, etag=state.get("etag") or None,
            last_modified=state.get("last_modified") or None, trusted=True,
            user_agent=feed.user_agent, headers=feed.headers or None, proxy=feed.proxy,
        )
        now = self.clock()
        validators = {"etag": result.etag or "", "last_modified": result.last_modified or "",
                      "last_poll": now, "last_ok": now, "failures": 0, "last_error": ""}
        if result.body is None or (result.body_hash and result.body_hash == state.get("body_hash")
                                   and state.get("first_polled")):
            await self.store.update_feed_state(feed_id, validators)
            return PollOutcome(feed.url, "unchanged")
        parsed: ParsedFeed = await asyncio.to_thread(
            parse_feed, result.body, feed_url=result.url, content_type=result.content_type)
        first_run = not state.get("first_polled")
        outcome = await self._queue_new(feed, feed_id, parsed, first_run=first_run)
        await self.store.update_feed_state(feed_id, {
            **validators, "body_hash": result.body_hash or "", "first_polled": 1,
            "title": parsed.title,
        })
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
