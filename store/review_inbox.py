"""The editors' review inbox: a card per piece of a review-mode feed, made before the piece is
marked seen, and taken back when marking seen shows it was known after all. The piece's fate
(held: waiting for review) is recorded by the poller's queue step, not here (once)."""
from __future__ import annotations

import hashlib
import json
import time

import redis.asyncio as aioredis

from config.schema import FeedConfig
from model.article import Article, article_to_json
from store import keys

# Makes a piece's card and puts it in the inbox and the open index, unless the piece has a card
# already (then nothing changes: a card an editor already handled is not reopened). 1 when it
# was made. An undecided card has no expiry (the decision sets one): a piece waiting for
# editors is never lost to a TTL; owners are told instead when it waits too long.
# KEYS: card, inbox, open index. ARGV: now, card id, then the card's fields and values.
_SUBMIT_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('ZADD', KEYS[2], tonumber(ARGV[1]), ARGV[2])
redis.call('ZADD', KEYS[3], tonumber(ARGV[1]), ARGV[2])
return 1
"""

# Takes back a card nobody has looked at yet (still 'new'): its piece was seen before after all.
_WITHDRAW_LUA = """
if redis.call('HGET', KEYS[1], 'state') ~= 'new' then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
"""


def review_card_id(feed_id: str, uid: str) -> str:
    """A piece's card id: the same every time the same piece of the same feed is submitted, so
    a poll repeated after a crash makes no second card. 10 hex characters, like every token."""
    return hashlib.sha256(f"{feed_id}\n{uid}".encode()).hexdigest()[:10]


class RedisReviewInbox:
    """The poller's way into the editors' inbox (pipeline.poller.ReviewInbox). The poller submits
    a piece before it marks it seen, so a crash in between makes it submit again (the card id
    makes that a no-op) rather than lose the piece; it withdraws the card when marking seen
    shows the piece was known after all (the same link under a new guid, say)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._submit = redis.register_script(_SUBMIT_LUA)
        self._withdraw = redis.register_script(_WITHDRAW_LUA)

    async def submit(self, feed: FeedConfig, feed_id: str, article: Article) -> bool:
        _, made = await self.submit_card(feed, feed_id, article)
        return made

    async def submit_card(self, feed: FeedConfig, feed_id: str, article: Article, *,
                          now: float | None = None) -> tuple[str, bool]:
        """The piece's card id, and whether this call made the card."""
        now = time.time() if now is None else now
        card = review_card_id(feed_id, article.uid)
        targets = [{"chat": t.chat, "topic": t.topic} for t in feed.channels]
        fields = {"state": "new", "feed_id": feed_id, "feed_url": feed.url,
                  "article": article_to_json(article), "targets": json.dumps(targets),
                  "created": now}
        made = await self._submit(
            keys=[keys.bot_review(card), keys.bot_review_inbox(), keys.bot_review_open()],
            args=[now, card,
                  *(str(x) for pair in fields.items() for x in pair)])
        return card, bool(made)

    async def withdraw(self, feed_id: str, article: Article) -> None:
        card = review_card_id(feed_id, article.uid)
        await self._withdraw(keys=[keys.bot_review(card), keys.bot_review_inbox(),
                                   keys.bot_review_open()], args=[card])


async def submit_for_review(redis: aioredis.Redis, feed: FeedConfig, feed_id: str,
                            article: Article, *, now: float | None = None) -> str:
    """Hand a new piece of a review-mode feed to the editors; returns the card id."""
    card, _ = await RedisReviewInbox(redis).submit_card(feed, feed_id, article, now=now)
    return card
