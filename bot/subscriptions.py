"""Subscribers: private chats that get a feed's posts. Two sets per relation (feed -> chats,
chat -> feeds) written together, so both directions are cheap."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import redis.asyncio as aioredis

from model.delivery import Delivery
from model.article import feed_id_for
from store import keys


async def subscribers_of(redis: aioredis.Redis, feed_url: str) -> list[str]:
    """Private chat ids subscribed to the feed at `feed_url` (for the poller's fan-out)."""
    return sorted(await redis.smembers(keys.bot_feed_subscribers(feed_id_for(feed_url))))


RenderIn = Callable[[Delivery, str], Delivery | None]  # (post, language) -> post in it


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
    for chat, language in zip(chats, chosen or [None] * len(chats)):
        post = base
        if language and language != base.language:
            if language not in posts:
                posts[language] = render_in(base, language) or base  # type: ignore[misc]
            post = posts[language]
        copies.append(replace(post, chat=chat, topic=None, priority=0))
    return copies


async def subscriptions_of(redis: aioredis.Redis, chat: str) -> set[str]:
    """Feed ids the chat is subscribed to."""
    return set(await redis.smembers(keys.bot_user_subscriptions(chat)))


async def subscribe(redis: aioredis.Redis, chat: str, feed_id: str) -> bool:
    """True when the chat was not subscribed before."""
    return await _set_subscribed(redis, chat, feed_id, True)


async def unsubscribe(redis: aioredis.Redis, chat: str, feed_id: str) -> bool:
    return await _set_subscribed(redis, chat, feed_id, False)


async def _set_subscribed(redis: aioredis.Redis, chat: str, feed_id: str,
                          subscribed: bool) -> bool:
    """Add or remove the relation in both sets at once; True when that changed it."""
    async with redis.pipeline(transaction=True) as pipe:
        change = pipe.sadd if subscribed else pipe.srem
        change(keys.bot_feed_subscribers(feed_id), chat)
        change(keys.bot_user_subscriptions(chat), feed_id)
        changed, _ = await pipe.execute()
    return bool(changed)


async def forget_chat(redis: aioredis.Redis, chat: str) -> int:
    """Drop every subscription of a chat (the user blocked the bot); returns how many."""
    feed_ids = await redis.smembers(keys.bot_user_subscriptions(chat))
    async with redis.pipeline(transaction=True) as pipe:
        for feed_id in feed_ids:
            pipe.srem(keys.bot_feed_subscribers(feed_id), chat)
        pipe.delete(keys.bot_user_subscriptions(chat))
        await pipe.execute()
    return len(feed_ids)
