"""Telegram's flood limits, shared by every sender replica through Redis.

Telegram states its limits as "N messages per window": about 30 per second for the whole bot
(more with paid broadcasts), about one per second per chat with short bursts, 20 per minute per
group or channel. A token bucket with burst b and rate r lets b + r*W messages through in a
window W, so it either overshoots such a limit or gives up the burst. We therefore keep an exact
**sliding-window log** per limit in Redis: a sorted set of send times (Redis server time, ms).
One more message may go at time s when fewer than N sends lie in (s - W, s]; the earliest such s
is one lookup away (the N-th newest send + W). Every replica asks the same sets inside one Lua
script, so N replicas together stay inside the limits, and each sender sleeps exactly the time
the script names instead of polling.

* Sends are *reserved*: the script records the send at the slot it hands out, so two replicas
  asking at once get different slots. The overall limit is also *paced* (a slot every W/N):
  requests that leave at one instant reach Telegram spread out and in any order.
* Sends are *confirmed*: when Telegram has answered, the send moves in the logs from its slot
  to the moment of the answer, the latest Telegram can have counted it. A request that left
  late (a new connection, a busy event loop) can then never make the window it landed in one
  message too full: the next sends are placed a whole window after it at Telegram's end.
* `slack` widens every window by a few milliseconds for what remains (clock rounding).

Cost: each window stretches by the time from a slot to its answer (a few ms locally; tens of
ms to the real Telegram), in exchange for no 429 under our own limits.
"""
from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from store import keys


@dataclass(frozen=True, slots=True)
class RateLimits:
    """The limits one bot must stay inside, across all replicas. Seconds for time.

    * overall: `overall_per_second` messages in any `overall_window` (30/s; a bot with paid
      broadcasts may raise it up to 1000 and should set `paid_broadcast`);
    * every chat: `chat_burst` messages in any `chat_burst / chat_per_second` seconds (one per
      second on average, three at once);
    * groups, supergroups and channels also: `group_per_minute` in any `group_window` (20/min).

    A limit of 0 switches that limit off.
    """

    overall_per_second: int = 30
    overall_window: float = 1.0
    chat_per_second: float = 1.0
    chat_burst: int = 3
    group_per_minute: int = 20
    group_window: float = 60.0
    slack: float = 0.005
    paid_broadcast: bool = False

    def __post_init__(self) -> None:
        for name in ("overall_per_second", "chat_burst", "group_per_minute"):
            if getattr(self, name) < 0:
                raise ValueError(f"RateLimits.{name} must be >= 0")
        for name in ("overall_window", "chat_per_second", "group_window"):
            if getattr(self, name) <= 0:
                raise ValueError(f"RateLimits.{name} must be > 0")
        if self.slack < 0:
            raise ValueError("RateLimits.slack must be >= 0")

    @property
    def chat_window(self) -> float:
        return self.chat_burst / self.chat_per_second

    @classmethod
    def unlimited(cls) -> RateLimits:
        """No limits at all (the dry-run preview)."""
        return cls(overall_per_second=0, chat_burst=0, group_per_minute=0, slack=0.0)

    def script_args(self) -> list[int]:
        """The six numbers the Lua helpers take: (count, window ms) per limit."""
        def window_ms(seconds: float) -> int:
            return round((seconds + self.slack) * 1000)
        return [self.overall_per_second, window_ms(self.overall_window),
                self.chat_burst, window_ms(self.chat_window),
                self.group_per_minute, window_ms(self.group_window)]


def is_group_chat(chat: str) -> bool:
    """Groups, supergroups and channels have negative ids or are named by @username."""
    return chat.startswith(("-", "@"))


# Lua helpers, included at the top of every script that needs them (see `limited_script`).
LUA_HELPERS = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Earliest time >= now at which one more send fits into the sliding-window log `key`: at most
-- n sends in any (s - w, s]. That holds for s >= every time in the log, which is why slots only
-- move forward: past `last` (the newest reservation; for the overall log kept apart, because
-- its entries move to their answer times) plus `gap`.
local function rl_earliest(key, n, w, now, last, gap)
  if n <= 0 then return now end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - w)
  local count = redis.call('ZCARD', key)
  local s = now
  if last then
    s = math.max(s, last + gap)
  elseif count > 0 then
    local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
    s = math.max(s, tonumber(newest[2]))
  end
  if count >= n then
    local pivot = redis.call('ZRANGE', key, count - n, count - n, 'WITHSCORES')
    s = math.max(s, tonumber(pivot[2]) + w)
  end
  return s
end

local function rl_record(key, n, w, s, now, member)
  if n <= 0 then return end
  redis.call('ZADD', key, s, member)
  redis.call('PEXPIRE', key, math.ceil((s - now) + w + 1000))
end

local function rl_is_group(chat)
  local c = string.sub(chat, 1, 1)
  return c == '-' or c == '@'
end

-- When the chat's own limits let it send next (one send per chat at a time: its lease).
local function rl_chat_ready(chat, now)
  local s = rl_earliest(RL_CHAT_PREFIX .. chat, RL_CN, RL_CW, now, nil, 0)
  if rl_is_group(chat) then
    s = math.max(s, rl_earliest(RL_GROUP_PREFIX .. chat, RL_GN, RL_GW, now, nil, 0))
  end
  return s
end

-- Reserve the next overall slot for one message to `chat` ('' = no chat limits) and record it
-- in every log it counts in. Returns the slot and the member naming it in the logs.
local function rl_reserve(chat, now)
  local last = tonumber(redis.call('GET', RL_LAST) or '0')
  local s = rl_earliest(RL_OVERALL, RL_ON, RL_OW, now, last, RL_OGAP)
  if chat ~= '' then s = math.max(s, rl_chat_ready(chat, now)) end
  local member = tostring(redis.call('INCR', RL_SEQ))
  rl_record(RL_OVERALL, RL_ON, RL_OW, s, now, member)
  if RL_ON > 0 then redis.call('SET', RL_LAST, s, 'PX', math.ceil((s - now) + RL_OW + 1000)) end
  if chat ~= '' then
    rl_record(RL_CHAT_PREFIX .. chat, RL_CN, RL_CW, s, now, member)
    if rl_is_group(chat) then rl_record(RL_GROUP_PREFIX .. chat, RL_GN, RL_GW, s, now, member) end
  end
  return s, member
end

-- Telegram answered (or may have taken the message) by `now`: its clock counted the message
-- at the latest now, so the logs count it there. A request that left late (a new connection,
-- a busy event loop) therefore cannot make the window it lands in one message too full.
local function rl_confirm(chat, member, now)
  if member == '' then return end
  local logs = {RL_OVERALL}
  if chat ~= '' then
    table.insert(logs, RL_CHAT_PREFIX .. chat)
    if rl_is_group(chat) then table.insert(logs, RL_GROUP_PREFIX .. chat) end
  end
  for _, key in ipairs(logs) do
    local at = redis.call('ZSCORE', key, member)
    if at and tonumber(at) < now then redis.call('ZADD', key, 'XX', now, member) end
  end
end
"""

# Declares the locals LUA_HELPERS expects from KEYS[1..4] and ARGV[1..8]; scripts built with
# `limited_script` put their own KEYS/ARGV after these.
_LUA_PREAMBLE = """
local RL_OVERALL, RL_SEQ, RL_PAUSE, RL_LAST = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local RL_CHAT_PREFIX, RL_GROUP_PREFIX = ARGV[1], ARGV[2]
local RL_ON, RL_OW = tonumber(ARGV[3]), tonumber(ARGV[4])
local RL_CN, RL_CW = tonumber(ARGV[5]), tonumber(ARGV[6])
local RL_GN, RL_GW = tonumber(ARGV[7]), tonumber(ARGV[8])
-- The overall limit is paced (one send every W/N) rather than bursty: requests that leave at one
-- instant reach Telegram's clock spread out and in any order, which a window full to its last
-- message cannot absorb.
local RL_OGAP = 0
if RL_ON > 0 then RL_OGAP = RL_OW / RL_ON end
"""
LIMIT_KEYS = 4
LIMIT_ARGS = 8


def limited_script(body: str) -> str:
    """A script with the rate-limit helpers; its own keys start at KEYS[5], args at ARGV[9]."""
    return _LUA_PREAMBLE + LUA_HELPERS + body


def limit_keys() -> list[str]:
    return [keys.ratelimit_overall(), keys.ratelimit_seq(), keys.ratelimit_pause(),
            keys.ratelimit_last()]


def limit_args(limits: RateLimits) -> list[str | int]:
    return [keys.ratelimit_chat(""), keys.ratelimit_group(""), *limits.script_args()]


# Reserve a slot for one message to `chat` ('' for no chat limit): returns {wait ms, member}.
# A global pause (after a flood-wait that hit the whole bot) pushes the slot past its end.
_ACQUIRE_LUA = limited_script("""
local chat = ARGV[9]
local now = now_ms()
local paused = tonumber(redis.call('GET', RL_PAUSE) or '0')
local s, member = rl_reserve(chat, math.max(now, paused))
return {math.ceil(s - now), member}
""")

_CONFIRM_LUA = limited_script("""
rl_confirm(ARGV[9], ARGV[10], now_ms())
return 1
""")

# Note a 429 for `chat`: when another chat also got one within the overall window, the limit
# hit was the bot's overall one, and every replica pauses for retry_after. Returns 1 for
# global, 0 for this chat only.
_NOTE_429_LUA = limited_script("""
local recent = KEYS[5]
local chat, retry_ms, window_ms = ARGV[9], tonumber(ARGV[10]), tonumber(ARGV[11])
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', recent, '-inf', now - window_ms)
local others = redis.call('ZCARD', recent)
if redis.call('ZSCORE', recent, chat) then others = others - 1 end
redis.call('ZADD', recent, now, chat)
redis.call('PEXPIRE', recent, window_ms * 2)
if others > 0 or chat == '' then
  local till = now + retry_ms
  local current = tonumber(redis.call('GET', RL_PAUSE) or '0')
  if till > current then redis.call('SET', RL_PAUSE, till, 'PX', retry_ms + 1000) end
  return 1
end
return 0
""")


@dataclass(frozen=True, slots=True)
class Reservation:
    wait: float          # seconds until the reserved slot
    member: str          # names the send in the logs (for `confirm`)


class SharedRateLimiter:
    """Waits for a send slot under the shared limits. The delivery queue reserves slots inside
    its own claim script; this class is for other sends (replies to owners, checks) and tests."""

    def __init__(self, redis: aioredis.Redis, limits: RateLimits) -> None:
        self.redis = redis
        self.limits = limits
        self._acquire = redis.register_script(_ACQUIRE_LUA)
        self._confirm = redis.register_script(_CONFIRM_LUA)
        self._note_429 = redis.register_script(_NOTE_429_LUA)

    async def reserve(self, chat: str = "") -> Reservation:
        """Reserve one message for `chat`; its `wait` is how long to sleep before sending."""
        wait_ms, member = await self._acquire(keys=limit_keys(),
                                              args=[*limit_args(self.limits), chat])
        return Reservation(max(0, int(wait_ms)) / 1000, str(member))

    async def confirm(self, chat: str, reservation: Reservation) -> None:
        """Telegram answered: count the send at this moment (see `rl_confirm`)."""
        await self._confirm(keys=limit_keys(),
                            args=[*limit_args(self.limits), chat, reservation.member])

    async def note_429(self, chat: str, retry_after: float) -> bool:
        """Record a flood-wait; True when it is taken as the bot's overall limit (all chats
        pause, on every replica)."""
        scope = await self._note_429(
            keys=[*limit_keys(), keys.ratelimit_recent_429()],
            args=[*limit_args(self.limits), chat, int(retry_after * 1000),
                  int(self.limits.overall_window * 1000)])
        return bool(int(scope))

    async def paused_for(self) -> float:
        """Seconds left of a global pause (0 when none)."""
        value = await self.redis.get(keys.ratelimit_pause())
        if not value:
            return 0.0
        seconds, micros = await self.redis.time()
        return max(0.0, (float(value) - (seconds * 1000 + micros // 1000)) / 1000)
