"""The delivery queue's scripts against a real Redis: routing, order, priority, chat leases,
reclaiming, sent records, holding, migration and edits. No Telegram here."""
from __future__ import annotations

import json
import time

import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delivery.queue import DeliveryQueue, QueuedDelivery
from delivery.ratelimit import RateLimits
from model.delivery import EDIT_TEXT, Delivery, Posted, SentRecord
from store import keys
from tests.delivery.conftest import post, queue_all, wait_until

FREE = RateLimits.unlimited()


async def claim_all(queue: DeliveryQueue, token: str = "t") -> list[QueuedDelivery]:
    """Claim and complete until nothing is left; the order things were handed out."""
    order = []
    while (claim := await queue.claim(token, 10_000, FREE)).queued is not None:
        order.append(claim.queued)
        await queue.complete(claim.queued, token, Posted(len(order)))
    return order


async def test_route_moves_intake_into_chat_queues_once(redis: aioredis.Redis) -> None:
    """Routing empties the intake stream into per-chat queues; a second router of the same
    entries (a reclaimed batch) routes nothing twice."""
    queue = DeliveryQueue(redis, "a")
    await queue.ensure_group()
    await queue_all(queue, [post(-1001, 1), post(-1001, 2), post(7, 3)])
    read = await redis.xreadgroup(keys.CONSUMER_GROUP, "a", {keys.deliveries(): ">"})
    entries = [(entry_id, fields) for _, batch in read for entry_id, fields in batch]
    assert await queue.route(entries) == 3
    assert await queue.route(entries) == 0
    assert await redis.xlen(keys.deliveries()) == 0
    assert await redis.zcard(keys.delivery_chat_queue("-1001")) == 2
    assert await queue.depth() == 3


async def test_a_chat_gets_its_posts_by_article_date_pushes_first(redis: aioredis.Redis) -> None:
    """Within one chat, an editor's push goes first, then posts by article date, whatever
    order they were queued in."""
    queue = DeliveryQueue(redis, "a")
    await queue.ensure_group()
    await queue_all(queue, [post(-1001, 5), post(-1001, 1), post(-1001, 3),
                            post(-1001, 9, priority=1)])
    await queue.route_new()
    order = [q.delivery.uid for q in await claim_all(queue)]
    assert order == ["article-9", "article-1", "article-3", "article-5"]


async def test_pushes_go_ahead_of_bulk_fan_out(redis: aioredis.Redis) -> None:
    """A push queued after a large fan-out is claimed before any of it."""
    queue = DeliveryQueue(redis, "a")
    await queue.ensure_group()
    await queue_all(queue, [post(1000 + n, n) for n in range(50)] + [post(-1009, 99, priority=1)])
    await queue.route_new()
    claim = await queue.claim("t", 10_000, FREE)
    assert claim.queued is not None and claim.queued.delivery.uid == "article-99"


async def test_a_leased_chat_is_not_handed_to_another_sender(redis: aioredis.Redis) -> None:
    """While one sender holds a chat, others get other chats (or nothing); the chat comes back
    when it is released."""
    queue = DeliveryQueue(redis, "a")
    await queue.ensure_group()
    await queue_all(queue, [post(-1001, 1), post(-1001, 2)])
    await queue.route_new()
    first = await queue.claim("one", 10_000, FREE)
    assert first.queued is not None
    assert (await queue.claim("two", 10_000, FREE)).reason == "empty"
    await queue.release(first.queued, "one")
    again = await queue.claim("two", 10_000, FREE)
    assert again.queued is not None and again.queued.entry_id == first.queued.entry_id


async def test_an_expired_lease_is_taken_over_and_the_sent_record_says_it_went(
        redis: aioredis.Redis) -> None:
    """A dead sender's chat is claimed again after its lease; if it had written the sent
    record, the taker sees it and finishes the entry without sending."""
    queue = DeliveryQueue(redis, "a")
    await queue.ensure_group()
    await queue_all(queue, [post(-1001, 1)])
    await queue.route_new()
    dead = await queue.claim("dead", 50, FREE)
    assert dead.queued is not None
    await redis.set(keys.sent("-1001", "article-1"), SentRecord(77, "-1001").to_json())

    async def reclaimed() -> bool:
        nonlocal taken
        taken = await queue.claim("alive", 10_000, FREE)
        return taken.queued is not None

    taken = dead
    await wait_until(reclaimed, 5, "the lease to expire")
    assert taken.queued is not None and taken.queued.entry_id == dead.queued.entry_id
    record = await queue.sent_record("-1001", "article-1")
    assert record == SentRecord(77, "-1001")
    assert await queue.complete(taken.queued, "alive", None) == (True, False)
    assert await queue.depth() == 0


async def test_complete_writes_the_record_and_is_safe_to_repeat(redis: aioredis.Redis) -> None:
    """Completing writes the sent record and removes the entry in one step; repeating it (a
    lost reply) changes nothing more."""
    queue = DeliveryQueue(redis, "a")
    await queue.ensure_group()
    await queue_all(queue, [post("@news", 1)])
    await queue.route_new()
    claim = await queue.claim("t", 10_000, FREE)
    assert claim.queued is not None
    posted = Posted(5, media="photo")
    assert await queue.complete(claim.queued, "t", posted) == (True, False)
    assert await queue.complete(claim.queued, "t", posted) == (False, False)
    assert await queue.sent_record("@news", "article-1") == SentRecord(5, "@news", "photo")
    assert await redis.hget(keys.chat_stats("@news"), "posts") == "1"
    assert json.loads((await redis.lrange(keys.posts_log(), 0, -1))[0])["message_id"] == 5
    [(member, when)] = await redis.zrange(keys.post_times(), 0, -1, withscores=True)
    assert member == claim.queued.entry_id and abs(when - time.time()) < 60  # counted once
    assert await redis.hlen(keys.delivery_owners()) == 0


async def test_an_old_bare_sent_record_is_still_understood(redis: aioredis.Redis) -> None:
    """Sent records written as a bare message id (before this version) still read."""
    await redis.set(keys.sent("-1001", "u"), "41")
    assert await DeliveryQueue(redis, "a").sent_record("-1001", "u") == SentRecord(41, "-1001")


async def test_intake_entries_of_a_dead_router_are_reclaimed(redis: aioredis.Redis) -> None:
    """Entries one sender read from the stream but never routed are routed by another after
    the lease."""
    queue = DeliveryQueue(redis, "b")
    await queue.ensure_group()
    await queue_all(queue, [post(-1001, 1), post(-1002, 2)])
    await redis.xreadgroup(keys.CONSUMER_GROUP, "dead", {keys.deliveries(): ">"})
    assert await queue.route_new() == 0
    assert await queue.route_stale(min_idle_ms=0) == 2
    assert {q.delivery.uid for q in await claim_all(queue)} == {"article-1", "article-2"}


async def test_failed_attempts_count_and_delay_the_chat(redis: aioredis.Redis) -> None:
    """A released entry keeps its place, counts its failed attempts and whether one may have
    posted, and its chat waits out the delay."""
    queue = DeliveryQueue(redis, "a")
    await queue.ensure_group()
    await queue_all(queue, [post(-1001, 1)])
    await queue.route_new()
    claim = await queue.claim("t", 10_000, FREE)
    assert claim.queued is not None
    assert await queue.release(claim.queued, "t", 30.0, failed=True, maybe_sent=True) == 1
    later = await queue.claim("t", 10_000, FREE)
    assert later.queued is None and later.reason == "later" and 29 < later.wait <= 30


async def test_blocking_a_chat_holds_its_posts_and_release_requeues_them(
        redis: aioredis.Redis) -> None:
    """A blocked chat's queued posts and later ones go to the held stream, nothing is lost;
    releasing the chat queues them again in order."""
    queue = DeliveryQueue(redis, "a")
    await queue.ensure_group()
    await queue_all(queue, [post(-1001, 2), post(-1001, 1), post(-1002, 3)])
    await queue.route_new()
    assert await queue.block_chat("-1001", "t", "Forbidden: bot was kicked") == (True, 2)
    assert await queue.block_chat("-1001", "t", "again") == (False, 0)
    await queue_all(queue, [post(-1001, 4)])
    await queue.route_new()
    held = await queue.held_posts("-1001")
    assert [p.delivery.uid for p in held if p.delivery] == ["article-1", "article-2", "article-4"]
    assert {p.reason for p in held} == {"Forbidden: bot was kicked"}
    assert [q.delivery.uid for q in await claim_all(queue)] == ["article-3"]
    assert await queue.release_held("-1001") == 3
    assert await queue.blocked_chats() == {}
    assert [q.delivery.uid for q in await claim_all(queue)] == [
        "article-1", "article-2", "article-4"]
    assert await queue.held_count() == 0


async def test_a_migrated_chat_takes_its_queue_and_later_posts_along(
        redis: aioredis.Redis) -> None:
    """After a group's upgrade, its queued posts and the ones queued for the old id later go
    to the new id, in order."""
    queue = DeliveryQueue(redis, "a")
    await queue.ensure_group()
    await queue_all(queue, [post(-5, 1), post(-5, 2)])
    await queue.route_new()
    claim = await queue.claim("t", 10_000, FREE)
    assert claim.queued is not None
    assert await queue.migrate_chat("-5", "-1005", "t") == 2
    await queue_all(queue, [post(-5, 3)])
    await queue.route_new()
    order = await claim_all(queue)
    assert [(q.target, q.delivery.uid) for q in order] == [
        ("-1005", "article-1"), ("-1005", "article-2"), ("-1005", "article-3")]
    assert all(q.delivery.chat == "-5" for q in order)


async def test_queue_edit_uses_the_sent_record(redis: aioredis.Redis) -> None:
    """An edit is queued only for an article that was posted, with its message id, to the
    chat the message is in."""
    queue = DeliveryQueue(redis, "a")
    await queue.ensure_group()
    assert await queue.queue_edit("-1001", "u", "<b>new</b>") is False
    await redis.set(keys.sent("-5", "u"), SentRecord(12, "-1005").to_json())
    assert await queue.queue_edit("-5", "u", "<b>new</b>", article_time=3.0) is True
    (_, fields), = await redis.xrange(keys.deliveries())
    edit = Delivery.from_fields(fields)
    assert (edit.kind, edit.message_id, edit.chat, edit.html) == (EDIT_TEXT, 12, "-1005",
                                                                  "<b>new</b>")


async def test_an_unreadable_entry_is_held_not_dropped(redis: aioredis.Redis) -> None:
    """A stream entry that does not decode goes to the held stream with its raw payload."""
    queue = DeliveryQueue(redis, "a")
    await queue.ensure_group()
    await redis.xadd(keys.deliveries(), {"d": "{not json"})
    assert await queue.route_new() == 1
    held = await queue.held_posts()
    assert len(held) == 1 and held[0].delivery is None and held[0].reason == "unreadable entry"


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["-1001", "-1002", "7"]), st.integers(0, 50),
                          st.integers(0, 1)), min_size=1, max_size=25))
async def test_every_chat_is_served_pushes_first_then_by_date(
        redis: aioredis.Redis, items: list[tuple[str, int, int]]) -> None:
    """For any mix of chats, dates and priorities, each chat's posts come out pushes first and
    then by date, and every post exactly once."""
    await redis.flushdb()
    queue = DeliveryQueue(redis, "p")
    await queue.ensure_group()
    deliveries = [post(chat, n, article_time=float(t), priority=p, uid=f"u{n}")
                  for n, (chat, t, p) in enumerate(items)]
    await queue_all(queue, deliveries)
    await queue.route_new()
    order = await claim_all(queue)
    assert sorted(q.delivery.uid for q in order) == sorted(d.uid for d in deliveries)
    for chat in {d.chat for d in deliveries}:
        keys_seen = [(-q.delivery.priority, q.delivery.article_time)
                     for q in order if q.target == chat]
        assert keys_seen == sorted(keys_seen)
