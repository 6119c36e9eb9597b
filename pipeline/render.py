"""Render: an article as each channel shows it, wrapped as a delivery for the queue. The one place
that turns a channel's config into the formatters' plain options."""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import datetime

from config.schema import BotConfig, ChannelConfig
from formatters.errors import UnrenderableArticle
from formatters.post import render_post
from formatters.rich import RichPost, build_rich
from guards.urls import display_url
from model.article import Article
from model.delivery import Delivery
from model.post import Language, RenderedPost, post_options

logger = logging.getLogger(__name__)


def render_for(config: BotConfig, channel: ChannelConfig, article: Article, first_seen: datetime,
               *, language: Language | None = None) -> RenderedPost:
    """The channel's post for the article (in `language` instead of the channel's, for a
    subscriber's private copy). Raises formatters.errors.UnrenderableArticle."""
    return render_post(article, post_options(channel, language=language),
                       timezone=config.timezone, first_seen=first_seen)


def rich_for(config: BotConfig, channel: ChannelConfig, article: Article,
             first_seen: datetime) -> RichPost | None:
    """The channel's rich message for the article (`article` with the body it should show:
    `pipeline.rich_pages`), or None when the channel posts summaries. When no rich message can
    be made the summary goes alone (logged with the link). What was cut or left out is logged."""
    if channel.format != "rich":
        return None
    try:
        post = build_rich(article, post_options(channel), timezone=config.timezone,
                          first_seen=first_seen)
    except UnrenderableArticle as exc:
        logger.warning("no rich message for %s (%s); the summary goes instead",
                       display_url(article.url or article.uid), exc.reason,
                       extra={"chat": channel.chat, "article": article.uid})
        return None
    notes = [post.cut or "", "left out: " + ", ".join(post.left_out) if post.left_out else ""]
    if any(notes):
        logger.info("rich message of %s: %s", display_url(article.url or article.uid),
                    "; ".join(n for n in notes if n),
                    extra={"chat": channel.chat, "article": article.uid})
    return post


def rich_json(post: RichPost | None) -> str:
    """A rich post as the delivery carries it ("" for none)."""
    return json.dumps(post.payload, ensure_ascii=False, separators=(",", ":")) if post else ""


def delivery_of(post: RenderedPost, *, chat: str, article: Article, feed_id: str,
                first_seen: datetime, queued_at: float, topic: int | None = None,
                priority: int = 0, rich: RichPost | None = None,
                rich_note: str = "") -> Delivery:
    """The queue entry that sends `post` to `chat` (as the rich message `rich`, when given,
    with `post` as its fallback)."""
    return Delivery(
        chat=chat, topic=topic, uid=article.uid, url=article.url, html=post.html,
        feed_id=feed_id, photo_url=post.photo_url, preview_url=post.preview_url,
        language=post.language, article_time=(article.published_at or first_seen).timestamp(),
        queued_at=queued_at, priority=priority, rich=rich_json(rich),
        rich_note=rich_note if rich else "")


def in_language(base: Delivery, post: RenderedPost) -> Delivery:
    """`base` with another rendering of its article (a subscriber's language). Subscribers'
    private copies are summaries: the rich message is built for the channel's language."""
    return replace(base, html=post.html, photo_url=post.photo_url, preview_url=post.preview_url,
                   language=post.language, rich="", rich_note="")
