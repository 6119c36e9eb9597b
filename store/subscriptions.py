"""Subscribers: private chats that get a feed's posts. Two sets per relation (feed -> chats,
chat -> feeds) written together, so both directions are cheap."""
from __future__ import annotations

import redis.asyncio as aioredis

from model.article import feed_id_for
from store import keys


async def subscribers_of(redis: aioredis.Redis, feed_url: str) -> list[str]:
    """Private chat ids subscribed to the feed at `feed_url` (for the poller's fan-out)."""
    members = await redis.smembers(keys.bot_feed_subscribers(feed_id_for(feed_url)))
    return sorted(str(chat) for chat in members)


async def subscriptions_of(redis: aioredis.Redis, chat: str) -> set[str]:
    """Feed ids the chat is subscribed to."""
    return {str(feed_id) for feed_id in await redis.smembers(keys.bot_user_subscriptions(chat))}


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
            pipe.srem(keys.bot_feed_subscribers(str(feed_id)), chat)
        pipe.delete(keys.bot_user_subscriptions(chat))
        await pipe.execute()
    return len(feed_ids)
