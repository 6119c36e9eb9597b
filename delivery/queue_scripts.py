"""The delivery queue's Lua scripts (`delivery.queue` runs them): route, claim, complete,
release, hold, block, migrate, renew, unhold. Each runs atomically after the rate-limit
scripts' locals (`delivery.ratelimit.limited_script`)."""
from __future__ import annotations

from delivery.ratelimit import limited_script

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
