"""Subscriber copies: the feed's post for each private chat subscribed to it, in the language the
subscriber chose."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import redis.asyncio as aioredis

from model.delivery import Delivery
from pipeline.types import RenderIn
from store import keys
from store.subscriptions import subscribers_of


async def subscriber_copies(redis: aioredis.Redis, feed_url: str,
                            deliveries: Sequence[Delivery | None],
                            render_in: RenderIn | None = None) -> list[Delivery]:
    """One copy of the feed's post for each subscriber's private chat (the poller appends these
    to the deliveries it queues, so the same dedup applies per chat). The copy is the post as
    rendered for the feed's first channel that got one; none when no channel got one. A
    subscriber who chose another language with /lang gets the post rendered in it
    (`render_in(post, language)`, once per language), when that renders."""
    base = next((d for d in deliveries if d is not None), None)
    if base is None:
        return []
    targets = {d.chat for d in deliveries if d is not None}
    chats = [chat for chat in await subscribers_of(redis, feed_url) if chat not in targets]
    if not chats:
        return []
    # A private chat's id is its user's id, the key /lang stores the choice under.
    chosen = await redis.hmget(keys.bot_user_lang(), chats) if render_in is not None else []
    posts: dict[str, Delivery] = {base.language: base}
    copies = []
    for chat, chosen_language in zip(chats, chosen or [None] * len(chats), strict=True):
        post = base
        language = str(chosen_language or "")
        if language and language != base.language:
            if language not in posts:
                posts[language] = render_in(base, language) or base  # type: ignore[misc]
            post = posts[language]
        copies.append(replace(post, chat=chat, topic=None, priority=0))
    return copies
