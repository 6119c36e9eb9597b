"""Publishing an article from the bot (an editor's /push or a review decision): render for each
channel, then the same queue and dedup as feed posts (`Store.queue_article`), or, when an editor
insists, past the dedup ("publish anyway").

Pending previews and review cards are Redis hashes named by a random token; their state moves
only through `claim` (compare-and-set in Lua), so of two presses at once exactly one wins.
"""
from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime

import redis.asyncio as aioredis

from config.schema import ChannelConfig
from model.delivery import Delivery
from model.article import Article
from store import keys
from store.redis_store import Store

# Queues deliveries without the per-chat dedup check, still recording the identities as posted
# there (so feeds do not post the article again afterwards). Same stream as every other post.
FORCE_QUEUE_LUA = """
local stream = KEYS[1]
local now = tonumber(ARGV[1])
local posted_ttl = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
for c = 2, #KEYS do
  local posted = KEYS[c]
  for i = 1, n do redis.call('ZADD', posted, now, ARGV[3 + i]) end
  redis.call('EXPIRE', posted, posted_ttl)
  redis.call('XADD', stream, '*', 'd', ARGV[3 + n + (c - 1)])
end
return #KEYS - 1
"""

# Moves a pending record from one of the expected states to a new one, recording who decided
# (id and, when given, name) in the same step, so a press that loses can say who won; -1: the
# record is gone.
CLAIM_LUA = """
local key = KEYS[1]
local current = redis.call('HGET', key, 'state')
if not current then return -1 end
for expected in string.gmatch(ARGV[1], '[^,]+') do
  if expected == current then
    redis.call('HSET', key, 'state', ARGV[2], 'decided_by', ARGV[3], 'decided_at', ARGV[4])
    if ARGV[5] ~= '' then redis.call('HSET', key, 'decided_name', ARGV[5]) end
    return 1
  end
end
return 0
"""


def article_to_json(article: Article) -> str:
    data = asdict(article)
    data["published_at"] = article.published_at.isoformat() if article.published_at else None
    return json.dumps(data, ensure_ascii=False)


def article_from_json(raw: str) -> Article:
    data = json.loads(raw)
    known = {f.name for f in fields(Article)}
    data = {k: v for k, v in data.items() if k in known}
    if data.get("published_at"):
        data["published_at"] = datetime.fromisoformat(data["published_at"])
    for name in ("categories", "identity_keys"):
        data[name] = tuple(data.get(name) or ())
    return Article(**data)


def new_token() -> str:
    """A random id for callback data: 10 hex characters, never user input."""
    return secrets.token_hex(5)


def is_token(text: str) -> bool:
    """Whether callback data carries a token of ours (a forged one never becomes a key)."""
    return len(text) == 10 and all(c in "0123456789abcdef" for c in text)


class Claim:
    WON = 1
    LOST = 0
    GONE = -1


class PendingStore:
    """Hashes of pending previews, /addfeed questions and review cards."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._claim = redis.register_script(CLAIM_LUA)

    async def create(self, key: str, values: dict[str, str | int | float], ttl_s: int) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={k: ("" if v is None else v) for k, v in values.items()})
            pipe.expire(key, ttl_s)
            await pipe.execute()

    async def get(self, key: str) -> dict[str, str]:
        return await self.redis.hgetall(key)

    async def update(self, key: str, values: dict[str, str | int | float]) -> None:
        if await self.redis.exists(key):
            await self.redis.hset(key, mapping={k: ("" if v is None else v)
                                                for k, v in values.items()})

    async def claim(self, key: str, expected: Sequence[str], new_state: str, user_id: int,
                    name: str = "") -> int:
        """Claim.WON if the state was one of `expected` and is now `new_state` (decided by
        `user_id`, shown as `name`)."""
        return int(await self._claim(keys=[key], args=[",".join(expected), new_state,
                                                         int(user_id), time.time(), name]))


@dataclass(frozen=True, slots=True)
class PublishResult:
    queued: tuple[str, ...]          # chats the article was queued for
    duplicates: tuple[str, ...]      # chats that already had it
    failed: tuple[tuple[str, str], ...] = ()   # (chat, reason) it could not be rendered for


class Publisher:
    """Renders an article for channels and queues it with editors' priority."""

    def __init__(self, store: Store, *, timezone: str) -> None:
        self.store = store
        self.timezone = timezone
        self._force = store.redis.register_script(FORCE_QUEUE_LUA)

    def render(self, article: Article, channel: ChannelConfig, first_seen: datetime):  # noqa: ANN201
        from formatters.post import render_post
        from model.post import post_options

        return render_post(article, post_options(channel), timezone=self.timezone, first_seen=first_seen)

    def deliveries(self, article: Article, channels: Sequence[ChannelConfig],
                   *, feed_id: str = "", topics: dict[str, int | None] | None = None,
                   ) -> tuple[list[Delivery], list[tuple[str, str]]]:
        from formatters.errors import UnrenderableArticle

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
                priority=1,
            ))
        return made, failed

    async def publish(self, article: Article, channels: Sequence[ChannelConfig], *,
                      feed_id: str = "", topics: dict[str, int | None] | None = None,
                      ) -> PublishResult:
        """Queue for each channel that has not had the article; the others are duplicates."""
        made, failed = self.deliveries(article, channels, feed_id=feed_id, topics=topics)
        if not made:
            return PublishResult((), (), tuple(failed))
        identities = article.identity_keys or (article.uid,)
        outcome = await self.store.queue_article(None, identities, made)
        queued = outcome.queued_chats
        duplicates = tuple(d.chat for d in made if d.chat not in queued)
        return PublishResult(queued, duplicates, tuple(failed))

    async def publish_anyway(self, article: Article, channels: Sequence[ChannelConfig], *,
                             feed_id: str = "") -> PublishResult:
        """Queue past the dedup. The delivery gets its own uid, so the sender's "already sent"
        record of the first post does not swallow this one."""
        made, failed = self.deliveries(article, channels, feed_id=feed_id)
        if not made:
            return PublishResult((), (), tuple(failed))
        again = f"{article.uid}:again:{new_token()}"
        made = [replace(d, uid=again) for d in made]
        identities = list(article.identity_keys or (article.uid,))
        await self._force(
            keys=[keys.deliveries(), *(keys.chat_posted(d.chat) for d in made)],
            args=[time.time(), keys.POSTED_TTL_S, len(identities), *identities,
                  *(d.to_fields()["d"] for d in made)],
        )
        return PublishResult(tuple(d.chat for d in made), (), tuple(failed))
