"""Editors' decisions on review cards and /push previews, each one atomic step in Redis.

A decision moves the record's state (compare-and-set: of two presses at once exactly one wins,
and the loser learns who won from the same step), enqueues the deliveries (per-chat dedup as
feed posts have it, or past it for "publish anyway"), records each chat's fate, and takes the
card off the schedule and out of the open index: all in DECIDE_LUA. No state in between
("publishing") exists, so a Redis error or a crash leaves the piece either undecided (and it
can be decided again) or decided and queued; never "published" with nothing sent.

    won = await Decisions(redis).decide(keys.bot_review(card), Decision(...))

Scheduling and unscheduling (MOVE_LUA) change the state and the schedule together too.
"""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from model.delivery import Delivery
from store import keys
from store.article_scripts import POSTED_LIB
from store.fates import FATES_LUA, fate_prefixes, fates_key

WON, LOST, GONE = 1, 0, -1

# KEYS: record, stream, schedule, open index, unshown, held stream, paused set, skipped list,
#       then per chat: posted, origins.
# ARGV: 1 expected states (comma), 2 new state, 3 state when a chat had it already ('' new
#       state), 4 state when nothing was queued, held or a duplicate, 5 user id, 6 name, 7 now,
#       8 card ('' a push preview), 9 due only (1: the card must be on the schedule and due),
#       10 force (1: past the dedup), 11 TTL once decided (0 keep), 12 posted TTL,
#       13 fate hour prefix, 14 skipped list, 15 fates key, 16 url, 17 feed url, 18 uid,
#       19 tag (feed id), 20 the chats it could not go to (JSON, kept on the record),
#       21 ids, 22 deliveries, 23 fates, then the ids, (chat index, paused, payload) per
#       delivery, (chat, fate, reason, detail) per fate.
# Returns {1, state, queued json, duplicates json, held json} | {0, state, who} | {-1}.
DECIDE_LUA = POSTED_LIB + FATES_LUA + """
local record, stream, schedule, open_index = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local unshown, held_stream, paused_set = KEYS[5], KEYS[6], KEYS[7]
local now, card = tonumber(ARGV[7]), ARGV[8]
local current = redis.call('HGET', record, 'state')
if not current then return {-1} end
local allowed = false
for expected in string.gmatch(ARGV[1], '[^,]+') do
  if expected == current then allowed = true end
end
if allowed and ARGV[9] == '1' then
  local due = redis.call('ZSCORE', schedule, card)
  allowed = due ~= false and tonumber(due) <= now
end
if not allowed then
  local who = redis.call('HGET', record, 'decided_name')
  if not who or who == '' then who = redis.call('HGET', record, 'decided_by') or '' end
  return {0, current, who}
end
local force, posted_ttl = ARGV[10] == '1', tonumber(ARGV[12])
local hour_prefix, skipped_key, fkey = ARGV[13], ARGV[14], ARGV[15]
local url, feed_url, uid, tag = ARGV[16], ARGV[17], ARGV[18], ARGV[19]
local nids, ndel, nfates = tonumber(ARGV[21]), tonumber(ARGV[22]), tonumber(ARGV[23])
local ids = {}
for i = 1, nids do ids[i] = ARGV[23 + i] end
local pos = 24 + nids
local short_uid = uid
if #uid == 64 and not uid:find('[^0-9a-f]') then short_uid = uid:sub(1, 12) end

-- A chat whose fate of the article is settled keeps it when a duplicate is found there (a
-- post is not turned into a skip); a piece waiting for review is not settled.
local function settled(chat)
  local raw = redis.call('HGET', fkey, chat)
  if not raw then return false end
  local f = cjson.decode(raw)
  return f.f == 'queued' or f.f == 'posted' or (f.f == 'held' and f.r ~= 'review')
end

local queued, dups, held = {}, {}, {}
for d = 1, ndel do
  local c, paused, payload = tonumber(ARGV[pos]), ARGV[pos + 1] == '1', ARGV[pos + 2]
  pos = pos + 3
  local posted, origins = KEYS[7 + 2 * c], KEYS[8 + 2 * c]
  local chat = cjson.decode(payload).chat
  local origin = nil
  if not force then
    for i = 1, nids do
      if redis.call('ZSCORE', posted, ids[i]) then
        origin = redis.call('HGET', origins, ids[i]) or ''
        break
      end
    end
  end
  if origin then
    table.insert(dups, chat)
    if not settled(chat) then
      record_fate(fkey, chat, 'skipped', 'duplicate_link', origin, feed_url, uid, url, '', now,
                  hour_prefix, skipped_key)
    end
  else
    mark_posted(posted, origins, ids, nids, url, feed_url, now, posted_ttl)
    if paused then
      -- As the queue script holds a paused channel's posts: released when it resumes.
      redis.call('XADD', held_stream, '*', 'd', payload, 'reason', 'paused', 'chat', chat,
                 'entry', 'paused:' .. tag .. ':' .. short_uid .. ':' .. chat,
                 'held_at', tostring(now))
      redis.call('SADD', paused_set, chat)
      record_fate(fkey, chat, 'held', 'paused', '', feed_url, uid, url, '', now, hour_prefix,
                  skipped_key)
      table.insert(held, chat)
    else
      redis.call('XADD', stream, '*', 'd', payload)
      record_fate(fkey, chat, 'queued', '', '', feed_url, uid, url, '', now, hour_prefix,
                  skipped_key)
      table.insert(queued, chat)
    end
  end
end
for f = 1, nfates do
  record_fate(fkey, ARGV[pos], ARGV[pos + 1], ARGV[pos + 2], ARGV[pos + 3], feed_url, uid, url,
              '', now, hour_prefix, skipped_key)
  pos = pos + 4
end

local state = ARGV[2]
if #queued == 0 and #held == 0 and #dups == 0 then
  state = ARGV[4]
elseif #dups > 0 and ARGV[3] ~= '' then
  state = ARGV[3]
end
local function list(t) if #t == 0 then return '[]' end return cjson.encode(t) end
local q, du, h = list(queued), list(dups), list(held)
redis.call('HSET', record, 'state', state, 'decided_by', ARGV[5], 'decided_at', ARGV[7],
           'queued', q, 'duplicates', du, 'held', h, 'failed', ARGV[20])
if ARGV[6] ~= '' then redis.call('HSET', record, 'decided_name', ARGV[6]) end
if ARGV[9] == '1' then redis.call('HSET', record, 'by_schedule', 1) end
if card ~= '' then
  redis.call('ZREM', schedule, card)
  redis.call('ZREM', open_index, card)
  redis.call('ZADD', unshown, now, card)
end
if tonumber(ARGV[11]) > 0 then redis.call('EXPIRE', record, tonumber(ARGV[11])) end
return {1, state, q, du, h}
"""

# Schedules ('add', at the score) or unschedules ('rem') a card with its state change.
# KEYS: record, schedule. ARGV: expected (comma), new state, user id, name, now, card, op,
# score. Returns {1, state} | {0, state, who} | {-1}.
MOVE_LUA = """
local record, schedule = KEYS[1], KEYS[2]
local current = redis.call('HGET', record, 'state')
if not current then return {-1} end
for expected in string.gmatch(ARGV[1], '[^,]+') do
  if expected == current then
    redis.call('HSET', record, 'state', ARGV[2], 'decided_by', ARGV[3], 'decided_at', ARGV[5])
    if ARGV[4] ~= '' then redis.call('HSET', record, 'decided_name', ARGV[4]) end
    if ARGV[7] == 'add' then
      redis.call('HSET', record, 'scheduled_for', ARGV[8])
      redis.call('ZADD', schedule, tonumber(ARGV[8]), ARGV[6])
    else
      redis.call('HDEL', record, 'scheduled_for')
      redis.call('ZREM', schedule, ARGV[6])
    end
    return {1, ARGV[2]}
  end
end
local who = redis.call('HGET', record, 'decided_name')
if not who or who == '' then who = redis.call('HGET', record, 'decided_by') or '' end
return {0, current, who}
"""


@dataclass(frozen=True, slots=True)
class ChatFate:
    """A fate to record for one chat with the decision (a rejection, a chat it cannot go to)."""

    chat: str
    fate: str
    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    """What deciding does: the states it moves between, who decides, and what it queues."""

    expected: tuple[str, ...]
    state: str
    user_id: int
    name: str
    url: str = ""
    uid: str = ""
    identities: tuple[str, ...] = ()
    deliveries: tuple[Delivery, ...] = ()
    paused: frozenset[str] = frozenset()
    fates: tuple[ChatFate, ...] = ()
    failed: tuple[str, ...] = ()
    feed_url: str = ""
    feed_id: str = ""
    card: str = ""                 # a review card (schedule, open index); '' for a push preview
    due_only: bool = False         # a scheduled card, published only when due
    force: bool = False            # past the per-chat dedup ("publish anyway")
    dup_state: str = ""            # the state when some chat had it already ('' `state`)
    empty_state: str = ""          # the state when nothing was queued ('' `state`)
    ttl_s: int = 0                 # the record's expiry once decided (0: keep its own)


@dataclass(frozen=True, slots=True)
class Decided:
    """The outcome: WON (then the chats queued, duplicates, held while paused), LOST (then the
    state another decision left and who made it) or GONE."""

    result: int
    state: str = ""
    who: str = ""
    queued: tuple[str, ...] = ()
    duplicates: tuple[str, ...] = ()
    held: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)


def _answer(raw: Sequence[object]) -> Decided:
    result = int(str(raw[0]))
    if result == GONE:
        return Decided(GONE)
    if result == LOST:
        return Decided(LOST, str(raw[1]), str(raw[2]) if len(raw) > 2 else "")
    if len(raw) == 2:
        return Decided(WON, str(raw[1]))
    return Decided(WON, str(raw[1]), queued=tuple(json.loads(str(raw[2]))),
                   duplicates=tuple(json.loads(str(raw[3]))), held=tuple(json.loads(str(raw[4]))))


class Decisions:
    """The scripts, registered once."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._decide = redis.register_script(DECIDE_LUA)
        self._move = redis.register_script(MOVE_LUA)

    async def decide(self, record_key: str, d: Decision, *, now: float | None = None) -> Decided:
        """Move the record from one of `d.expected` to its new state, queueing and recording
        fates, in one step."""
        now = time.time() if now is None else now
        chats: dict[str, int] = {}
        chat_keys: list[str] = []
        per_delivery: list[str | int] = []
        for delivery in d.deliveries:
            index = chats.get(delivery.chat)
            if index is None:
                index = chats[delivery.chat] = len(chats) + 1
                chat_keys += [keys.chat_posted(delivery.chat), keys.chat_origins(delivery.chat)]
            per_delivery += [index, 1 if delivery.chat in d.paused else 0, delivery.to_json()]
        hour_prefix, skipped = fate_prefixes()
        args: list[str | int | float] = [
            ",".join(d.expected), d.state, d.dup_state, d.empty_state or d.state, int(d.user_id),
            d.name, now, d.card, 1 if d.due_only else 0, 1 if d.force else 0, d.ttl_s,
            keys.POSTED_TTL_S, hour_prefix, skipped, fates_key(d.url, d.uid), d.url,
            d.feed_url, d.uid, d.feed_id, json.dumps(list(d.failed), ensure_ascii=False),
            len(d.identities), len(d.deliveries), len(d.fates), *d.identities, *per_delivery]
        for fate in d.fates:
            args += [fate.chat, fate.fate, fate.reason, fate.detail]
        raw = await self._decide(
            keys=[record_key, keys.deliveries(), keys.bot_review_schedule(),
                  keys.bot_review_open(), keys.bot_review_unshown(), keys.held(),
                  keys.delivery_paused_held(), keys.fates_skipped(), *chat_keys],
            args=args)
        return _answer(raw)

    async def schedule(self, card: str, at: float, user_id: int, name: str) -> Decided:
        """An open card scheduled for `at`."""
        return await self._moved(card, ("open",), "scheduled", user_id, name, "add", at)

    async def unschedule(self, card: str, user_id: int, name: str) -> Decided:
        """A scheduled card open again."""
        return await self._moved(card, ("scheduled",), "open", user_id, name, "rem", 0)

    async def _moved(self, card: str, expected: tuple[str, ...], state: str, user_id: int,
                     name: str, op: str, score: float) -> Decided:
        raw = await self._move(keys=[keys.bot_review(card), keys.bot_review_schedule()],
                               args=[",".join(expected), state, int(user_id), name, time.time(),
                                     card, op, score])
        return _answer(raw)

    async def shown(self, card: str) -> None:
        """The card in review_chat shows its decision now."""
        await self.redis.zrem(keys.bot_review_unshown(), card)

    async def unshown(self, older_than: float, limit: int = 20) -> list[str]:
        """Decided cards whose card was not updated, decided before `older_than`."""
        return [str(c) for c in await self.redis.zrangebyscore(keys.bot_review_unshown(), "-inf",
                                                   older_than, start=0, num=limit)]
