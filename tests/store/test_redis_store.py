"""The store's Lua scripts against a real Redis."""
from __future__ import annotations

import redis.asyncio as aioredis

from model.delivery import Delivery
from store import keys
from store.redis_store import Store


def delivery(chat: str, uid: str = "u1") -> Delivery:
    return Delivery(chat=chat, uid=uid, url="https://example.org/a", html="<b>t</b>", feed_id="f")


async def test_queue_article_marks_seen_and_queues_each_chat_once(redis: aioredis.Redis) -> None:
    """An article is queued once per chat; the same article again is reported as seen."""
    store = Store(redis)
    first = await store.queue_article("f", ["u1", "link1"], [delivery("@a"), delivery("-100")])
    assert first.queued_chats == ("@a", "-100")
    assert await redis.xlen(keys.deliveries()) == 2
    again = await store.queue_article("f", ["u1", "link1"], [delivery("@a"), delivery("-100")])
    assert again.already_seen and again.queued_chats == ()
    assert await redis.xlen(keys.deliveries()) == 2


async def test_changed_guid_same_link_and_other_feed_are_duplicates(redis: aioredis.Redis) -> None:
    """A new guid with a known link is seen; another feed's copy is not queued to the same
    chat twice but is queued to a chat that has not had it."""
    store = Store(redis)
    await store.queue_article("f", ["u1", "link1"], [delivery("@a")])
    changed = await store.queue_article("f", ["u2", "link1"], [delivery("@a", "u2")])
    assert changed.already_seen
    mirror = await store.queue_article("g", ["u1", "link1"], [delivery("@a"), delivery("@b")])
    assert not mirror.already_seen and mirror.queued_chats == ("@b",)


async def test_mark_only_marks_seen_without_queueing(redis: aioredis.Redis) -> None:
    """A None delivery marks the article seen for the feed and queues nothing."""
    store = Store(redis)
    result = await store.queue_article("f", ["u1"], [None])
    assert result.queued_chats == () and not result.already_seen
    assert await store.seen_identities("f", ["u1", "u9"]) == {"u1"}
    assert await redis.xlen(keys.deliveries()) == 0


async def test_seen_window_is_trimmed(redis: aioredis.Redis) -> None:
    """The per-feed seen set keeps only the newest SEEN_WINDOW identities."""
    store = Store(redis)
    for n in range(keys.SEEN_WINDOW + 5):
        await store.queue_article("f", [f"u{n}"], [None], now=1000.0 + n)
    assert await redis.zcard(keys.feed_seen("f")) == keys.SEEN_WINDOW
    assert await store.seen_identities("f", ["u0", f"u{keys.SEEN_WINDOW + 4}"]) == {
        f"u{keys.SEEN_WINDOW + 4}"}


async def test_claim_due_gives_each_feed_to_one_worker_until_the_lease_ends(
        redis: aioredis.Redis) -> None:
    """Two workers never hold the same due feed; after the lease it can be claimed again."""
    store = Store(redis)
    await store.schedule("f1", 100.0)
    await store.schedule("f2", 100.0)
    await store.schedule("later", 10_000.0)
    a = await store.claim_due("a", limit=10, lease_s=30, now=200.0)
    b = await store.claim_due("b", limit=10, lease_s=30, now=200.0)
    assert sorted(a) == ["f1", "f2"] and b == []
    await redis.delete(keys.feed_lease("f1"))  # the lease ran out: its key expired
    c = await store.claim_due("b", limit=10, lease_s=30, now=231.0)
    assert c == ["f1"]


async def test_release_keeps_a_lease_taken_over_by_another_worker(redis: aioredis.Redis) -> None:
    """A slow worker releasing late does not free the lease of the worker that took over."""
    store = Store(redis)
    await store.schedule("f1", 100.0)
    await store.claim_due("a", limit=1, lease_s=30, now=200.0)
    await redis.set(keys.feed_lease("f1"), "b")
    await store.release("f1", "a", next_due=900.0)
    assert await redis.get(keys.feed_lease("f1")) == "b"
    assert await redis.zscore(keys.feeds_due(), "f1") == 900.0
