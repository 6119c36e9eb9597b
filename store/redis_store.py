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
from redis.typing import EncodableT, FieldT

from model.delivery import Delivery
from store import keys
from store.article_scripts import (
    CHECK_ARTICLES_LUA,
    QUEUE_ARTICLES_LUA,
    SAME_STORY_SIMILARITY,
    SKETCH_SIZE,
)
from store.fates import fate_prefixes, fates_key

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

# Writes many polls' results at once: state fields, next due time, (for claimed feeds) the
# lease, dropped only if still ours, and for a feed that answered, its seen set's expiry. A
# claimed feed is rescheduled only while it is still on the schedule (XX), so a feed removed
# from the config meanwhile does not come back.
# ARGV: worker, the key templates (as for the claim), then one JSON array of
# [feed id, due, claimed (1/0), {field: value as text}] (one argument for the whole batch),
# then the seen and content key templates and the seen sets' TTL.
COMMIT_LUA = """
local due_key, worker = KEYS[1], ARGV[1]
local lease_head, lease_tail, state_head, state_tail = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local writes = cjson.decode(ARGV[6])
local seen_head, seen_tail, content_head, content_tail = ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local seen_ttl = tonumber(ARGV[11])
for _, write in ipairs(writes) do
  local feed_id, due, claimed, fields = write[1], write[2], write[3], write[4]
  local pairs_ = {}
  for name, value in pairs(fields) do
    pairs_[#pairs_ + 1] = name
    pairs_[#pairs_ + 1] = value
  end
  if #pairs_ > 0 then redis.call('HSET', state_head .. feed_id .. state_tail, unpack(pairs_)) end
  if fields['last_ok'] then
    -- A feed that answered (even 304) keeps its memory: a quiet feed's seen set must not
    -- expire and bring its old items back as new.
    redis.call('EXPIRE', seen_head .. feed_id .. seen_tail, seen_ttl)
    redis.call('EXPIRE', content_head .. feed_id .. content_tail, seen_ttl)
  end
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

def _url_of(deliveries: Sequence[Delivery | None]) -> str:
    return next((d.url for d in deliveries if d is not None and d.url), "")


_HEX64 = re.compile(r"[0-9a-f]{64}")


def compact_identity(key: str) -> str:
    """The member a feed's seen set stores for an identity key (as the Lua `compact` does)."""
    return key[:12] if len(key) == 64 and _HEX64.fullmatch(key) else key


def _content(content_hash: str) -> str:
    # 32 bits of the content hash: an edit goes unnoticed with odds of 1 in 4 billion.
    return content_hash[:8]


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A chat that did not get a new article because it already had it: by its link (the
    same canonical link or web guid reached the chat through any feed), or by its story (the
    same title and text from another feed). `link` and `feed` name what the chat got."""

    chat: str
    reason: str                    # store.fates DUPLICATE_LINK | DUPLICATE_STORY
    link: str = ""
    feed: str = ""


@dataclass(frozen=True, slots=True)
class QueueOutcome:
    """Result of queueing one article: whether the feed had seen it, the chats queued (or held
    while paused), and the chats that had it already."""

    already_seen: bool
    queued_chats: tuple[str, ...]
    changed: bool = False          # seen before, and its content hash changed since
    duplicates: tuple[Duplicate, ...] = ()


@dataclass(frozen=True, slots=True)
class ChatSkip:
    """A chat a new article is not queued for, and why (recorded as its fate there)."""

    chat: str
    reason: str
    detail: str = ""
    fate: str = "skipped"          # skipped | held (a review card waits for an editor)


@dataclass(frozen=True, slots=True)
class ArticleToQueue:
    """One article for `Store.queue_articles`: its identity keys (the first is its uid), one
    delivery per chat (None: only mark it seen), and optionally its title fingerprint and text
    sketch (cross-feed stories), content hash (edits), legacy keys (seen check only), link
    (fates), the chats it skips and why, and the chats whose deliveries wait while paused."""

    identities: tuple[str, ...]
    deliveries: tuple[Delivery | None, ...]
    fingerprint: str = ""
    content_hash: str = ""
    legacy: tuple[str, ...] = ()
    sketch: str = ""
    url: str = ""
    skips: tuple[ChatSkip, ...] = ()
    paused: frozenset[str] = frozenset()


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
        raw = await self.redis.hgetall(keys.feed_state(feed_id))
        return {str(k): str(v) for k, v in raw.items()}

    async def feed_states(self, feed_ids: Sequence[str], fields: Sequence[str]
                          ) -> list[dict[str, str]]:
        """The given state fields of many feeds (pipelined; absent fields left out)."""
        states: list[dict[str, str]] = []
        for start in range(0, len(feed_ids), 500):
            async with self.redis.pipeline(transaction=False) as pipe:
                for feed_id in feed_ids[start:start + 500]:
                    pipe.hmget(keys.feed_state(feed_id), list(fields))
                answers = await pipe.execute()
            states.extend({k: v for k, v in zip(fields, values, strict=True) if v is not None}
                          for values in answers)
        return states

    async def update_feed_state(self, feed_id: str, values: dict[str, str | int | float]) -> None:
        clean: dict[FieldT, EncodableT] = {k: ("" if v is None else v) for k, v in values.items()}
        await self.redis.hset(keys.feed_state(feed_id), mapping=clean)

    async def commit(self, worker: str, writes: Sequence[StateWrite]) -> None:
        """Write many polls' states and due times, and release their leases, in one step."""
        for start in range(0, len(writes), 1000):
            batch = [[w.feed_id, float(w.next_due), 1 if w.claimed else 0,
                      {k: "" if v is None else str(v) for k, v in w.fields.items()}]
                     for w in writes[start:start + 1000]]
            await self._commit(keys=[keys.feeds_due()],
                               args=[worker, *self._templates,
                                     json.dumps(batch, ensure_ascii=False),
                                     *_split(keys.feed_seen("\0")),
                                     *_split(keys.feed_content("\0")), keys.SEEN_TTL_S])

    # -- dedup --------------------------------------------------------------------------------
    async def seen_identities(self, feed_id: str, identities: Sequence[str]) -> set[str]:
        """Which of these identity keys the feed has already seen."""
        if not identities:
            return set()
        members = [compact_identity(k) for k in identities] + list(identities)
        scores = await self.redis.zmscore(keys.feed_seen(feed_id), members)
        found = {member for member, score in zip(members, scores, strict=True) if score is not None}
        return {k for k in identities if k in found or compact_identity(k) in found}

    async def check_articles(self, feed_id: str,
                             articles: Sequence[tuple[Sequence[str], str]
                                                | tuple[Sequence[str], str, Sequence[str]]], *,
                             now: float | None = None, window: int | None = None) -> list[int]:
        """For each (identity keys, content hash[, legacy keys]) of a feed's current items:
        NEW, SEEN, or CHANGED (seen, and its content hash differs from the one recorded, which
        is replaced). Seen items are touched, so the window keeps what the feed still lists."""
        if not articles:
            return []
        args: list[str | int] = [int(time.time() if now is None else now),
                                 window or keys.SEEN_WINDOW, keys.SEEN_TTL_S, len(articles)]
        for item in articles:
            identities, content_hash = item[0], item[1]
            legacy: Sequence[str] = item[2] if len(item) > 2 else ()
            args += [len(identities), len(legacy), _content(content_hash), *identities,
                     *legacy]
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
        url: str = "",
    ) -> QueueOutcome:
        """Atomically mark the article seen for `feed_id` (None: an editor's push) and queue each
        delivery whose chat has not had the article yet. A None delivery only marks seen."""
        [outcome] = await self.queue_articles(
            feed_id, [ArticleToQueue(tuple(identities), tuple(deliveries), fingerprint,
                                     content_hash, url=url or _url_of(deliveries))], now=now)
        return outcome

    async def queue_articles(
        self,
        feed_id: str | None,
        articles: Sequence[ArticleToQueue],
        *,
        now: float | None = None,
        window: int | None = None,
        fingerprint_window_s: float = keys.FINGERPRINT_WINDOW_S,
        feed_url: str = "",
        mark_first_polled: bool = False,
        similarity: float = SAME_STORY_SIMILARITY,
    ) -> list[QueueOutcome]:
        """`queue_article` for several articles of one feed, in this order, in one step, each
        chat's fate recorded with it. Items the feed had seen are touched and reported
        `changed` when their content hash differs. With `mark_first_polled`, the feed's state
        says it was polled (in the same step, so a failure here makes the next poll a first
        run again rather than losing its items)."""
        if not articles:
            return []
        chats: dict[str, int] = {}
        hour_prefix, skipped_key = fate_prefixes()
        script_keys = [keys.feed_seen(feed_id) if feed_id else keys.deliveries(),
                       keys.deliveries(),
                       keys.feed_content(feed_id) if feed_id else keys.deliveries(),
                       keys.held()]
        args: list[str | int | float] = [
            int(time.time() if now is None else now), window or keys.SEEN_WINDOW,
            keys.SEEN_TTL_S, keys.POSTED_TTL_S, max(1, int(fingerprint_window_s)),
            1 if feed_id else 0, feed_id or "", feed_url, len(articles), hour_prefix,
            skipped_key, similarity, SKETCH_SIZE,
            keys.feed_state(feed_id) if feed_id and mark_first_polled else "",
            keys.delivery_paused_held()]
        for article in articles:
            real = [d for d in article.deliveries if d is not None]
            url = article.url or _url_of(real)
            uid = article.identities[0] if article.identities else ""
            args += [len(article.identities), len(article.legacy), article.fingerprint,
                     _content(article.content_hash), article.sketch, url, fates_key(url, uid),
                     len(real), len(article.skips), *article.identities, *article.legacy]
            for delivery in real:
                index = chats.get(delivery.chat)
                if index is None:
                    index = chats[delivery.chat] = len(chats) + 1
                    script_keys += [keys.chat_posted(delivery.chat),
                                    keys.chat_fingerprints(delivery.chat),
                                    keys.chat_origins(delivery.chat),
                                    keys.chat_stories(delivery.chat)]
                args += [index, 1 if delivery.chat in article.paused else 0, delivery.to_json()]
            for skip in article.skips:
                args += [skip.chat, skip.fate, skip.reason, skip.detail]
        answer = await self._queue_articles(keys=script_keys, args=args)
        outcomes = []
        pos = 0
        for article in articles:
            status, count = int(answer[pos]), int(answer[pos + 1])
            real = [d for d in article.deliveries if d is not None]
            queued = tuple(real[int(i) - 1].chat for i in answer[pos + 2:pos + 2 + count])
            pos += 2 + count
            ndup = int(answer[pos])
            dups = []
            for k in range(ndup):
                index, reason, detail = answer[pos + 1 + 3 * k:pos + 4 + 3 * k]
                link, _, feed = str(detail).partition("\x1f")
                dups.append(Duplicate(real[int(index) - 1].chat, str(reason), link, feed))
            pos += 1 + 3 * ndup
            outcomes.append(QueueOutcome(already_seen=status != NEW_STATUS,
                                         queued_chats=queued, changed=status == CHANGED,
                                         duplicates=tuple(dups)))
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
        stale = [str(f) for f in scheduled if f not in feed_ids]
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
