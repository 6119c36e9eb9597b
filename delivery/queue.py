"""The delivery queue in Redis: an intake stream, then one ordered queue per chat.

Life of a delivery (docs/delivery.md has the whole story):

1. **Intake.** The poller's queue script (and editors' pushes) `XADD` one entry per post per chat
   to the stream `deliveries`. Senders read it through the consumer group `senders`; entries a
   sender read but did not route (it died) are taken over with `XAUTOCLAIM` after the lease.
2. **Route** (`ROUTE_LUA`, atomic): the entry goes into its chat's queue, a sorted set ordered
   by (editors' pushes first, then article date), its JSON into `deliveries:items`, and the
   stream entry is acknowledged and deleted, all in one step: nothing is lost or routed twice.
3. **Claim** (`CLAIM_LUA`): a sender leases a whole *chat*, never a single entry: the chat whose
   turn it is (pushes first, then the chat waiting longest) and whose own rate limits allow a
   message now. It gets the chat's head entry and a reserved send slot under the overall limit.
   Only the lease holder sends to a chat, so a chat's posts go out one by one in order even with
   many replicas. Expired leases (a dead sender) go back to the ready sets on the next claim.
4. **Send**, then **complete** (`COMPLETE_LUA`, atomic): the "sent" record is written and the
   entry removed in the same script, and the chat is released for its next post. A sender that
   dies between Telegram's answer and this script leaves the entry at the chat's head; the next
   claimer checks the sent record first, so a crash costs at most the sends in flight.

Posts that cannot go now are never dropped: a chat that forbids the bot is *blocked* and its
posts move to the `deliveries:held` stream (released again with `release_held`); a post
Telegram refuses for itself is held alone.
"""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from delivery.ratelimit import RateLimits, limit_args, limit_keys, limited_script
from model.delivery import EDIT_CAPTION, EDIT_TEXT, Delivery, Posted, SentRecord
from store import keys

POSTS_LOG_KEEP = 200

Arg = str | int | float  # what a script argument may be

# Locals for the queue's keys and args; they follow the rate-limit ones (KEYS[1..4],
# ARGV[1..8]), so each script's own keys start at KEYS[15] and its args at ARGV[12].
_QUEUE_PREAMBLE = """
local Q_ITEMS, Q_ATTEMPTS, Q_READY1, Q_READY0 = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local Q_LEASED, Q_OWNERS, Q_BLOCKED, Q_MIGRATED = KEYS[9], KEYS[10], KEYS[11], KEYS[12]
local Q_HELD, Q_STREAM = KEYS[13], KEYS[14]
local Q_PREFIX, Q_BAND, Q_GROUP = ARGV[9], tonumber(ARGV[10]), ARGV[11]

local function q_key(chat) return Q_PREFIX .. chat end

-- Put a chat nobody holds into the ready set its head belongs to (1: an editor's push).
-- With `keep`, a ready time it already has stays (a chat waiting out a flood-wait keeps waiting).
local function q_place(chat, at, keep)
  local head = redis.call('ZRANGE', q_key(chat), 0, 0, 'WITHSCORES')
  local s1 = redis.call('ZSCORE', Q_READY1, chat)
  local s0 = redis.call('ZSCORE', Q_READY0, chat)
  if #head == 0 then
    if s1 then redis.call('ZREM', Q_READY1, chat) end
    if s0 then redis.call('ZREM', Q_READY0, chat) end
    return
  end
  local old = s1 or s0
  if keep and old then at = tonumber(old) end
  local target, other = Q_READY0, Q_READY1
  if tonumber(head[2]) < Q_BAND then target, other = Q_READY1, Q_READY0 end
  redis.call('ZREM', other, chat)
  redis.call('ZADD', target, at, chat)
end

-- Give a chat's lease back (only the holder can), making the chat ready again from `at`.
local function q_release(chat, token, at)
  if redis.call('HGET', Q_OWNERS, chat) ~= token then return 0 end
  redis.call('ZREM', Q_LEASED, chat)
  redis.call('HDEL', Q_OWNERS, chat)
  q_place(chat, at, false)
  return 1
end

-- Stop serving a chat (blocked, or moved to a new id): drop the lease if `token` holds it and
-- take the chat off both ready sets.
local function q_retire(chat, token)
  if redis.call('HGET', Q_OWNERS, chat) == token then
    redis.call('ZREM', Q_LEASED, chat)
    redis.call('HDEL', Q_OWNERS, chat)
  end
  redis.call('ZREM', Q_READY1, chat)
  redis.call('ZREM', Q_READY0, chat)
end

local function q_forget(entry)
  redis.call('HDEL', Q_ITEMS, entry)
  redis.call('HDEL', Q_ATTEMPTS, entry, entry .. ':maybe')
end

-- Move one queued entry to the held stream, with why.
local function q_hold(chat, entry, reason, now)
  local payload = redis.call('HGET', Q_ITEMS, entry)
  if payload then
    redis.call('XADD', Q_HELD, '*', 'd', payload, 'reason', reason, 'chat', chat,
               'entry', entry, 'held_at', tostring(now))
  end
  redis.call('ZREM', q_key(chat), entry)
  q_forget(entry)
end

-- Where a chat lives now (groups upgraded to supergroups get a new id).
local function q_follow(chat)
  for _ = 1, 8 do
    local nxt = redis.call('HGET', Q_MIGRATED, chat)
    if not nxt then return chat end
    chat = nxt
  end
  return chat
end
"""


def _queue_script(body: str) -> str:
    return limited_script(_QUEUE_PREAMBLE + body)


# ARGV[12]: n, then n times (entry id, chat, score, payload). chat '' = unreadable entry.
ROUTE_LUA = _queue_script("""
local n = tonumber(ARGV[12])
local now = now_ms()
local routed, held = 0, 0
for i = 0, n - 1 do
  local entry, chat = ARGV[13 + 4 * i], ARGV[14 + 4 * i]
  local score, payload = ARGV[15 + 4 * i], ARGV[16 + 4 * i]
  -- XACK answers 1 only to the first router of an entry: a reclaimed one is not routed twice.
  if redis.call('XACK', Q_STREAM, Q_GROUP, entry) == 1 then
    local reason = 'unreadable entry'
    if chat ~= '' then
      chat = q_follow(chat)
      reason = redis.call('HGET', Q_BLOCKED, chat)
    end
    if reason then
      redis.call('XADD', Q_HELD, '*', 'd', payload, 'reason', reason, 'chat', chat,
                 'entry', entry, 'held_at', tostring(now))
      held = held + 1
    else
      redis.call('HSET', Q_ITEMS, entry, payload)
      redis.call('ZADD', q_key(chat), score, entry)
      if not redis.call('ZSCORE', Q_LEASED, chat) then q_place(chat, now, true) end
      routed = routed + 1
    end
  end
  redis.call('XDEL', Q_STREAM, entry)
end
return {routed, held}
""")

# ARGV[12] token, ARGV[13] lease ms. Returns {1, slot wait ms, chat, entry, payload, attempts,
# maybe, rate-limit member} or {0, wait ms, 'pause' | 'later' | 'empty'} (wait -1: nothing
# scheduled at all).
CLAIM_LUA = _queue_script("""
local token, lease_ms = ARGV[12], tonumber(ARGV[13])
local now = now_ms()
local expired = redis.call('ZRANGEBYSCORE', Q_LEASED, '-inf', now, 'LIMIT', 0, 50)
for _, chat in ipairs(expired) do
  redis.call('ZREM', Q_LEASED, chat)
  redis.call('HDEL', Q_OWNERS, chat)
  q_place(chat, now, false)
end
local paused = tonumber(redis.call('GET', RL_PAUSE) or '0')
if paused > now then return {0, paused - now, 'pause'} end
local checked = 0
for _, ready in ipairs({Q_READY1, Q_READY0}) do
  while checked < 64 do
    local candidates = redis.call('ZRANGEBYSCORE', ready, '-inf', now, 'LIMIT', 0, 8)
    if #candidates == 0 then break end
    for _, chat in ipairs(candidates) do
      checked = checked + 1
      local head = redis.call('ZRANGE', q_key(chat), 0, 0)
      if #head == 0 then
        redis.call('ZREM', ready, chat)
      else
        local at = rl_chat_ready(chat, now)
        if at > now then
          redis.call('ZADD', ready, at, chat)
        else
          redis.call('ZREM', ready, chat)
          redis.call('ZADD', Q_LEASED, now + lease_ms, chat)
          redis.call('HSET', Q_OWNERS, chat, token)
          local slot, member = rl_reserve(chat, now)
          local entry = head[1]
          local maybe = 0
          if redis.call('HEXISTS', Q_ATTEMPTS, entry .. ':maybe') == 1 then maybe = 1 end
          return {1, math.ceil(slot - now), chat, entry, redis.call('HGET', Q_ITEMS, entry) or '',
                  tonumber(redis.call('HGET', Q_ATTEMPTS, entry) or '0'), maybe, member}
        end
      end
    end
  end
end
local next_at = nil
for _, ready in ipairs({Q_READY1, Q_READY0}) do
  local first = redis.call('ZRANGE', ready, 0, 0, 'WITHSCORES')
  if #first > 0 and (not next_at or tonumber(first[2]) < next_at) then
    next_at = tonumber(first[2])
  end
end
if next_at then return {0, math.max(next_at - now, 0), 'later'} end
return {0, -1, 'empty'}
""")

# KEYS[15] sent key, KEYS[16] chat stats, KEYS[17] posts log, KEYS[18] post times; ARGV[12]
# chat, [13] entry, [14] token, [15] sent record ('' = write none), [16] its TTL, [17] log entry
# ('' = none), [18] log length, [19] unix time, [20] rate-limit member ('' = not sent now), [21]
# ms since Telegram's answer (measured by the sender), [22] seconds post times are kept.
# Returns {entry was still queued, an attempt may have posted}.
COMPLETE_LUA = _queue_script("""
local sent_key, stats_key, log_key, times_key = KEYS[15], KEYS[16], KEYS[17], KEYS[18]
local chat, entry, token = ARGV[12], ARGV[13], ARGV[14]
local record, ttl, log_entry = ARGV[15], tonumber(ARGV[16]), ARGV[17]
local keep, unix_now = tonumber(ARGV[18]), ARGV[19]
local now = now_ms()
rl_confirm(chat, ARGV[20], now - math.max(0, tonumber(ARGV[21]) or 0))
if record ~= '' then redis.call('SET', sent_key, record, 'EX', ttl) end
local maybe = redis.call('HEXISTS', Q_ATTEMPTS, entry .. ':maybe')
local present = redis.call('ZREM', q_key(chat), entry)
q_forget(entry)
if present == 1 and log_entry ~= '' then
  redis.call('HSET', stats_key, 'last_post', unix_now)
  redis.call('HINCRBY', stats_key, 'posts', 1)
  redis.call('LPUSH', log_key, log_entry)
  redis.call('LTRIM', log_key, 0, keep - 1)
  redis.call('ZADD', times_key, unix_now, entry)
  redis.call('ZREMRANGEBYSCORE', times_key, '-inf', tonumber(unix_now) - tonumber(ARGV[22]))
end
q_release(chat, token, now)
return {present, maybe}
""")

# ARGV[12] chat, [13] entry, [14] token, [15] delay ms, [16] '1' = count a failed attempt,
# [17] '1' = the attempt may have posted, [18] its rate-limit member. Returns {released,
# attempts}.
RELEASE_LUA = _queue_script("""
local chat, entry, token = ARGV[12], ARGV[13], ARGV[14]
local delay, bump, maybe = tonumber(ARGV[15]), ARGV[16] == '1', ARGV[17] == '1'
local now = now_ms()
if maybe then rl_confirm(chat, ARGV[18], now) end
local attempts = 0
if entry ~= '' and redis.call('ZSCORE', q_key(chat), entry) then
  if bump then attempts = redis.call('HINCRBY', Q_ATTEMPTS, entry, 1) end
  if maybe then redis.call('HSET', Q_ATTEMPTS, entry .. ':maybe', '1') end
end
return {q_release(chat, token, now + delay), attempts}
""")

# ARGV[12] chat, [13] entry, [14] token, [15] reason.
HOLD_LUA = _queue_script("""
local chat, entry, token, reason = ARGV[12], ARGV[13], ARGV[14], ARGV[15]
local now = now_ms()
if redis.call('ZSCORE', q_key(chat), entry) then q_hold(chat, entry, reason, now) end
return q_release(chat, token, now)
""")

# ARGV[12] chat, [13] token, [14] reason. Returns {newly blocked, posts held}.
BLOCK_LUA = _queue_script("""
local chat, token, reason = ARGV[12], ARGV[13], ARGV[14]
local now = now_ms()
local newly = redis.call('HSETNX', Q_BLOCKED, chat, reason)
local entries = redis.call('ZRANGE', q_key(chat), 0, -1)
for _, entry in ipairs(entries) do q_hold(chat, entry, reason, now) end
q_retire(chat, token)
return {newly, #entries}
""")

# ARGV[12] old chat, [13] new chat, [14] token. Returns how many posts moved.
MIGRATE_LUA = _queue_script("""
local old, new, token = ARGV[12], ARGV[13], ARGV[14]
local now = now_ms()
if old == new then return 0 end
redis.call('HSET', Q_MIGRATED, old, new)
local moved = redis.call('ZCARD', q_key(old))
if moved > 0 then
  redis.call('ZUNIONSTORE', q_key(new), 2, q_key(new), q_key(old), 'AGGREGATE', 'MIN')
  redis.call('DEL', q_key(old))
end
q_retire(old, token)
if not redis.call('ZSCORE', Q_LEASED, new) then q_place(new, now, true) end
return moved
""")

# ARGV[12] token, [13] lease ms, then the chats. Returns how many leases were still ours.
RENEW_LUA = _queue_script("""
local token, lease_ms = ARGV[12], tonumber(ARGV[13])
local now = now_ms()
local renewed = 0
for i = 14, #ARGV do
  if redis.call('HGET', Q_OWNERS, ARGV[i]) == token then
    redis.call('ZADD', Q_LEASED, 'XX', now + lease_ms, ARGV[i])
    renewed = renewed + 1
  end
end
return renewed
""")

# ARGV[12] chat to unblock ('' = none), [13] n, then n times (held id, entry, chat, score,
# payload): back into the chat queues, out of the held stream.
UNHOLD_LUA = _queue_script("""
if ARGV[12] ~= '' then redis.call('HDEL', Q_BLOCKED, ARGV[12]) end
local n = tonumber(ARGV[13])
local now = now_ms()
for i = 0, n - 1 do
  local held_id, entry, chat = ARGV[14 + 5 * i], ARGV[15 + 5 * i], q_follow(ARGV[16 + 5 * i])
  local score, payload = ARGV[17 + 5 * i], ARGV[18 + 5 * i]
  if redis.call('XDEL', Q_HELD, held_id) == 1 then
    redis.call('HSET', Q_ITEMS, entry, payload)
    redis.call('ZADD', q_key(chat), score, entry)
    if not redis.call('ZSCORE', Q_LEASED, chat) then q_place(chat, now, true) end
  end
end
return n
""")


@dataclass(frozen=True, slots=True)
class QueuedDelivery:
    """A delivery a sender holds: its entry id, the post, and where it goes now."""

    entry_id: str
    delivery: Delivery
    chat: str = ""                 # the chat queue it was claimed from ("" = delivery.chat)
    attempts: int = 0              # failed attempts so far
    maybe_sent: bool = False       # an earlier attempt may have reached Telegram
    delay: float = 0.0             # seconds until its reserved send slot
    slot: str = ""                 # names the reserved send in the rate-limit logs

    @property
    def target(self) -> str:
        return self.chat or self.delivery.chat


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer to a claim: a delivery to send, or how long until there may be one."""

    queued: QueuedDelivery | None
    wait: float                    # seconds; -1 when nothing is scheduled at all
    reason: str                    # claimed | pause | later | empty
    payload_error: str = ""        # set when the claimed entry could not be decoded


@dataclass(frozen=True, slots=True)
class HeldPost:
    held_id: str
    entry_id: str
    chat: str
    reason: str
    delivery: Delivery | None


def sort_score(delivery: Delivery) -> float:
    """Order inside a chat queue: editors' pushes first, then by article date."""
    return (0 if delivery.priority >= 1 else keys.DELIVERY_BAND) + float(delivery.article_time)


class DeliveryQueue:
    """The queue's operations; every multi-step change is one Lua script."""

    def __init__(self, redis: aioredis.Redis, consumer: str) -> None:
        self.redis = redis
        self.consumer = consumer
        self._route = redis.register_script(ROUTE_LUA)
        self._claim = redis.register_script(CLAIM_LUA)
        self._complete = redis.register_script(COMPLETE_LUA)
        self._release = redis.register_script(RELEASE_LUA)
        self._hold = redis.register_script(HOLD_LUA)
        self._block = redis.register_script(BLOCK_LUA)
        self._migrate = redis.register_script(MIGRATE_LUA)
        self._renew = redis.register_script(RENEW_LUA)
        self._unhold = redis.register_script(UNHOLD_LUA)

    # -- shared script arguments ------------------------------------------------------------
    @staticmethod
    def _keys(*extra: str) -> list[str]:
        return [*limit_keys(), keys.delivery_items(), keys.delivery_attempts(),
                keys.delivery_ready(1), keys.delivery_ready(0), keys.delivery_leased(),
                keys.delivery_owners(), keys.delivery_blocked(), keys.delivery_migrated(),
                keys.held(), keys.deliveries(), *extra]

    @staticmethod
    def _args(limits: RateLimits | None, *extra: Arg) -> list[Arg]:
        return [*limit_args(limits or RateLimits.unlimited()), keys.delivery_chat_queue(""),
                keys.DELIVERY_BAND, keys.CONSUMER_GROUP, *extra]

    # -- intake -------------------------------------------------------------------------------
    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(keys.deliveries(), keys.CONSUMER_GROUP, id="0",
                                           mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def push(self, delivery: Delivery) -> str:
        """Queue one delivery directly (edits, tests, tools); feeds go through the Store."""
        fields: dict[Any, Any] = delivery.to_fields()
        return str(await self.redis.xadd(keys.deliveries(), fields))

    async def route_new(self, count: int = 500, block_ms: int | None = None) -> int:
        """Read entries no sender has seen and route them into the chat queues."""
        answer: Any = await self.redis.xreadgroup(
            keys.CONSUMER_GROUP, self.consumer, {keys.deliveries(): ">"}, count=count,
            block=block_ms if block_ms else None,
        )
        entries = [(entry_id, fields) for _, batch in (answer or []) for entry_id, fields in batch]
        return await self.route(entries)

    async def route_stale(self, min_idle_ms: int, count: int = 500) -> int:
        """Take over entries another sender read but did not route within the lease."""
        answer: Any = await self.redis.xautoclaim(
            keys.deliveries(), keys.CONSUMER_GROUP, self.consumer, min_idle_time=min_idle_ms,
            start_id="0-0", count=count,
        )
        return await self.route(list(answer[1]))

    async def route(self, entries: Sequence[tuple[str, dict[str, str] | None]]) -> int:
        """Route intake entries this consumer holds; returns how many were routed or held."""
        gone = [entry_id for entry_id, fields in entries if not fields]
        if gone:  # deleted from the stream but still pending: nothing left to route
            await self.redis.xack(keys.deliveries(), keys.CONSUMER_GROUP, *gone)
        entries = [(entry_id, fields) for entry_id, fields in entries if fields]
        args: list[Arg] = []
        for entry_id, fields in entries:
            payload = (fields or {}).get("d", "")
            try:
                delivery = Delivery.from_json(payload)
                chat, score = delivery.chat, repr(sort_score(delivery))
            except (ValueError, TypeError, KeyError):
                chat, score = "", "0"
            args += [entry_id, chat, score, payload]
        if not entries:
            return 0
        routed, held = await self._route(keys=self._keys(),
                                         args=self._args(None, len(entries), *args))
        return int(routed) + int(held)

    # -- sending ------------------------------------------------------------------------------
    async def claim(self, token: str, lease_ms: int, limits: RateLimits | None) -> Claim:
        """Lease the chat whose turn it is and reserve a send slot for its head entry."""
        answer = await self._claim(keys=self._keys(), args=self._args(limits, token, lease_ms))
        if not int(answer[0]):
            wait = int(answer[1])
            return Claim(None, wait / 1000 if wait >= 0 else -1.0, str(answer[2]))
        _, slot_ms, chat, entry_id, payload, attempts, maybe, member = answer
        error = ""
        try:
            delivery = Delivery.from_json(payload)
        except (ValueError, TypeError, KeyError) as exc:
            error = f"unreadable entry: {exc!r}"
            delivery = Delivery(chat=str(chat), uid="", url="", html="")
        queued = QueuedDelivery(str(entry_id), delivery, chat=str(chat), attempts=int(attempts),
                                maybe_sent=bool(int(maybe)), delay=max(0, int(slot_ms)) / 1000,
                                slot=str(member))
        return Claim(queued, queued.delay, "claimed", error)

    async def sent_record(self, chat: str, uid: str) -> SentRecord | None:
        value = await self.redis.get(keys.sent(chat, uid))
        return SentRecord.parse(str(value), chat) if value else None

    async def already_sent(self, delivery: Delivery) -> str | None:
        """The raw sent record of this delivery's (chat, article), if any."""
        value = await self.redis.get(keys.sent(delivery.chat, delivery.uid))
        return str(value) if value is not None else None

    async def complete(self, queued: QueuedDelivery, token: str, posted: Posted | None,
                       limits: RateLimits | None = None, answered_ago: float = 0.0
                       ) -> tuple[bool, bool]:
        """Telegram accepted it (or it had been sent before, `posted` None): write the sent
        record and remove the entry in one step, and free the chat. Safe to repeat.
        `answered_ago`: seconds since Telegram's answer arrived, so the rate-limit logs count
        the send then rather than now. Returns (the entry was still queued, an earlier attempt
        may have posted too)."""
        delivery = queued.delivery
        record = log_entry = ""
        if posted is not None and not delivery.is_edit:
            record = SentRecord(posted.message_id, queued.target, posted.media).to_json()
            log_entry = json.dumps({
                "chat": delivery.chat, "url": delivery.url, "html": delivery.html,
                "time": time.time(), "message_id": posted.message_id,
                "language": delivery.language, "kind": delivery.kind,
            }, ensure_ascii=False)
        present, maybe = await self._complete(
            keys=self._keys(keys.sent(delivery.chat, delivery.uid),
                            keys.chat_stats(delivery.chat), keys.posts_log(),
                            keys.post_times()),
            args=self._args(limits, queued.target, queued.entry_id, token, record,
                            keys.SENT_TTL_S, log_entry, POSTS_LOG_KEEP, time.time(),
                            queued.slot if posted is not None else "",
                            int(answered_ago * 1000), keys.POST_TIMES_KEEP_S),
        )
        return bool(int(present)), bool(int(maybe))

    async def release(self, queued: QueuedDelivery, token: str, delay: float = 0.0, *,
                      failed: bool = False, maybe_sent: bool = False,
                      limits: RateLimits | None = None) -> int:
        """Give the chat back without finishing its head entry; it may be claimed again after
        `delay` seconds. Returns the entry's failed attempts so far."""
        _, attempts = await self._release(
            keys=self._keys(),
            args=self._args(limits, queued.target, queued.entry_id, token, int(delay * 1000),
                            "1" if failed else "0", "1" if maybe_sent else "0", queued.slot),
        )
        return int(attempts)

    async def hold(self, queued: QueuedDelivery, token: str, reason: str) -> None:
        """Keep one post Telegram will not take aside (held stream) and free the chat."""
        await self._hold(keys=self._keys(),
                         args=self._args(None, queued.target, queued.entry_id, token, reason))

    async def block_chat(self, chat: str, token: str, reason: str) -> tuple[bool, int]:
        """The bot may not post in `chat`: hold its queued posts and those that come later,
        until `release_held`. Returns (newly blocked, posts held now)."""
        newly, count = await self._block(keys=self._keys(),
                                         args=self._args(None, chat, token, reason))
        return bool(int(newly)), int(count)

    async def migrate_chat(self, old: str, new: str, token: str = "") -> int:
        """Move a chat's queue to its new id; later posts for the old id follow."""
        return int(await self._migrate(keys=self._keys(), args=self._args(None, old, new, token)))

    async def renew(self, token: str, lease_ms: int, chats: Sequence[str]) -> int:
        """Extend the leases this sender still holds on `chats`."""
        if not chats:
            return 0
        return int(await self._renew(keys=self._keys(),
                                     args=self._args(None, token, lease_ms, *chats)))

    # -- edits --------------------------------------------------------------------------------
    async def queue_edit(self, chat: str, uid: str, html: str, *, url: str = "",
                         article_time: float = 0.0, preview_url: str | None = None,
                         language: str = "ar", feed_id: str = "", priority: int = 0) -> bool:
        """Queue an edit of the message posted for (chat, article), found through its sent
        record. False when the article was never posted there (nothing to edit)."""
        record = await self.sent_record(chat, uid)
        if record is None:
            return False
        delivery = Delivery(
            chat=record.chat, uid=uid, url=url, html=html, feed_id=feed_id,
            preview_url=preview_url, language=language, article_time=article_time,
            queued_at=time.time(), priority=priority,
            kind=EDIT_CAPTION if record.media == "photo" else EDIT_TEXT,
            message_id=record.message_id)
        await self.push(delivery)
        return True

    # -- held posts and blocked chats -------------------------------------------------------
    async def held_posts(self, chat: str | None = None, limit: int = 1000) -> list[HeldPost]:
        """Held posts, oldest first (of one chat, if given)."""
        found: list[HeldPost] = []
        for held_id, raw in await self.redis.xrange(keys.held(), count=limit) or []:
            fields = {str(k): str(v) for k, v in (raw or {}).items()}
            try:
                delivery: Delivery | None = Delivery.from_fields(fields)
            except (ValueError, TypeError, KeyError):
                delivery = None
            where = fields.get("chat") or (delivery.chat if delivery else "")
            if chat is None or where == chat or (delivery is not None and delivery.chat == chat):
                found.append(HeldPost(str(held_id), fields.get("entry") or str(held_id), where,
                                      fields.get("reason", ""), delivery))
        return found

    async def blocked_chats(self) -> dict[str, str]:
        """Chats the bot may not post in now, with why."""
        return {str(k): str(v) for k, v in (await self.redis.hgetall(
            keys.delivery_blocked())).items()}

    async def release_held(self, chat: str) -> int:
        """Unblock `chat` and queue its held posts again (the bot was made admin again, …)."""
        released = 0
        posts = [p for p in await self.held_posts(chat, limit=100_000) if p.delivery]
        if not posts:
            await self.redis.hdel(keys.delivery_blocked(), chat)
            return 0
        for start in range(0, len(posts), 200):
            batch = posts[start:start + 200]
            args: list[Arg] = []
            for post in batch:
                assert post.delivery is not None
                args += [post.held_id, post.entry_id, post.chat, repr(sort_score(post.delivery)),
                         post.delivery.to_json()]
            released += int(await self._unhold(
                keys=self._keys(), args=self._args(None, chat, len(batch), *args)))
        return released

    async def unblock(self, chat: str) -> None:
        """Let new posts go to `chat` again, leaving what was held in the held stream."""
        await self.redis.hdel(keys.delivery_blocked(), chat)

    # -- counts -------------------------------------------------------------------------------
    async def depth(self) -> int:
        """Posts still to send: waiting in the intake or in a chat queue (held ones excluded)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xlen(keys.deliveries())
            pipe.hlen(keys.delivery_items())
            intake, routed = await pipe.execute()
        return int(intake) + int(routed)

    async def held_count(self) -> int:
        return int(await self.redis.xlen(keys.held()))
