"""Redis access for feeds, deduplication and scheduling. Keys come from `store.keys` only."""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from delivery.models import Delivery
from store import keys

# Marks an article seen for its feed and queues it for every chat it was not already posted to,
# in one atomic step: a crash can never leave an article "seen" but not queued.
# Identity: an article is the same as an earlier one if ANY of its identity keys matches
# (guid hash, canonical-link hash), so a changed guid with the same link is still a duplicate.
QUEUE_ARTICLE_LUA = """
local seen_key = KEYS[1]
local stream = KEYS[2]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local seen_ttl = tonumber(ARGV[3])
local posted_ttl = tonumber(ARGV[4])
local n = tonumber(ARGV[5])
local ids = {}
for i = 1, n do ids[i] = ARGV[5 + i] end

if seen_key ~= stream then
  for i = 1, n do
    if redis.call('ZSCORE', seen_key, ids[i]) then return {0} end
  end
  for i = 1, n do redis.call('ZADD', seen_key, now, ids[i]) end
  local size = redis.call('ZCARD', seen_key)
  if size > window then redis.call('ZREMRANGEBYRANK', seen_key, 0, size - window - 1) end
  redis.call('EXPIRE', seen_key, seen_ttl)
end

local result = {1}
for c = 3, #KEYS do
  local posted = KEYS[c]
  local payload = ARGV[5 + n + (c - 2)]
  if payload ~= '' then
    local dup = false
    for i = 1, n do
      if redis.call('ZSCORE', posted, ids[i]) then dup = true break end
    end
    if not dup then
      for i = 1, n do redis.call('ZADD', posted, now, ids[i]) end
      redis.call('EXPIRE', posted, posted_ttl)
      redis.call('XADD', stream, '*', 'd', payload)
      table.insert(result, c - 2)
    end
  end
end
return result
"""

# Hands out due feeds to one worker at a time: a lease key per feed, and the feed's due time
# pushed past the lease so others skip it. A crashed worker's feeds come due again when the
# lease runs out.
CLAIM_DUE_LUA = """
local due_key = KEYS[1]
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local lease_s = tonumber(ARGV[3])
local worker = ARGV[4]
local prefix = ARGV[5]
local claimed = {}
local candidates = redis.call('ZRANGEBYSCORE', due_key, '-inf', now, 'LIMIT', 0, limit)
for _, feed_id in ipairs(candidates) do
  local lease = prefix .. ':feed:' .. feed_id .. ':lease'
  if redis.call('SET', lease, worker, 'NX', 'EX', lease_s) then
    redis.call('ZADD', due_key, now + lease_s, feed_id)
    table.insert(claimed, feed_id)
  end
end
return claimed
"""

# Reschedules a feed and drops the lease only if this worker still holds it (a slow worker whose
# lease ran out must not free the lease of the worker that took over).
RELEASE_LUA = """
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]), ARGV[1])
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 1
"""


@dataclass(frozen=True, slots=True)
class QueueOutcome:
    """Result of queueing one article: whether the feed had seen it, and the chats queued."""

    already_seen: bool
    queued_chats: tuple[str, ...]


async def connect(url: str) -> aioredis.Redis:
    """A client for `url` (redis://, rediss://, unix://) that returns str values."""
    return aioredis.Redis.from_url(
        url, decode_responses=True, health_check_interval=30, socket_connect_timeout=5,
        retry_on_timeout=True,
    )


class Store:
    """Feed state, seen sets, per-chat dedup and the due schedule, in Redis."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._queue_article = redis.register_script(QUEUE_ARTICLE_LUA)
        self._claim_due = redis.register_script(CLAIM_DUE_LUA)
        self._release = redis.register_script(RELEASE_LUA)

    # -- feed state -------------------------------------------------------------------------
    async def feed_state(self, feed_id: str) -> dict[str, str]:
        return await self.redis.hgetall(keys.feed_state(feed_id))

    async def update_feed_state(self, feed_id: str, values: dict[str, str | int | float]) -> None:
        clean = {k: ("" if v is None else v) for k, v in values.items()}
        await self.redis.hset(keys.feed_state(feed_id), mapping=clean)

    # -- dedup --------------------------------------------------------------------------------
    async def seen_identities(self, feed_id: str, identities: Sequence[str]) -> set[str]:
        """Which of these identity keys the feed has already seen."""
        if not identities:
            return set()
        scores = await self.redis.zmscore(keys.feed_seen(feed_id), list(identities))
        return {key for key, score in zip(identities, scores) if score is not None}

    async def queue_article(
        self,
        feed_id: str | None,
        identities: Sequence[str],
        deliveries: Sequence[Delivery | None],
        *,
        now: float | None = None,
    ) -> QueueOutcome:
        """Atomically mark the article seen for `feed_id` (None: an editor's push) and queue each
        delivery whose chat has not had the article yet. A None delivery only marks seen."""
        now = time.time() if now is None else now
        payloads = [d.to_fields()["d"] if d is not None else "" for d in deliveries]
        posted_keys = [keys.chat_posted(d.chat) if d is not None else keys.chat_posted("-")
                       for d in deliveries]
        seen_key = keys.feed_seen(feed_id) if feed_id else keys.deliveries()
        result = await self._queue_article(
            keys=[seen_key, keys.deliveries(), *posted_keys],
            args=[now, keys.SEEN_WINDOW, keys.SEEN_TTL_S, keys.POSTED_TTL_S, len(identities),
                  *identities, *payloads],
        )
        if not int(result[0]):
            return QueueOutcome(already_seen=True, queued_chats=())
        queued = tuple(
            delivery.chat for i in result[1:] if (delivery := deliveries[int(i) - 1]) is not None
        )
        return QueueOutcome(already_seen=False, queued_chats=queued)

    # -- scheduling ---------------------------------------------------------------------------
    async def schedule(self, feed_id: str, due_at: float, *, only_if_new: bool = False) -> None:
        await self.redis.zadd(keys.feeds_due(), {feed_id: due_at}, nx=only_if_new)

    async def unschedule_except(self, feed_ids: set[str]) -> None:
        """Drop schedule entries of feeds that are no longer configured."""
        scheduled = await self.redis.zrange(keys.feeds_due(), 0, -1)
        stale = [f for f in scheduled if f not in feed_ids]
        if stale:
            await self.redis.zrem(keys.feeds_due(), *stale)

    async def claim_due(self, worker: str, *, limit: int, lease_s: float,
                        now: float | None = None) -> list[str]:
        now = time.time() if now is None else now
        return list(await self._claim_due(
            keys=[keys.feeds_due()], args=[now, limit, int(max(1, lease_s)), worker, keys.PREFIX],
        ))

    async def release(self, feed_id: str, worker: str, next_due: float) -> None:
        """Set the feed's next due time and drop our lease (only if it is still ours)."""
        await self._release(keys=[keys.feeds_due(), keys.feed_lease(feed_id)],
                            args=[feed_id, next_due, worker])

    async def next_due(self) -> float | None:
        first = await self.redis.zrange(keys.feeds_due(), 0, 0, withscores=True)
        return float(first[0][1]) if first else None
