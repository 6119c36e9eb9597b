"""Publishing an article from the bot (an editor's /push or a review decision): render for each
channel. The decision step (store.decisions) queues what this renders, with the same per-chat
dedup as feed posts, or, when an editor insists, past it ("publish anyway")."""
from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from config.schema import ChannelConfig
from formatters.errors import UnrenderableArticle
from formatters.post import render_post
from formatters.rich import RichPost, build_rich
from model.article import Article
from model.delivery import Delivery
from model.post import RenderedPost, post_options
from pipeline.render import rich_json
from store.redis_store import Store


class Publisher:
    """Renders an article for channels, as editors' posts (priority over feed posts)."""

    def __init__(self, store: Store, *, timezone: str) -> None:
        self.store = store
        self.timezone = timezone

    def render(self, article: Article, channel: ChannelConfig,
               first_seen: datetime) -> RenderedPost:
        """The channel's post for the article (raises UnrenderableArticle)."""
        return render_post(article, post_options(channel), timezone=self.timezone,
                           first_seen=first_seen)

    def rich(self, article: Article, channel: ChannelConfig,
             first_seen: datetime) -> RichPost | None:
        """The channel's rich message for the article (None: the channel posts summaries, or
        no rich message can be made and the summary goes alone)."""
        if channel.format != "rich":
            return None
        try:
            return build_rich(article, post_options(channel), timezone=self.timezone,
                              first_seen=first_seen)
        except UnrenderableArticle:
            return None

    def deliveries(self, article: Article, channels: Sequence[ChannelConfig],
                   *, feed_id: str = "", topics: dict[str, int | None] | None = None,
                   ) -> tuple[list[Delivery], list[tuple[str, str]]]:
        now = time.time()
        first_seen = datetime.fromtimestamp(now, UTC)
        made, failed = [], []
        for channel in channels:
            try:
                post = self.render(article, channel, first_seen)
            except UnrenderableArticle as exc:
                failed.append((channel.chat, str(exc)))
                continue
            made.append(Delivery(
                chat=channel.chat, uid=article.uid, url=article.url, html=post.html,
                feed_id=feed_id, topic=(topics or {}).get(channel.chat),
                photo_url=post.photo_url, preview_url=post.preview_url, language=post.language,
                article_time=(article.published_at or first_seen).timestamp(), queued_at=now,
                priority=1, rich=rich_json(self.rich(article, channel, first_seen)),
            ))
        return made, failed

    @staticmethod
    def again(deliveries: Sequence[Delivery]) -> list[Delivery]:
        """The deliveries for "publish anyway": their own uid, so the sender's "already sent"
        record of the first post does not swallow them."""
        token = secrets.token_hex(5)
        return [replace(d, uid=f"{d.uid}:again:{token}") for d in deliveries]
