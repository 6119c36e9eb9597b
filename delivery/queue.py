"""The delivery queue: a Redis stream with one consumer group shared by every sender replica.

Life of an entry: XADD (by the poller's queue script) -> XREADGROUP by one sender -> send ->
SET sent record -> XACK + XDEL. A sender that dies leaves its entries pending; another sender
takes them with XAUTOCLAIM after the lease and checks the sent record before sending again.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from delivery.models import Delivery
from store import keys


@dataclass(frozen=True, slots=True)
class QueuedDelivery:
    entry_id: str
    delivery: Delivery


class DeliveryQueue:
    def __init__(self, redis: aioredis.Redis, consumer: str) -> None:
        self.redis = redis
        self.consumer = consumer

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(keys.deliveries(), keys.CONSUMER_GROUP, id="0",
                                           mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read_new(self, count: int, block_ms: int | None) -> list[QueuedDelivery]:
        """Entries never handed to any sender yet."""
        answer = await self.redis.xreadgroup(
            keys.CONSUMER_GROUP, self.consumer, {keys.deliveries(): ">"}, count=count,
            block=block_ms,
        )
        return [self._decode(entry_id, fields)
                for _, entries in (answer or []) for entry_id, fields in entries if fields]

    async def reclaim(self, min_idle_ms: int, count: int = 50) -> list[QueuedDelivery]:
        """Entries another (or an earlier) sender took and did not finish within the lease."""
        answer = await self.redis.xautoclaim(
            keys.deliveries(), keys.CONSUMER_GROUP, self.consumer, min_idle_time=min_idle_ms,
            start_id="0-0", count=count,
        )
        entries = answer[1]  # Redis 7 adds a third element (deleted ids); 6.2 has two
        return [self._decode(entry_id, fields) for entry_id, fields in entries if fields]

    async def already_sent(self, delivery: Delivery) -> str | None:
        return await self.redis.get(keys.sent(delivery.chat, delivery.uid))

    async def record_sent(self, queued: QueuedDelivery, message_id: int) -> None:
        """Write the sent record, then acknowledge: this order bounds duplicates to the sends
        in flight at a crash."""
        delivery = queued.delivery
        now = time.time()
        log_entry = json.dumps({"chat": delivery.chat, "url": delivery.url, "html": delivery.html,
                                "time": now, "message_id": message_id, "language": delivery.language},
                               ensure_ascii=False)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.sent(delivery.chat, delivery.uid), message_id, ex=keys.SENT_TTL_S)
            pipe.xack(keys.deliveries(), keys.CONSUMER_GROUP, queued.entry_id)
            pipe.xdel(keys.deliveries(), queued.entry_id)
            pipe.hset(keys.chat_stats(delivery.chat), mapping={"last_post": now})
            pipe.hincrby(keys.chat_stats(delivery.chat), "posts", 1)
            pipe.lpush(keys.posts_log(), log_entry)
            pipe.ltrim(keys.posts_log(), 0, 199)
            await pipe.execute()

    async def finish(self, queued: QueuedDelivery) -> None:
        """Acknowledge and drop an entry without sending (already sent)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(keys.deliveries(), keys.CONSUMER_GROUP, queued.entry_id)
            pipe.xdel(keys.deliveries(), queued.entry_id)
            await pipe.execute()

    async def hold(self, queued: QueuedDelivery, reason: str) -> None:
        """Keep a post that cannot be sent now (bot removed from the chat, …) out of the live
        queue without losing it."""
        fields = dict(queued.delivery.to_fields(), reason=reason, held_at=str(time.time()))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(keys.held(), fields)
            pipe.xack(keys.deliveries(), keys.CONSUMER_GROUP, queued.entry_id)
            pipe.xdel(keys.deliveries(), queued.entry_id)
            await pipe.execute()

    async def depth(self) -> int:
        """Entries queued or in flight (acknowledged ones are deleted)."""
        return int(await self.redis.xlen(keys.deliveries()))

    @staticmethod
    def _decode(entry_id: str, fields: dict[str, str]) -> QueuedDelivery:
        return QueuedDelivery(entry_id, Delivery.from_fields(fields))
