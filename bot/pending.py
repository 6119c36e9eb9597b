"""Pending previews, /addfeed questions and review cards: Redis hashes named by a random token
whose state moves only through `claim` (compare-and-set in Lua), so of two presses at once
exactly one wins."""
from __future__ import annotations

import secrets
import time
from collections.abc import Sequence

import redis.asyncio as aioredis

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
        raw = await self.redis.hgetall(key)
        return {str(k): str(v) for k, v in raw.items()}

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
