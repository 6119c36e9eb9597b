"""The delivery queue's Lua scripts (`delivery.queue` runs them): route, claim, complete,
release, hold, block, migrate, renew, unhold, and the held posts' way out (release a chat,
probe bookkeeping, drop past the cap). Each runs atomically after the rate-limit scripts'
locals (`delivery.ratelimit.limited_script`).

Every script that decides an article's fate in a chat (posted, held because the chat is
blocked, failed because Telegram refused it or the held stream overflowed, queued again when
released) records it in the same step (`store.fates.FATES_LUA`), under the fates key the
route step stored beside the entry (`keys.delivery_fate_keys`) or the held entry's `fk` field.
Held entries carry a `kind`: blocked (the chat; released with it), refused, unreadable; the
pipeline's paused posts have reason `paused` and no kind (released by /resume only)."""
from __future__ import annotations

from delivery.ratelimit import limited_script
from store import keys
from store.fates import FATES_LUA

Arg = str | int | float  # what a script argument may be

# Locals for the queue's keys and args; they follow the rate-limit ones (KEYS[1..4],
# ARGV[1..8]), so each script's own keys start at KEYS[19] and its args at ARGV[12]. The fate
# hour-count prefix is a prefix, not a key: it is written into the script.
_QUEUE_PREAMBLE = FATES_LUA + """
local Q_ITEMS, Q_ATTEMPTS, Q_READY1, Q_READY0 = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local Q_LEASED, Q_OWNERS, Q_BLOCKED, Q_MIGRATED = KEYS[9], KEYS[10], KEYS[11], KEYS[12]
local Q_HELD, Q_STREAM, Q_FATEKEYS, Q_PROBES = KEYS[13], KEYS[14], KEYS[15], KEYS[16]
local Q_TRIES, Q_SKIPPED = KEYS[17], KEYS[18]
local Q_PREFIX, Q_BAND, Q_GROUP = ARGV[9], tonumber(ARGV[10]), ARGV[11]
local Q_HOUR = '""" + keys.fate_counts("") + """'

local function q_str(v) if type(v) == 'string' then return v end return '' end

-- Record the fate of the post `payload` (a Delivery's JSON) in its chat, under `fkey`, keeping
-- the feed the pipeline recorded. Edits are no article's fate; no key (an old entry): nothing.
local function q_fate(fkey, payload, fate, reason, detail, msg, now)
  if not fkey or fkey == '' or not payload then return end
  local ok, d = pcall(cjson.decode, payload)
  if not ok or type(d) ~= 'table' or q_str(d.chat) == '' then return end
  if q_str(d.kind) ~= '' and d.kind ~= 'post' then return end
  local feed = ''
  local prev = redis.call('HGET', fkey, d.chat)
  if prev then
    local okp, p = pcall(cjson.decode, prev)
    if okp and type(p) == 'table' then feed = q_str(p.feed) end
  end
  record_fate(fkey, d.chat, fate, reason, detail, feed, q_str(d.uid), q_str(d.url), msg,
              now / 1000, Q_HOUR, Q_SKIPPED)
end

-- A blocked chat's next probe: `first` ms after its failed probes so far, doubling, capped.
local function q_schedule_probe(chat, now, first, cap)
  local tries = tonumber(redis.call('HGET', Q_TRIES, chat) or '0')
  redis.call('ZADD', Q_PROBES, now + math.min(cap, first * 2 ^ math.min(tries, 30)), chat)
end

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
  redis.call('HDEL', Q_FATEKEYS, entry)
end

-- Move one queued entry to the held stream, with why, recording its fate: `kind` blocked ->
-- held (blocked), refused -> failed (refused).
local function q_hold(chat, entry, reason, now, kind)
  local payload = redis.call('HGET', Q_ITEMS, entry)
  local fkey = redis.call('HGET', Q_FATEKEYS, entry) or ''
  if payload then
    redis.call('XADD', Q_HELD, '*', 'd', payload, 'reason', reason, 'chat', chat,
               'entry', entry, 'held_at', tostring(now), 'kind', kind, 'fk', fkey)
    if kind == 'blocked' then
      q_fate(fkey, payload, 'held', 'blocked', reason, '', now)
    elseif kind == 'refused' then
      q_fate(fkey, payload, 'failed', 'refused', reason, '', now)
    end
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


# ARGV[12]: n, then n times (entry id, chat, score, payload, fates key). chat '' = unreadable
# entry. A post for a blocked chat is held on arrival (fate: held, blocked).
ROUTE_LUA = _queue_script("""
local n = tonumber(ARGV[12])
local now = now_ms()
local routed, held = 0, 0
for i = 0, n - 1 do
  local entry, chat = ARGV[13 + 5 * i], ARGV[14 + 5 * i]
  local score, payload, fkey = ARGV[15 + 5 * i], ARGV[16 + 5 * i], ARGV[17 + 5 * i]
  -- XACK answers 1 only to the first router of an entry: a reclaimed one is not routed twice.
  if redis.call('XACK', Q_STREAM, Q_GROUP, entry) == 1 then
    local reason = 'unreadable entry'
    local kind = 'unreadable'
    if chat ~= '' then
      chat = q_follow(chat)
      reason = redis.call('HGET', Q_BLOCKED, chat)
      kind = 'blocked'
    end
    if reason then
      redis.call('XADD', Q_HELD, '*', 'd', payload, 'reason', reason, 'chat', chat,
                 'entry', entry, 'held_at', tostring(now), 'kind', kind, 'fk', fkey)
      if kind == 'blocked' then q_fate(fkey, payload, 'held', 'blocked', reason, '', now) end
      held = held + 1
    else
      redis.call('HSET', Q_ITEMS, entry, payload)
      if fkey ~= '' then redis.call('HSET', Q_FATEKEYS, entry, fkey) end
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

# KEYS[19] sent key, KEYS[20] chat stats, KEYS[21] posts log, KEYS[22] post times; ARGV[12]
# chat, [13] entry, [14] token, [15] sent record ('' = write none), [16] its TTL, [17] log entry
# ('' = none), [18] log length, [19] unix time, [20] rate-limit member ('' = not sent now), [21]
# ms since Telegram's answer (measured by the sender), [22] seconds post times are kept, [23]
# the message id ('' = none), [24] the post's reason ('' | rich | rich_fallback), [25] its
# detail. A new post's fate becomes posted (message id, time, how).
# Returns {entry was still queued, an attempt may have posted}.
COMPLETE_LUA = _queue_script("""
local sent_key, stats_key, log_key, times_key = KEYS[19], KEYS[20], KEYS[21], KEYS[22]
local chat, entry, token = ARGV[12], ARGV[13], ARGV[14]
local record, ttl, log_entry = ARGV[15], tonumber(ARGV[16]), ARGV[17]
local keep, unix_now = tonumber(ARGV[18]), ARGV[19]
local now = now_ms()
rl_confirm(chat, ARGV[20], now - math.max(0, tonumber(ARGV[21]) or 0))
if record ~= '' then redis.call('SET', sent_key, record, 'EX', ttl) end
local maybe = redis.call('HEXISTS', Q_ATTEMPTS, entry .. ':maybe')
if record ~= '' then
  q_fate(redis.call('HGET', Q_FATEKEYS, entry), redis.call('HGET', Q_ITEMS, entry), 'posted',
         ARGV[24], ARGV[25], ARGV[23], now)
  redis.call('HDEL', Q_TRIES, chat)
end
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

# ARGV[12] chat, [13] entry, [14] token, [15] reason, [16] kind (refused | unreadable).
HOLD_LUA = _queue_script("""
local chat, entry, token, reason = ARGV[12], ARGV[13], ARGV[14], ARGV[15]
local now = now_ms()
if redis.call('ZSCORE', q_key(chat), entry) then q_hold(chat, entry, reason, now, ARGV[16]) end
return q_release(chat, token, now)
""")

# ARGV[12] chat, [13] token, [14] reason, [15] first probe after (ms), [16] longest probe
# interval (ms). A newly blocked chat gets its first probe scheduled. Returns {newly blocked,
# posts held}.
BLOCK_LUA = _queue_script("""
local chat, token, reason = ARGV[12], ARGV[13], ARGV[14]
local now = now_ms()
local newly = redis.call('HSETNX', Q_BLOCKED, chat, reason)
if newly == 1 then q_schedule_probe(chat, now, tonumber(ARGV[15]), tonumber(ARGV[16])) end
local entries = redis.call('ZRANGE', q_key(chat), 0, -1)
for _, entry in ipairs(entries) do q_hold(chat, entry, reason, now, 'blocked') end
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
# payload, fates key): back into the chat queues, out of the held stream (fate: queued).
UNHOLD_LUA = _queue_script("""
if ARGV[12] ~= '' then redis.call('HDEL', Q_BLOCKED, ARGV[12]) end
local n = tonumber(ARGV[13])
local now = now_ms()
for i = 0, n - 1 do
  local held_id, entry, chat = ARGV[14 + 6 * i], ARGV[15 + 6 * i], q_follow(ARGV[16 + 6 * i])
  local score, payload, fkey = ARGV[17 + 6 * i], ARGV[18 + 6 * i], ARGV[19 + 6 * i]
  if redis.call('XDEL', Q_HELD, held_id) == 1 then
    redis.call('HSET', Q_ITEMS, entry, payload)
    if fkey ~= '' then redis.call('HSET', Q_FATEKEYS, entry, fkey) end
    q_fate(fkey, payload, 'queued', 'released', '', '', now)
    redis.call('ZADD', q_key(chat), score, entry)
    if not redis.call('ZSCORE', Q_LEASED, chat) then q_place(chat, now, true) end
  end
end
return n
""")

# Release a blocked chat, a page of the held stream at a time. ARGV[12] chat, [13] cursor (a
# held id to start after; '-' = from the start), [14] page size, [15] '1' = forget its failed
# probes (a person brought it back). Its held posts of kind blocked (or old entries without a
# kind that are neither paused nor unreadable) go back to its queue by article order, fate
# queued (released). The chat stays blocked (later posts are held, to be found on a later page)
# and unscheduled until the last page: then it is unblocked and ready at once, in the same step
# that saw the stream's end, so no post can be left behind. Returns {moved, next cursor ('' =
# done)}.
RELEASE_CHAT_LUA = _queue_script("""
local chat, cursor, size = ARGV[12], ARGV[13], tonumber(ARGV[14])
local now = now_ms()
local start = cursor
if cursor ~= '-' then start = '(' .. cursor end
local page = redis.call('XRANGE', Q_HELD, start, '+', 'COUNT', size)
local moved = 0
for _, item in ipairs(page) do
  local f = {}
  for i = 1, #item[2], 2 do f[item[2][i]] = item[2][i + 1] end
  local kind = f.kind
  if kind == nil and f.reason ~= 'paused' and f.reason ~= 'unreadable entry' then
    kind = 'blocked'
  end
  if f.chat == chat and kind == 'blocked' and f.d then
    local ok, d = pcall(cjson.decode, f.d)
    if ok and type(d) == 'table' then
      local score = tonumber(d.article_time) or 0
      if (tonumber(d.priority) or 0) < 1 then score = score + Q_BAND end
      local entry = f.entry or item[1]
      redis.call('XDEL', Q_HELD, item[1])
      redis.call('HSET', Q_ITEMS, entry, f.d)
      if f.fk and f.fk ~= '' then redis.call('HSET', Q_FATEKEYS, entry, f.fk) end
      redis.call('ZADD', q_key(chat), score, entry)
      q_fate(f.fk, f.d, 'queued', 'released', '', '', now)
      moved = moved + 1
    end
  end
end
if #page == size then return {moved, page[#page][1]} end
redis.call('HDEL', Q_BLOCKED, chat)
redis.call('ZREM', Q_PROBES, chat)
if ARGV[15] == '1' then redis.call('HDEL', Q_TRIES, chat) end
if not redis.call('ZSCORE', Q_LEASED, chat) then q_place(chat, now, false) end
return {moved, ''}
""")

# Blocked chats whose probe is due. ARGV[12] how many, [13] ms a probe may take (its chat is
# pushed that far ahead, so another replica does not probe it meanwhile). Returns the chats.
PROBE_DUE_LUA = _queue_script("""
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', Q_PROBES, '-inf', now, 'LIMIT', 0, tonumber(ARGV[12]))
local out = {}
for _, chat in ipairs(due) do
  if redis.call('HEXISTS', Q_BLOCKED, chat) == 1 then
    redis.call('ZADD', Q_PROBES, now + tonumber(ARGV[13]), chat)
    table.insert(out, chat)
  else
    redis.call('ZREM', Q_PROBES, chat)
  end
end
return out
""")

# Blocked chats with no probe scheduled (blocked by an earlier version) get one. ARGV[12] first
# interval ms, [13] longest ms. Returns how many were scheduled.
PROBE_MISSING_LUA = _queue_script("""
local now = now_ms()
local added = 0
for _, chat in ipairs(redis.call('HKEYS', Q_BLOCKED)) do
  if not redis.call('ZSCORE', Q_PROBES, chat) then
    q_schedule_probe(chat, now, tonumber(ARGV[12]), tonumber(ARGV[13]))
    added = added + 1
  end
end
return added
""")

# A probe found the chat still closed. ARGV[12] chat, [13] first interval ms, [14] longest ms.
# Returns ms until the next probe (-1: the chat is no longer blocked).
PROBE_FAILED_LUA = _queue_script("""
local chat = ARGV[12]
local now = now_ms()
if redis.call('HEXISTS', Q_BLOCKED, chat) == 0 then
  redis.call('ZREM', Q_PROBES, chat)
  return -1
end
redis.call('HINCRBY', Q_TRIES, chat, 1)
q_schedule_probe(chat, now, tonumber(ARGV[13]), tonumber(ARGV[14]))
return tonumber(redis.call('ZSCORE', Q_PROBES, chat)) - now
""")

# Drop held posts past the cap, oldest first. KEYS[19] the over-the-cap flag; ARGV[12] cap,
# [13] n, then n times (held id, fates key): each still there is deleted, its fate failed
# (held_overflow, with why it was held). The flag is set when the stream is past the cap (the
# first setter tells the owners) and cleared once it is back under 90 % of it. Returns {dropped,
# newly over the cap, then per dropped post: chat, url}.
DROP_HELD_LUA = _queue_script("""
local over_key, cap, n = KEYS[19], tonumber(ARGV[12]), tonumber(ARGV[13])
local now = now_ms()
local crossed = 0
if redis.call('XLEN', Q_HELD) > cap and redis.call('SET', over_key, '1', 'NX') then crossed = 1 end
local out = {0, crossed}
for i = 0, n - 1 do
  local held_id, fkey = ARGV[14 + 2 * i], ARGV[15 + 2 * i]
  if redis.call('XLEN', Q_HELD) <= cap then break end
  local item = redis.call('XRANGE', Q_HELD, held_id, held_id)
  if #item == 1 then
    local f = {}
    for j = 1, #item[1][2], 2 do f[item[1][2][j]] = item[1][2][j + 1] end
    redis.call('XDEL', Q_HELD, held_id)
    if fkey == '' then fkey = f.fk end
    q_fate(fkey, f.d, 'failed', 'held_overflow', q_str(f.reason), '', now)
    local url = ''
    local ok, d = pcall(cjson.decode, f.d or '')
    if ok and type(d) == 'table' then url = q_str(d.url) end
    out[1] = out[1] + 1
    table.insert(out, q_str(f.chat))
    table.insert(out, url)
  end
end
if redis.call('XLEN', Q_HELD) < cap * 0.9 then redis.call('DEL', over_key) end
return out
""")
