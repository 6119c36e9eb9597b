"""The attacks run against the real bot (the fixtures of tests/bot) and read Redis whole to
prove that a refused attempt changed nothing."""
from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from store import keys
from tests.bot.conftest import bot, pages, start_bot, tg  # noqa: F401 - fixtures

# Keys every update may touch without anything having been done: the per-user command counter
# and the lock of the replica that reads updates.
_BOOKKEEPING = (keys.bot_rate(0, 0).rsplit(":", 2)[0] + ":", keys.bot_updates_lock())


async def redis_state(redis: aioredis.Redis) -> dict[str, Any]:
    """Every key and its value (bookkeeping keys left out), to compare before and after."""
    state: dict[str, Any] = {}
    async for key in redis.scan_iter(count=1000):
        if key.startswith(_BOOKKEEPING):
            continue
        kind = await redis.type(key)
        if kind == "string":
            state[key] = await redis.get(key)
        elif kind == "hash":
            state[key] = await redis.hgetall(key)
        elif kind == "set":
            state[key] = sorted(await redis.smembers(key))
        elif kind == "zset":
            state[key] = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == "list":
            state[key] = await redis.lrange(key, 0, -1)
        elif kind == "stream":
            state[key] = await redis.xrange(key)
        else:
            state[key] = kind
    return state
