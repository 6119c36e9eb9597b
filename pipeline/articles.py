"""A feed's parsed items, the rest of the way: identify -> dedupe -> filter -> review or render
-> enqueue -> subscriber copies; and edits of posted messages for items changed since."""
from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from config.schema import BotConfig, FeedConfig
from delivery.queue import DeliveryQueue
from feeds.parser import ParsedFeed
from formatters.errors import UnrenderableArticle
from model.article import Article
from model.delivery import Delivery
from model.post import Language
from pipeline.identity import identities, oldest_first, story_fingerprint, wanted
from pipeline.render import delivery_of, in_language, render_for
from pipeline.types import EditQueue, PollOutcome, ReviewInbox, SubscriberHook
from store import keys
from store.redis_store import CHANGED, NEW, ArticleToQueue, QueueOutcome, Store

logger = logging.getLogger(__name__)


class ArticleRouter:
    """Takes one feed's parsed items from identity to the queue. `config` is the effective
    config (the poller replaces it when feeds or channels change)."""

    def __init__(self, config: BotConfig, store: Store, *, clock: Callable[[], float],
                 worker_id: str, review: ReviewInbox | None = None,
                 subscribers: SubscriberHook | None = None, edits: EditQueue | None = None,
                 fingerprint_window_s: float = keys.FINGERPRINT_WINDOW_S) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.worker_id = worker_id
        self.review = review
        self.subscribers = subscribers
        self.edits = edits
        self.fingerprint_window_s = fingerprint_window_s

    async def route(self, feed: FeedConfig, feed_id: str, parsed: ParsedFeed, *,
                    first_run: bool, items: int | None, partial: bool) -> PollOutcome:
        """Queue the new items of one poll; queue edits for the changed ones."""
        articles = oldest_first(parsed.articles)
        link_counts = Counter(a.url for a in articles if a.url)
        ids = [identities(a, link_counts) for a in articles]
        # The seen window follows the feed's size: twice the keys its current items have.
        count = max(items or 0, len(articles))
        window = min(keys.SEEN_WINDOW, max(keys.SEEN_MIN_WINDOW, 4 * count))
        now = self.clock()
        changed: list[Article] = []
        if partial:
            # Only new or edited items were parsed: render them all and let the queue script
            # tell which were new (one round trip).
            candidates = list(zip(articles, ids, strict=True))
        else:
            statuses = await self.store.check_articles(
                feed_id, [(i, a.content_hash) for a, i in zip(articles, ids, strict=True)],
                now=now, window=window)
            candidates = [(a, i) for a, i, s in zip(articles, ids, statuses, strict=True)
                          if s == NEW]
            changed = [a for a, s in zip(articles, statuses, strict=True) if s == CHANGED]
        outcome = PollOutcome(feed.url, "unchanged")
        rendered: dict[str, list[Delivery | None]] = {}
        if candidates:
            results = await self._queue_fresh(feed, feed_id, candidates, outcome, rendered,
                                              first_run=first_run, now=now, window=window)
            outcome.new_articles = sum(not r.already_seen for r in results)
            changed += [a for (a, _), r in zip(candidates, results, strict=True) if r.changed]
        outcome.status = "new" if outcome.new_articles else "unchanged"
        outcome.changed = len(changed)
        for article in changed:
            outcome.edits += await self._queue_edits(feed, feed_id, article,
                                                     rendered.get(article.uid))
        return outcome

    async def _queue_fresh(self, feed: FeedConfig, feed_id: str,
                           fresh: list[tuple[Article, tuple[str, ...]]], outcome: PollOutcome,
                           rendered: dict[str, list[Delivery | None]], *, first_run: bool,
                           now: float, window: int) -> list[QueueOutcome]:
        posting = fresh
        if first_run:
            posting = {"none": [], "latest": fresh[-1:], "all": fresh}[feed.first_run]
        posting_uids = {a.uid for a, _ in posting}
        first_seen = datetime.fromtimestamp(now, UTC)
        batch: list[ArticleToQueue] = []
        for_review: set[str] = set()
        made_cards: set[str] = set()
        for article, ids in fresh:
            deliveries: list[Delivery | None]
            if article.uid in posting_uids and wanted(feed, article) and feed.mode == "review":
                # The card first, then marking seen below: a crash in between submits it again
                # (no second card) instead of losing the piece. Editors decide on the card.
                if self.review is not None and await self.review.submit(feed, feed_id, article):
                    made_cards.add(article.uid)
                for_review.add(article.uid)
                deliveries = [None]
            elif article.uid in posting_uids and wanted(feed, article):
                deliveries = self._render_for_channels(feed, feed_id, article, first_seen,
                                                       outcome)
                if self.subscribers is not None:
                    deliveries += await self.subscribers(feed, deliveries, functools.partial(
                        self._render_in, article, first_seen))
                rendered[article.uid] = deliveries
                await asyncio.sleep(0)  # rendering is CPU work: let other polls run between
            else:
                deliveries = [None]  # mark seen only: old items of a new feed, filtered items
            batch.append(ArticleToQueue(ids, tuple(deliveries), story_fingerprint(article.title),
                                        article.content_hash))
        results = await self.store.queue_articles(
            feed_id, batch, now=now, window=window,
            fingerprint_window_s=self.fingerprint_window_s)
        for (article, _), result in zip(fresh, results, strict=True):
            if article.uid in for_review and self.review is not None:
                if not result.already_seen:
                    logger.info("sent for review",
                                extra={"feed": feed.url, "article": article.uid})
                elif article.uid in made_cards:
                    await self.review.withdraw(feed_id, article)
            outcome.queued += len(result.queued_chats)
            if result.queued_chats:
                logger.info("queued for %s", ", ".join(result.queued_chats),
                            extra={"feed": feed.url, "article": article.uid})
        return results

    def _render_in(self, article: Article, first_seen: datetime, base: Delivery,
                   language: str) -> Delivery | None:
        """`base` (the article's post for a channel) as that channel would show it in
        `language`, for a subscriber's private copy; None when it does not render so."""
        channel = self.config.channel(base.chat)
        if channel is None or language not in ("ar", "en"):
            return None
        lang: Language = "ar" if language == "ar" else "en"
        try:
            post = render_for(self.config, channel, article, first_seen, language=lang)
        except UnrenderableArticle:
            return None
        return in_language(base, post)

    def _render_for_channels(self, feed: FeedConfig, feed_id: str, article: Article,
                             first_seen: datetime, outcome: PollOutcome
                             ) -> list[Delivery | None]:
        deliveries: list[Delivery | None] = []
        for target in feed.channels:
            channel = self.config.channel(target.chat)
            if channel is None or channel.paused:
                deliveries.append(None)
                continue
            try:
                post = render_for(self.config, channel, article, first_seen)
            except UnrenderableArticle as exc:
                logger.warning("skipped: %s", exc,
                               extra={"feed": feed.url, "article": article.uid})
                outcome.skipped.append(f"{article.url or article.uid}: {exc}")
                deliveries.append(None)
                continue
            deliveries.append(delivery_of(post, chat=target.chat, topic=target.topic,
                                          article=article, feed_id=feed_id,
                                          first_seen=first_seen, queued_at=self.clock()))
        return deliveries or [None]

    async def _queue_edits(self, feed: FeedConfig, feed_id: str, article: Article,
                           rendered: list[Delivery | None] | None) -> int:
        """Queue an edit of the message each `edit_on_change` channel got for `article`
        (`rendered`: its posts, already rendered for the feed's channels, if they were)."""
        queued = 0
        first_seen = datetime.fromtimestamp(self.clock(), UTC)
        posts = {d.chat: d for d in rendered or () if d is not None}
        for target in feed.channels:
            channel = self.config.channel(target.chat)
            if channel is None or channel.paused or not channel.edit_on_change:
                continue
            context = {"feed": feed.url, "article": article.uid, "chat": target.chat}
            post = posts.get(target.chat)
            if post is None:
                try:
                    made = render_for(self.config, channel, article, first_seen)
                except UnrenderableArticle as exc:
                    logger.warning("edited article cannot be rendered: %s", exc, extra=context)
                    continue
                html_, preview_url, language = made.html, made.preview_url, made.language
            else:
                html_, preview_url, language = post.html, post.preview_url, post.language
            done = await self._edit_queue().queue_edit(
                target.chat, article.uid, html_, url=article.url,
                article_time=(article.published_at or first_seen).timestamp(),
                preview_url=preview_url, language=language, feed_id=feed_id)
            if done:
                queued += 1
                logger.info("article changed; edit queued", extra=context)
            else:
                logger.info("article changed before its post went out (or it was never "
                            "posted there); nothing to edit", extra=context)
        return queued

    def _edit_queue(self) -> EditQueue:
        if self.edits is None:
            self.edits = DeliveryQueue(self.store.redis, f"poller-{self.worker_id}")
        return self.edits
