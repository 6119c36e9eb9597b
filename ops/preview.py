"""`python main.py preview URL|FILE [--channel CH]`: the post exactly as Telegram would get it."""
from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from config.schema import BotConfig, ChannelConfig


def _channel(config: BotConfig, chat: str | None) -> ChannelConfig:
    if chat:
        found = config.channel(chat)
        if found is None:
            raise ValueError(f"{chat} is not a configured channel")
        return found
    return config.channels[0] if config.channels else ChannelConfig(chat="@preview")


async def _load(target: str) -> tuple[bytes, str, str]:
    if target.startswith(("http://", "https://", "file://")):
        from feeds.fetcher import Fetcher, FetchLimits, make_session

        limits = FetchLimits()
        session = make_session(limits)
        try:
            result = await Fetcher(session, limits).fetch(target, trusted=True)
        finally:
            await session.close()
        return result.body or b"", result.content_type, result.url
    return await asyncio.to_thread(_read_file, target)


def _read_file(target: str) -> tuple[bytes, str, str]:
    path = Path(target)
    if not path.is_file():
        raise ValueError("no such file or URL")
    return path.read_bytes(), "", path.resolve().as_uri()


async def preview_posts(config: BotConfig, target: str, chat: str | None) -> list[str]:
    """The rendered post(s): the newest item of a feed, or the article of a page."""
    from feeds.article_page import NotAnArticle, extract_article
    from feeds.parser import parse_feed
    from formatters.errors import UnrenderableArticle
    from formatters.post import render_post
    from model.errors import FeedParseError, FetchError
    from model.post import post_options

    channel = _channel(config, chat)
    try:
        body, content_type, url = await _load(target)
    except FetchError as exc:
        raise ValueError(str(exc)) from None
    try:
        parsed = await asyncio.to_thread(parse_feed, body, feed_url=url, content_type=content_type)
        articles = list(parsed.articles[:1])
    except FeedParseError:
        try:
            articles = [await asyncio.to_thread(extract_article, body, url)]
        except NotAnArticle as exc:
            raise ValueError(str(exc)) from None
    if not articles:
        raise ValueError("the feed has no items")
    now = datetime.now(UTC)
    try:
        posts = [render_post(a, post_options(channel), timezone=config.timezone,
                             first_seen=now).html for a in articles]
    except UnrenderableArticle as exc:
        raise ValueError(f"the article cannot be posted: {exc}") from None
    if channel.format == "rich":  # the rich_message sendRichMessage gets; the post above is
        from formatters.rich import build_rich  # its fallback (docs/rich-messages.md)

        for article in articles:
            try:
                rich = build_rich(article, post_options(channel), timezone=config.timezone,
                                  first_seen=now)
            except UnrenderableArticle as exc:
                posts.append(f"(no rich message: {exc}; the post above goes alone)")
                continue
            posts.append(json.dumps(rich.payload, ensure_ascii=False, indent=1))
    return posts
