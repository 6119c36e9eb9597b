"""A feed's parsed items, the rest of the way: identify -> dedupe -> filter -> review or render
-> enqueue -> subscriber copies; and edits of posted messages for items changed since."""
from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from config.schema import BotConfig, FeedConfig
from delivery.queue import DeliveryQueue
from feeds.parser import ParsedFeed
from formatters.errors import UnrenderableArticle
from guards.urls import display_url, mask_urls_in_text
from model.article import Article
from model.delivery import Delivery
from model.post import Language
from pipeline.identity import (
    filter_verdict,
    identities,
    oldest_first,
    scope_to_feed,
    story_fingerprint,
    text_sketch,
)
from pipeline.render import delivery_of, in_language, render_for, rich_for, rich_json
from pipeline.rich_pages import RichPages
from pipeline.types import EditQueue, PollOutcome, ReviewInbox, SubscriberHook
from store import fates, keys
from store.redis_store import CHANGED, NEW, ArticleToQueue, ChatSkip, QueueOutcome, Store

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
        self.pages: RichPages | None = None   # article pages for rich channels' bodies

    async def route(self, feed: FeedConfig, feed_id: str, parsed: ParsedFeed, *,
                    first_run: bool, items: int | None, partial: bool) -> PollOutcome:
        """Queue the new items of one poll; queue edits for the changed ones."""
        articles = [scope_to_feed(a, feed_id) for a in oldest_first(parsed.articles)]
        if feed.name:  # the operator's name for the source line, over the feed's own title
            articles = [replace(a, source_name=feed.name) for a in articles]
        link_counts = Counter(a.url for a in articles if a.url)
        ids = [identities(a, link_counts) for a in articles]
        # The seen window follows the feed's size: four times its current items (two keys
        # each, and room for the items it dropped lately), never fewer than the minimum, and
        # never fewer than a large feed lists (the parser bounds that).
        count = max(items or 0, len(articles))
        window = max(keys.SEEN_MIN_WINDOW, 4 * count)
        now = self.clock()
        changed: list[Article] = []
        if partial:
            # Only new or edited items were parsed: render them all and let the queue script
            # tell which were new (one round trip).
            candidates = list(zip(articles, ids, strict=True))
        else:
            statuses = await self.store.check_articles(
                feed_id, [(i, a.content_hash, a.legacy_keys)
                          for a, i in zip(articles, ids, strict=True)],
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
        chats = [t.chat for t in feed.channels]
        batch: list[ArticleToQueue] = []
        skipped: list[tuple[Article, ChatSkip]] = []
        for_review: set[str] = set()
        made_cards: set[str] = set()
        for article, ids in fresh:
            deliveries: list[Delivery | None] = [None]
            skips: list[ChatSkip] = []
            paused: frozenset[str] = frozenset()
            reason, detail = filter_verdict(feed, article)
            if article.uid not in posting_uids:
                skips = [ChatSkip(c, fates.FIRST_RUN, _first_run_detail(feed)) for c in chats]
            elif reason:
                skips = [ChatSkip(c, reason, detail) for c in chats]
            elif feed.mode == "review":
                # The card first, then marking seen below: a crash in between submits it again
                # (no second card) instead of losing the piece. Editors decide on the card.
                if self.review is not None and await self.review.submit(feed, feed_id, article):
                    made_cards.add(article.uid)
                for_review.add(article.uid)
                skips = [ChatSkip(c, fates.REVIEW, "", fate=fates.Fate.HELD.value)
                         for c in chats]
            else:
                deliveries, skips, paused = self._render_for_channels(
                    feed, feed_id, article, first_seen, await self._rich_source(feed, article))
                if self.subscribers is not None:
                    deliveries += await self.subscribers(feed, deliveries, functools.partial(
                        self._render_in, article, first_seen))
                rendered[article.uid] = deliveries
                await asyncio.sleep(0)  # rendering is CPU work: let other polls run between
            skipped += [(article, skip) for skip in skips if skip.fate == "skipped"]
            batch.append(ArticleToQueue(
                ids, tuple(deliveries), story_fingerprint(article.title), article.content_hash,
                legacy=article.legacy_keys, sketch=text_sketch(article), url=article.url,
                skips=tuple(skips), paused=paused))
        results = await self.store.queue_articles(
            feed_id, batch, now=now, window=window,
            fingerprint_window_s=self.fingerprint_window_s, feed_url=feed.url,
            mark_first_polled=True)
        fresh_uids = {a.uid for (a, _), r in zip(fresh, results, strict=True)
                      if not r.already_seen}
        self._report_skips(feed, [(a, s) for a, s in skipped if a.uid in fresh_uids], outcome)
        for (article, _), result, item in zip(fresh, results, batch, strict=True):
            if article.uid in for_review and self.review is not None:
                if not result.already_seen:
                    logger.info("sent for review: %s", display_url(article.url or article.uid),
                                extra={"feed": feed.url, "article": article.uid})
                    outcome.fates[(fates.Fate.HELD.value, fates.REVIEW)] += len(chats)
                elif article.uid in made_cards:
                    await self.review.withdraw(feed_id, article)
            if result.already_seen:
                continue
            outcome.queued += len(result.queued_chats)
            held = [c for c in result.queued_chats if c in item.paused]
            sent = [c for c in result.queued_chats if c not in item.paused]
            if sent:
                outcome.fates[(fates.Fate.QUEUED.value, "")] += len(sent)
                logger.info("queued for %s", ", ".join(sent),
                            extra={"feed": feed.url, "article": article.uid})
            if held:
                outcome.fates[(fates.Fate.HELD.value, fates.PAUSED)] += len(held)
                logger.info("held while paused: %s for %s",
                            display_url(article.url or article.uid), ", ".join(held),
                            extra={"feed": feed.url, "article": article.uid})
            for dup in result.duplicates:
                outcome.fates[(fates.Fate.SKIPPED.value, dup.reason)] += 1
                logger.info("skipped (%s): %s for %s: the chat had %s from %s", dup.reason,
                            display_url(article.url or article.uid), dup.chat,
                            display_url(dup.link) or "it", display_url(dup.feed) or "a push",
                            extra={"feed": feed.url, "article": article.uid})
                outcome.skipped.append(f"{article.url or article.uid}: {dup.reason} in {dup.chat}")
        return results

    def _report_skips(self, feed: FeedConfig, skipped: list[tuple[Article, ChatSkip]],
                      outcome: PollOutcome) -> None:
        """One log line per skipped item (its link, the reason, the chats) and the counts."""
        by_item: dict[tuple[str, str, str], list[str]] = {}
        articles: dict[str, Article] = {}
        for article, skip in skipped:
            by_item.setdefault((article.uid, skip.reason, skip.detail), []).append(skip.chat)
            articles[article.uid] = article
            outcome.fates[(fates.Fate.SKIPPED.value, skip.reason)] += 1
        for (uid, reason, detail), chats in by_item.items():
            article = articles[uid]
            logger.info("skipped (%s): %s for %s%s", reason,
                        display_url(article.url or article.uid), ", ".join(chats),
                        f": {mask_urls_in_text(detail)}" if detail else "",
                        extra={"feed": feed.url, "article": uid})
            if reason != fates.FIRST_RUN:
                outcome.skipped.append(f"{article.url or uid}: {reason}"
                                       + (f" ({detail})" if detail else ""))

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

    async def _rich_source(self, feed: FeedConfig, article: Article
                           ) -> tuple[Article, str] | None:
        """The article as rich messages show it (its page's body, and a note when the feed's
        content stands in), or None when none of the feed's channels posts rich messages."""
        if not any((c := self.config.channel(t.chat)) is not None and c.format == "rich"
                   for t in feed.channels):
            return None
        if self.pages is None:
            return article, ""
        return await self.pages.source(article)

    def _render_for_channels(self, feed: FeedConfig, feed_id: str, article: Article,
                             first_seen: datetime, rich_source: tuple[Article, str] | None
                             ) -> tuple[list[Delivery | None], list[ChatSkip], frozenset[str]]:
        """The article's delivery for each of the feed's channels, the channels it cannot go
        to and why, and the channels that are paused (their posts wait until they resume)."""
        deliveries: list[Delivery | None] = []
        skips: list[ChatSkip] = []
        paused: set[str] = set()
        for target in feed.channels:
            channel = self.config.channel(target.chat)
            if channel is None:
                skips.append(ChatSkip(target.chat, fates.CHANNEL_GONE,
                                      "the feed names a chat that is not a configured channel"))
                continue
            try:
                post = render_for(self.config, channel, article, first_seen)
            except UnrenderableArticle as exc:
                skips.append(ChatSkip(target.chat, fates.UNRENDERABLE, str(exc)))
                continue
            if channel.paused:
                paused.add(target.chat)
            rich = rich_for(self.config, channel, rich_source[0], first_seen) \
                if rich_source else None
            deliveries.append(delivery_of(post, chat=target.chat, topic=target.topic,
                                          article=article, feed_id=feed_id,
                                          first_seen=first_seen, queued_at=self.clock(),
                                          rich=rich, rich_note=rich_source[1] if rich_source
                                          else ""))
        return deliveries or [None], skips, frozenset(paused)

    async def _queue_edits(self, feed: FeedConfig, feed_id: str, article: Article,
                           rendered: list[Delivery | None] | None) -> int:
        """Queue an edit of the message each `edit_on_change` channel got for `article`
        (`rendered`: its posts, already rendered for the feed's channels, if they were)."""
        queued = 0
        first_seen = datetime.fromtimestamp(self.clock(), UTC)
        posts = {d.chat: d for d in rendered or () if d is not None}
        rich_source: tuple[Article, str] | None = None
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
                rich = ""
                if channel.format == "rich":
                    rich_source = rich_source or await self._rich_source(feed, article)
                    if rich_source:
                        rich = rich_json(rich_for(self.config, channel, rich_source[0],
                                                  first_seen))
            else:
                html_, preview_url, language = post.html, post.preview_url, post.language
                rich = post.rich
            done = await self._edit_queue().queue_edit(
                target.chat, article.uid, html_, url=article.url,
                article_time=(article.published_at or first_seen).timestamp(),
                preview_url=preview_url, language=language, feed_id=feed_id, rich=rich)
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


def _first_run_detail(feed: FeedConfig) -> str:
    return {"none": "first poll of the feed (first_run: none): its items are not posted",
            "latest": "first poll of the feed (first_run: latest): only its newest item is "
                      "posted"}.get(feed.first_run, "")
