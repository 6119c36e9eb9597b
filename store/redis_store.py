"""Redis access for feeds, deduplication and scheduling. Keys come from `store.keys` only.

The poller talks to Redis in batches: one script claims many due feeds and returns their states,
one script writes many feeds' states, due times and lease releases, and each changed feed costs
two scripts (check its items against the seen set, then queue the new ones). An unchanged feed
therefore costs no round trip of its own.
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from model.delivery import Delivery
from store import keys

# Shared Lua: the member a feed's seen set stores for an identity key (sha256 hex keys cut to
# 12 characters, 48 bits: a collision inside one feed's window of at most 2,000 keys has odds
# under 1e-8), the membership test (which also finds whole keys, as sets written before keys
# were cut hold them), and the window trim that also drops the trimmed items' content hashes.
_SEEN_LIB = """
local function compact(id)
  if #id == 64 and not id:find('[^0-9a-f]') then return id:sub(1, 12) end
  return id
end

local function seen_has(seen_key, id)
  local short = compact(id)
  if redis.call('ZSCORE', seen_key, short) then return true end
  return short ~= id and redis.call('ZSCORE', seen_key, id) ~= false
end

local function trim_seen(seen_key, content_key, window, ttl)
  local size = redis.call('ZCARD', seen_key)
  if size > window then
    local old = redis.call('ZRANGE', seen_key, 0, size - window - 1)
    redis.call('ZREMRANGEBYRANK', seen_key, 0, size - window - 1)
    for i = 1, #old, 500 do
      redis.call('HDEL', content_key, unpack(old, i, math.min(i + 499, #old)))
    end
  end
  redis.call('EXPIRE', seen_key, ttl)
  redis.call('EXPIRE', content_key, ttl)
end
"""

# Checks a feed's current items against its seen set. Seen items are touched (their score is
# the last time the feed listed them, so the window trim only drops items the feed no longer
# lists) and their content hash is compared with the one recorded: 0 new, 1 seen, 2 seen and
# changed since (the new hash is recorded, so a change is reported once).
# ARGV: now, window, ttl, n, then per item: count of ids, content hash, ids.
CHECK_ARTICLES_LUA = _SEEN_LIB + """
local seen_key, content_key = KEYS[1], KEYS[2]
local now, window, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local out = {}
local pos = 5
for a = 1, n do
  local nids, chash = tonumber(ARGV[pos]), ARGV[pos + 1]
  local ids = {}
  for i = 1, nids do ids[i] = ARGV[pos + 1 + i] end
  pos = pos + 2 + nids
  local status = 0
  for i = 1, nids do
    if seen_has(seen_key, ids[i]) then status = 1 break end
  end
  for i = 1, nids do ids[i] = compact(ids[i]) end
  if status == 1 then
    for i = 1, nids do redis.call('ZADD', seen_key, now, ids[i]) end
    if chash ~= '' then
      local old = redis.call('HGET', content_key, ids[1])
      if old ~= chash then
        redis.call('HSET', content_key, ids[1], chash)
        if old then status = 2 end
      end
    end
  end
  out[a] = status
end
if n > 0 then trim_seen(seen_key, content_key, window, ttl) end
return out
"""

# Queues a feed's new items, oldest first, in one atomic step per call: each item is marked seen
# for the feed (a crash can never leave an item "seen" but not queued) and queued for every chat
# that has not had it. Identity: an item is the same as an earlier one if ANY of its identity
# keys matches (guid hash, canonical-link hash), so a changed guid with the same link is still a
# duplicate. Across feeds, an item whose title fingerprint another feed posted to the chat within
# the window is a duplicate too (the same feed may repeat a title: recurring columns do).
# KEYS: seen, stream, content, then (posted, fingerprints) per chat.
# ARGV: now, window, seen_ttl, posted_ttl, fp_window, has_feed, feed_tag, n, then per item:
#       count of ids, fingerprint, content hash, count of deliveries, ids, (chat index, payload)*.
# An item the feed had seen is only touched, and reported changed when its content hash differs.
# Returns per item: 1 new for the feed, 0 seen, 2 seen and changed; count queued; the deliveries
# queued.
QUEUE_ARTICLES_LUA = _SEEN_LIB + """
local seen_key, stream, content_key = KEYS[1], KEYS[2], KEYS[3]
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local seen_ttl, posted_ttl, fp_window = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local has_feed, tag, n = ARGV[6] == '1', ARGV[7], tonumber(ARGV[8])
local trimmed = {}
local function chat_keys(c)
  local posted, fps = KEYS[2 + 2 * c], KEYS[3 + 2 * c]
  if not trimmed[c] then
    trimmed[c] = true
    redis.call('ZREMRANGEBYSCORE', posted, '-inf', now - posted_ttl)
    redis.call('ZREMRANGEBYSCORE', fps, '-inf', now - fp_window)
  end
  return posted, fps
end

local out = {}
local pos = 9
for a = 1, n do
  local nids, fp, chash = tonumber(ARGV[pos]), ARGV[pos + 1], ARGV[pos + 2]
  local ndel = tonumber(ARGV[pos + 3])
  local ids = {}
  for i = 1, nids do ids[i] = ARGV[pos + 3 + i] end
  pos = pos + 4 + nids
  local status = 1
  if has_feed then
    for i = 1, nids do
      if seen_has(seen_key, ids[i]) then status = 0 break end
    end
  end
  local queued = {}
  if status == 0 then
    -- Seen before: touch it, and report an edit once (as CHECK_ARTICLES_LUA does).
    for i = 1, nids do redis.call('ZADD', seen_key, now, compact(ids[i])) end
    if chash ~= '' and nids > 0 then
      local old = redis.call('HGET', content_key, compact(ids[1]))
      if old ~= chash then
        redis.call('HSET', content_key, compact(ids[1]), chash)
        if old then status = 2 end
      end
    end
  else
    if has_feed then
      for i = 1, nids do redis.call('ZADD', seen_key, now, compact(ids[i])) end
      if chash ~= '' and nids > 0 then redis.call('HSET', content_key, compact(ids[1]), chash) end
    end
    for d = 1, ndel do
      local c, payload = tonumber(ARGV[pos + 2 * d - 2]), ARGV[pos + 2 * d - 1]
      local posted, fps = chat_keys(c)
      local dup = false
      for i = 1, nids do
        if redis.call('ZSCORE', posted, ids[i]) then dup = true break end
      end
      if not dup and fp ~= '' then
        local any = redis.call('ZSCORE', fps, fp)
        if any and now - tonumber(any) <= fp_window then
          local mine = redis.call('ZSCORE', fps, fp .. '@' .. tag)
          if not mine or tonumber(mine) < tonumber(any) then dup = true end
        end
      end
      if not dup then
        for i = 1, nids do redis.call('ZADD', posted, now, ids[i]) end
        redis.call('EXPIRE', posted, posted_ttl)
        if fp ~= '' then
          redis.call('ZADD', fps, now, fp, now, fp .. '@' .. tag)
          redis.call('EXPIRE', fps, fp_window)
        end
        redis.call('XADD', stream, '*', 'd', payload)
        table.insert(queued, d)
      end
    end
  end
  pos = pos + 2 * ndel
  table.insert(out, status)
  table.insert(out, #queued)
  for _, d in ipairs(queued) do table.insert(out, d) end
end
if has_feed and n > 0 then trim_seen(seen_key, content_key, window, seen_ttl) end
return out
"""

# Hands out due feeds to one worker at a time: a lease key per feed, and the feed's due time
# pushed past the lease so others skip it. A crashed worker's feeds come due again when the
# lease runs out. It answers the claimed feeds and their state fields as one JSON array of
# [feed id, {field: value}] (one round trip per batch, one string for the client to read).
# Keys are built from the templates around the feed id (they share the
# {nashir} hash tag, so they live in the schedule's slot on a cluster too).
# ARGV: now, limit, lease_s, worker, then the key templates around the feed id (lease head and
# tail, state head and tail), then the state fields wanted.
CLAIM_STATES_LUA = """
local due_key = KEYS[1]
local now, limit, lease_s = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local worker = ARGV[4]
local lease_head, lease_tail, state_head, state_tail = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local fields = {}
for i = 9, #ARGV do fields[#fields + 1] = ARGV[i] end
local out = {}
local candidates = redis.call('ZRANGEBYSCORE', due_key, '-inf', now, 'LIMIT', 0, limit)
for _, feed_id in ipairs(candidates) do
  if redis.call('SET', lease_head .. feed_id .. lease_tail, worker, 'NX', 'EX', lease_s) then
    redis.call('ZADD', due_key, now + lease_s, feed_id)
    local values = {}
    if #fields > 0 then
      values = redis.call('HMGET', state_head .. feed_id .. state_tail, unpack(fields))
    end
    local state = {}
    for i, name in ipairs(fields) do
      if values[i] then state[name] = values[i] end
    end
    out[#out + 1] = {feed_id, state}
  end
end
if #out == 0 then return '[]' end
return cjson.encode(out)
"""

# Reschedules a feed and drops the lease only if this worker still holds it (a slow worker whose
# lease ran out must not free the lease of the worker that took over).
RELEASE_LUA = """
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]), ARGV[1])
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 1
"""

# Writes many polls' results at once: state fields, next due time, and (for claimed feeds) the
# lease, dropped only if still ours. A claimed feed is rescheduled only while it is still on the
# schedule (XX), so a feed removed from the config meanwhile does not come back.
# ARGV: worker, the key templates (as for the claim), then one JSON array of
# [feed id, due, claimed (1/0), {field: value as text}] (one argument for the whole batch).
COMMIT_LUA = """
local due_key, worker = KEYS[1], ARGV[1]
local lease_head, lease_tail, state_head, state_tail = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local writes = cjson.decode(ARGV[6])
for _, write in ipairs(writes) do
  local feed_id, due, claimed, fields = write[1], write[2], write[3], write[4]
  local pairs_ = {}
  for name, value in pairs(fields) do
    pairs_[#pairs_ + 1] = name
    pairs_[#pairs_ + 1] = value
  end
  if #pairs_ > 0 then redis.call('HSET', state_head .. feed_id .. state_tail, unpack(pairs_)) end
  if claimed == 1 then
    redis.call('ZADD', due_key, 'XX', due, feed_id)
    local lease = lease_head .. feed_id .. lease_tail
    if redis.call('GET', lease) == worker then redis.call('DEL', lease) end
  else
    redis.call('ZADD', due_key, due, feed_id)
  end
end
return #writes
"""

_HEX64 = re.compile(r"[0-9a-f]{64}")


def compact_identity(key: str) -> str:
    """The member a feed's seen set stores for an identity key (as the Lua `compact` does)."""
    return key[:12] if len(key) == 64 and _HEX64.fullmatch(key) else key


def _content(content_hash: str) -> str:
    # 32 bits of the content hash: an edit goes unnoticed with odds of 1 in 4 billion.
    return content_hash[:8]


@dataclass(frozen=True, slots=True)
class QueueOutcome:
    """Result of queueing one article: whether the feed had seen it, and the chats queued."""

    already_seen: bool
    queued_chats: tuple[str, ...]
    changed: bool = False          # seen before, and its content hash changed since


@dataclass(frozen=True, slots=True)
class ArticleToQueue:
    """One article for `Store.queue_articles`: its identity keys (the first is its uid), one
    delivery per chat (None: only mark it seen), and optionally its title fingerprint (cross-feed
    duplicates) and content hash (edits)."""

    identities: tuple[str, ...]
    deliveries: tuple[Delivery | None, ...]
    fingerprint: str = ""
    content_hash: str = ""


@dataclass(frozen=True, slots=True)
class StateWrite:
    """One poll's result for `Store.commit`: state fields, next due time, and whether the feed
    was claimed with a lease (then the lease is released and the feed only rescheduled)."""

    feed_id: str
    fields: dict[str, str | int | float]
    next_due: float
    claimed: bool


# Article statuses from `Store.check_articles`.
NEW, SEEN, CHANGED = 0, 1, 2
NEW_STATUS = 1  # QUEUE_ARTICLES_LUA's code for a new item (0 is seen there)


async def connect(url: str, *, max_connections: int = 128) -> aioredis.Redis:
    """A client for `url` (redis://, rediss://, unix://) that returns str values. Its pool
    makes callers wait for a free connection rather than fail (the poller alone may have a
    hundred polls talking to Redis at once)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=30, decode_responses=True,
        health_check_interval=30, socket_connect_timeout=5, retry_on_timeout=True,
    )
    return aioredis.Redis.from_pool(pool)


def _split(template: str) -> tuple[str, str]:
    head, _, tail = template.partition("\0")
    return head, tail


class Store:
    """Feed state, seen sets, per-chat dedup and the due schedule, in Redis."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._queue_articles = redis.register_script(QUEUE_ARTICLES_LUA)
        self._check_articles = redis.register_script(CHECK_ARTICLES_LUA)
        self._claim_states = redis.register_script(CLAIM_STATES_LUA)
        self._release = redis.register_script(RELEASE_LUA)
        self._commit = redis.register_script(COMMIT_LUA)
        self._templates = [*_split(keys.feed_lease("\0")), *_split(keys.feed_state("\0"))]

    # -- feed state -------------------------------------------------------------------------
    async def feed_state(self, feed_id: str) -> dict[str, str]:
        return await self.redis.hgetall(keys.feed_state(feed_id))

    async def feed_states(self, feed_ids: Sequence[str], fields: Sequence[str]
                          ) -> list[dict[str, str]]:
        """The given state fields of many feeds (pipelined; absent fields left out)."""
        states: list[dict[str, str]] = []
        for start in range(0, len(feed_ids), 500):
            async with self.redis.pipeline(transaction=False) as pipe:
                for feed_id in feed_ids[start:start + 500]:
                    pipe.hmget(keys.feed_state(feed_id), list(fields))
                answers = await pipe.execute()
            states.extend({k: v for k, v in zip(fields, values) if v is not None}
                          for values in answers)
        return states

    async def update_feed_state(self, feed_id: str, values: dict[str, str | int | float]) -> None:
        clean = {k: ("" if v is None else v) for k, v in values.items()}
        await self.redis.hset(keys.feed_state(feed_id), mapping=clean)

    async def commit(self, worker: str, writes: Sequence[StateWrite]) -> None:
        """Write many polls' states and due times, and release their leases, in one step."""
        for start in range(0, len(writes), 1000):
            batch = [[w.feed_id, float(w.next_due), 1 if w.claimed else 0,
                      {k: "" if v is None else str(v) for k, v in w.fields.items()}]
                     for w in writes[start:start + 1000]]
            await self._commit(keys=[keys.feeds_due()],
                               args=[worker, *self._templates,
                                     json.dumps(batch, ensure_ascii=False)])

    # -- dedup --------------------------------------------------------------------------------
    async def seen_identities(self, feed_id: str, identities: Sequence[str]) -> set[str]:
        """Which of these identity keys the feed has already seen."""
        if not identities:
            return set()
        members = [compact_identity(k) for k in identities] + list(identities)
        scores = await self.redis.zmscore(keys.feed_seen(feed_id), members)
        found = {member for member, score in zip(members, scores) if score is not None}
        return {k for k in identities if k in found or compact_identity(k) in found}

    async def check_articles(self, feed_id: str,
                             articles: Sequence[tuple[Sequence[str], str]], *,
                             now: float | None = None, window: int | None = None) -> list[int]:
        """For each (identity keys, content hash) of a feed's current items: NEW, SEEN, or
        CHANGED (seen, and its content hash differs from the one recorded, which is replaced).
        Seen items are touched, so the window keeps what the feed still lists."""
        if not articles:
            return []
        args: list[str | int] = [int(time.time() if now is None else now),
                                 window or keys.SEEN_WINDOW, keys.SEEN_TTL_S, len(articles)]
        for identities, content_hash in articles:
            args += [len(identities), _content(content_hash), *identities]
        answer = await self._check_articles(
            keys=[keys.feed_seen(feed_id), keys.feed_content(feed_id)], args=args)
        return [int(status) for status in answer]

    async def queue_article(
        self,
        feed_id: str | None,
        identities: Sequence[str],
        deliveries: Sequence[Delivery | None],
        *,
        now: float | None = None,
        fingerprint: str = "",
        content_hash: str = "",
    ) -> QueueOutcome:
        """Atomically mark the article seen for `feed_id` (None: an editor's push) and queue each
        delivery whose chat has not had the article yet. A None delivery only marks seen."""
        [outcome] = await self.queue_articles(
            feed_id, [ArticleToQueue(tuple(identities), tuple(deliveries), fingerprint,
                                     content_hash)], now=now)
        return outcome

    async def queue_articles(
        self,
        feed_id: str | None,
        articles: Sequence[ArticleToQueue],
        *,
        now: float | None = None,
        window: int | None = None,
        fingerprint_window_s: float = keys.FINGERPRINT_WINDOW_S,
    ) -> list[QueueOutcome]:
        """`queue_article` for several articles of one feed, in this order, in one step. Items
        the feed had seen are touched and reported `changed` when their content hash differs."""
        if not articles:
            return []
        chats: dict[str, int] = {}
        script_keys = [keys.feed_seen(feed_id) if feed_id else keys.deliveries(),
                       keys.deliveries(),
                       keys.feed_content(feed_id) if feed_id else keys.deliveries()]
        args: list[str | int] = [
            int(time.time() if now is None else now), window or keys.SEEN_WINDOW,
            keys.SEEN_TTL_S, keys.POSTED_TTL_S, max(1, int(fingerprint_window_s)),
            1 if feed_id else 0, feed_id or "", len(articles)]
        for article in articles:
            real = [d for d in article.deliveries if d is not None]
            args += [len(article.identities), article.fingerprint, _content(article.content_hash),
                     len(real), *article.identities]
            for delivery in real:
                index = chats.get(delivery.chat)
                if index is None:
                    index = chats[delivery.chat] = len(chats) + 1
                    script_keys += [keys.chat_posted(delivery.chat),
                                    keys.chat_fingerprints(delivery.chat)]
                args += [index, delivery.to_json()]
        answer = await self._queue_articles(keys=script_keys, args=args)
        outcomes = []
        pos = 0
        for article in articles:
            status, count = int(answer[pos]), int(answer[pos + 1])
            real = [d for d in article.deliveries if d is not None]
            queued = tuple(real[int(i) - 1].chat for i in answer[pos + 2:pos + 2 + count])
            pos += 2 + count
            outcomes.append(QueueOutcome(already_seen=status != NEW_STATUS,
                                         queued_chats=queued, changed=status == CHANGED))
        return outcomes

    # -- scheduling ---------------------------------------------------------------------------
    async def schedule(self, feed_id: str, due_at: float, *, only_if_new: bool = False) -> None:
        await self.schedule_many([feed_id], due_at, only_if_new=only_if_new)

    async def schedule_many(self, feed_ids: Iterable[str], due_at: float, *,
                            only_if_new: bool = False) -> None:
        """`schedule` for many feeds (in chunks of a thousand)."""
        ids = list(feed_ids)
        for start in range(0, len(ids), 1000):
            await self.redis.zadd(keys.feeds_due(),
                                  dict.fromkeys(ids[start:start + 1000], due_at),
                                  nx=only_if_new)

    async def unschedule_except(self, feed_ids: set[str]) -> None:
        """Drop schedule entries of feeds that are no longer configured."""
        scheduled = await self.redis.zrange(keys.feeds_due(), 0, -1)
        stale = [f for f in scheduled if f not in feed_ids]
        if stale:
            await self.redis.zrem(keys.feeds_due(), *stale)

    async def claim_due(self, worker: str, *, limit: int, lease_s: float,
                        now: float | None = None) -> list[str]:
        """Claim up to `limit` due feeds with a lease; their ids only."""
        claimed = await self.claim_due_states(worker, (), limit=limit, lease_s=lease_s, now=now)
        return [feed_id for feed_id, _ in claimed]

    async def claim_due_states(self, worker: str, fields: Sequence[str], *, limit: int,
                               lease_s: float, now: float | None = None
                               ) -> list[tuple[str, dict[str, str]]]:
        """Claim up to `limit` due feeds with a lease, answering each one's state `fields`."""
        now = time.time() if now is None else now
        answer = await self._claim_states(
            keys=[keys.feeds_due()],
            args=[now, limit, int(max(1, lease_s)), worker, *self._templates, *fields])
        return [(feed_id, state) for feed_id, state in json.loads(answer)]

    async def release(self, feed_id: str, worker: str, next_due: float) -> None:
        """Set the feed's next due time and drop our lease (only if it is still ours)."""
        await self._release(keys=[keys.feeds_due(), keys.feed_lease(feed_id)],
                            args=[feed_id, next_due, worker])

    async def next_due(self) -> float | None:
        first = await self.redis.zrange(keys.feeds_due(), 0, 0, withscores=True)
        return float(first[0][1]) if first else None
