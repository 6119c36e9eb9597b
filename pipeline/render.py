"""Render: an article as each channel shows it, wrapped as a delivery for the queue. The one place
that turns a channel's config into the formatters' plain options."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from config.schema import BotConfig, ChannelConfig
from formatters.post import render_post
from model.article import Article
from model.delivery import Delivery
from model.post import Language, RenderedPost, post_options


def render_for(config: BotConfig, channel: ChannelConfig, article: Article, first_seen: datetime,
               *, language: Language | None = None) -> RenderedPost:
    """The channel's post for the article (in `language` instead of the channel's, for a
    subscriber's private copy). Raises formatters.errors.UnrenderableArticle."""
    return render_post(article, post_options(channel, language=language),
                       timezone=config.timezone, first_seen=first_seen)


def delivery_of(post: RenderedPost, *, chat: str, article: Article, feed_id: str,
                first_seen: datetime, queued_at: float, topic: int | None = None,
                priority: int = 0) -> Delivery:
    """The queue entry that sends `post` to `chat`."""
    return Delivery(
        chat=chat, topic=topic, uid=article.uid, url=article.url, html=post.html,
        feed_id=feed_id, photo_url=post.photo_url, preview_url=post.preview_url,
        language=post.language, article_time=(article.published_at or first_seen).timestamp(),
        queued_at=queued_at, priority=priority)


def in_language(base: Delivery, post: RenderedPost) -> Delivery:
    """`base` with another rendering of its article (a subscriber's language)."""
    return replace(base, html=post.html, photo_url=post.photo_url, preview_url=post.preview_url,
                   language=post.language)
