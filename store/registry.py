"""Feeds and channels added with bot commands, and pauses, kept in Redis beside the declared ones.

The poller merges them with `effective_config(redis, config)` (declared feeds and channels win
on a clash); `registry_version(redis)` changes on every edit, so a poller can reload only when
something changed.
"""
from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from config.schema import BotConfig, ChannelConfig, FeedConfig, FeedTarget
from model.article import feed_id_for
from store import keys

logger = logging.getLogger(__name__)

# Feeds added by command or OPML import are web feeds only: `file:` is for the operator's config
# file (a `file:///dev/stdin` feed would block a poller, others would read local files).
_WEB_FEED = re.compile(r"^https?://", re.IGNORECASE)


class NotAWebFeed(ValueError):
    """A feed added by command or import must be an http:// or https:// address."""


@dataclass(frozen=True, slots=True)
class RegisteredFeed:
    """A feed added by command, with who added it and what it was called then."""

    feed: FeedConfig
    title: str
    added_by: int
    added_at: float

    def to_json(self) -> str:
        return json.dumps({"feed": self.feed.model_dump(mode="json"), "title": self.title,
                           "added_by": self.added_by, "added_at": self.added_at},
                          ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> RegisteredFeed:
        data = json.loads(raw)
        # Whatever the record says, a feed from the registry was added by command or import.
        return cls(FeedConfig.model_validate(data["feed"]).added_by_command(),
                   str(data.get("title", "")), int(data.get("added_by", 0)),
                   float(data.get("added_at", 0)))


@dataclass(frozen=True, slots=True)
class RegisteredChannel:
    channel: ChannelConfig
    title: str
    added_by: int
    added_at: float

    def to_json(self) -> str:
        return json.dumps({"channel": self.channel.model_dump(mode="json"), "title": self.title,
                           "added_by": self.added_by, "added_at": self.added_at},
                          ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> RegisteredChannel:
        data = json.loads(raw)
        return cls(ChannelConfig.model_validate(data["channel"]), str(data.get("title", "")),
                   int(data.get("added_by", 0)), float(data.get("added_at", 0)))


async def registered_feeds(redis: aioredis.Redis) -> list[RegisteredFeed]:
    raw = await redis.hgetall(keys.bot_feeds())
    feeds = []
    for value in raw.values():
        try:
            registered = RegisteredFeed.from_json(value)
        except (ValueError, KeyError):
            continue  # a record written by a newer version we cannot read: skip, never crash
        if not _WEB_FEED.match(registered.feed.url):
            # Written before imports refused such addresses: never polled, said once per read.
            from guards.urls import display_url

            logger.warning("registered feed %s ignored: not an http(s) address",
                           display_url(registered.feed.url))
            continue
        feeds.append(registered)
    return sorted(feeds, key=lambda f: f.added_at)


async def registered_channels(redis: aioredis.Redis) -> list[RegisteredChannel]:
    raw = await redis.hgetall(keys.bot_channels())
    channels = []
    for value in raw.values():
        try:
            channels.append(RegisteredChannel.from_json(value))
        except (ValueError, KeyError):
            continue
    return sorted(channels, key=lambda c: c.added_at)


async def dynamic_feeds(redis: aioredis.Redis) -> list[FeedConfig]:
    """Feeds added with /addfeed, with pauses applied (for the poller to merge)."""
    paused = await redis.smembers(keys.bot_paused_feeds())
    return [r.feed.model_copy(update={"paused": r.feed.paused or feed_id_for(r.feed.url) in paused})
            for r in await registered_feeds(redis)]


async def dynamic_channels(redis: aioredis.Redis) -> list[ChannelConfig]:
    paused = await redis.smembers(keys.bot_paused_channels())
    return [r.channel.model_copy(update={"paused": r.channel.paused or r.channel.chat in paused})
            for r in await registered_channels(redis)]


async def effective_config(redis: aioredis.Redis, config: BotConfig) -> BotConfig:
    """The config file plus feeds and channels added by command, with /pause applied."""
    paused_feeds = await redis.smembers(keys.bot_paused_feeds())
    paused_chats = await redis.smembers(keys.bot_paused_channels())
    channels = [c.model_copy(update={"paused": c.paused or c.chat in paused_chats})
                for c in config.channels]
    known_chats = {c.chat for c in channels}
    channels += [c for c in await dynamic_channels(redis) if c.chat not in known_chats]
    feeds = [f.model_copy(update={"paused": f.paused or feed_id_for(f.url) in paused_feeds})
             for f in config.feeds]
    declared_urls = {f.url for f in config.feeds}
    feeds += [f for f in await dynamic_feeds(redis) if f.url not in declared_urls]
    return config.model_copy(update={"channels": tuple(channels), "feeds": tuple(feeds)})


async def registry_version(redis: aioredis.Redis) -> int:
    return int(await redis.get(keys.bot_registry_version()) or 0)


class FeedRegistry:
    """Edits of the command-managed feeds, channels and pauses."""

    def __init__(self, redis: aioredis.Redis, config: BotConfig) -> None:
        self.redis = redis
        self.config = config

    async def _bump(self) -> None:
        await self.redis.incr(keys.bot_registry_version())

    # -- lookups -------------------------------------------------------------------------------
    async def current(self) -> BotConfig:
        return await effective_config(self.redis, self.config)

    def is_declared_feed(self, url: str) -> bool:
        return any(f.url == url for f in self.config.feeds)

    def is_declared_channel(self, chat: str) -> bool:
        return self.config.channel(chat) is not None

    async def find_feed(self, text: str) -> FeedConfig | None:
        """A feed (declared or added) by its URL, canonical URL or feed id."""
        from guards.urls import canonical_url

        config = await self.current()
        wanted = {text.strip(), canonical_url(text.strip())}
        for feed in config.feeds:
            if feed.url in wanted or canonical_url(feed.url) in wanted or \
                    feed_id_for(feed.url) == text.strip():
                return feed
        return None

    async def find_channel(self, chat: str) -> ChannelConfig | None:
        """A channel by its chat as written (usernames compared without case)."""
        config = await self.current()
        for channel in config.channels:
            if channel.chat == chat or (chat.startswith("@")
                                        and channel.chat.lower() == chat.lower()):
                return channel
        return None

    async def feed_titles(self) -> dict[str, str]:
        """feed_id -> title, from the registry and the poller's feed state."""
        titles: dict[str, str] = {}
        for registered in await registered_feeds(self.redis):
            titles[feed_id_for(registered.feed.url)] = registered.title
        config = await self.current()
        feed_ids = [feed_id_for(feed.url) for feed in config.feeds]
        async with self.redis.pipeline(transaction=False) as pipe:
            for feed_id in feed_ids:
                pipe.hget(keys.feed_state(feed_id), "title")
            state_titles = await pipe.execute()
        for feed, feed_id, state_title in zip(config.feeds, feed_ids, state_titles, strict=True):
            if state_title:
                titles[feed_id] = state_title
            titles.setdefault(feed_id, feed.url)
        return titles

    # -- feeds ---------------------------------------------------------------------------------
    async def add_feed(self, url: str, chat: str, *, first_run: str, title: str,
                       user_id: int, mode: str = "auto") -> FeedConfig | None:
        """Follow `url` (http or https only: NotAWebFeed otherwise) into `chat`; None when the
        feed is followed already (its channels are never overwritten by a second add)."""
        if not _WEB_FEED.match(url.strip()):
            raise NotAWebFeed("only http:// and https:// feeds can be added by command or import")
        # Validated: first_run and mode come from a button's data or an import's choice.
        feed = FeedConfig.model_validate({
            "url": url, "channels": (FeedTarget(chat=chat),), "first_run": first_run,
            "mode": mode}).added_by_command()
        record = RegisteredFeed(feed, title, user_id, time.time())
        if self.is_declared_feed(url) or not await self.redis.hsetnx(
                keys.bot_feeds(), feed_id_for(url), record.to_json()):
            return None
        await self._bump()
        return feed

    async def remove_feed(self, url: str) -> bool:
        removed = await self.redis.hdel(keys.bot_feeds(), feed_id_for(url))
        await self.redis.srem(keys.bot_paused_feeds(), feed_id_for(url))
        await self._bump()
        return bool(removed)

    async def set_feed_paused(self, url: str, paused: bool) -> bool:
        """True when the state changed."""
        if paused:
            changed = await self.redis.sadd(keys.bot_paused_feeds(), feed_id_for(url))
        else:
            changed = await self.redis.srem(keys.bot_paused_feeds(), feed_id_for(url))
            if changed:
                # Resumed: poll now, not when the paused feed's next check would have come.
                await self.redis.zadd(keys.feeds_due(), {feed_id_for(url): time.time()},
                                      xx=True)
        await self._bump()
        return bool(changed)

    # -- channels ------------------------------------------------------------------------------
    async def add_channel(self, channel: ChannelConfig, *, title: str, user_id: int) -> None:
        record = RegisteredChannel(channel, title, user_id, time.time())
        await self.redis.hset(keys.bot_channels(), channel.chat, record.to_json())
        await self._bump()

    async def remove_channel(self, chat: str) -> bool:
        removed = await self.redis.hdel(keys.bot_channels(), chat)
        await self._bump()
        return bool(removed)

    async def set_channel_paused(self, chat: str, paused: bool) -> bool:
        if paused:
            changed = await self.redis.sadd(keys.bot_paused_channels(), chat)
        else:
            changed = await self.redis.srem(keys.bot_paused_channels(), chat)
        await self._bump()
        return bool(changed)


class RegistrySource:
    """The poller's view of the registry (pipeline.poller.ConfigSource)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def version(self) -> int:
        return await registry_version(self.redis)

    async def effective(self, base: BotConfig) -> BotConfig:
        return await effective_config(self.redis, base)
