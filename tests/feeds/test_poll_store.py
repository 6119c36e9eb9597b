"""The poller's Redis scripts against a real Redis: batched claims and commits, the item check,
and batched queueing with title fingerprints and bounded per-chat memory."""
from __future__ import annotations

import redis.asyncio as aioredis

from model.delivery import Delivery
from store import keys
from store.fates import Fate, Fates
from store.redis_store import (
    CHANGED,
    NEW,
    SEEN,
    ArticleToQueue,
    Duplicate,
    QueueOutcome,
    StateWrite,
    Store,
)

UID = "a" * 64
LINK = "b" * 64


def post(chat: str, uid: str = UID) -> Delivery:
    return Delivery(chat=chat, uid=uid, url="https://example.org/a", html="<b>t</b>", feed_id="f")


async def test_claim_answers_states_and_commit_releases_only_our_leases(
        redis: aioredis.Redis) -> None:
    """A claim returns each feed's state fields; a commit writes states and due times and drops
    only leases the worker still holds, and does not bring back an unscheduled feed."""
    store = Store(redis)
    await store.schedule_many(["f1", "f2", "f3"], 100.0)
    await store.update_feed_state("f1", {"etag": '"x"', "health": "ok"})
    claimed = await store.claim_due_states("w", ["etag", "health", "ttl"], limit=10, lease_s=30,
                                           now=200.0)
    assert dict(claimed) == {"f1": {"etag": '"x"', "health": "ok"}, "f2": {}, "f3": {}}
    assert await store.claim_due_states("other", ["etag"], limit=10, lease_s=30,
                                        now=200.0) == []
    await redis.set(keys.feed_lease("f2"), "other")     # taken over after our lease ran out
    await redis.zrem(keys.feeds_due(), "f3")             # removed from the config meanwhile
    await store.commit("w", [StateWrite("f1", {"etag": '"y"'}, 900.0, True),
                             StateWrite("f2", {}, 950.0, True),
                             StateWrite("f3", {}, 990.0, True)])
    assert await redis.hget(keys.feed_state("f1"), "etag") == '"y"'
    assert await redis.get(keys.feed_lease("f1")) is None
    assert await redis.get(keys.feed_lease("f2")) == "other"
    assert await redis.zscore(keys.feeds_due(), "f1") == 900.0
    assert await redis.zscore(keys.feeds_due(), "f3") is None


async def test_check_reports_new_seen_and_changed_once(redis: aioredis.Redis) -> None:
    """Items are new until queued; a seen item whose content hash changed is reported changed
    once, and one with a new guid but a known link is seen."""
    store = Store(redis)
    await store.queue_article("f", [UID, LINK], [None], content_hash="1" * 64)
    other = "c" * 64
    statuses = await store.check_articles("f", [([UID, LINK], "1" * 64), ([other], "2" * 64),
                                                (["d" * 64, LINK], "")], now=100)
    assert statuses == [SEEN, NEW, SEEN]
    assert await store.check_articles("f", [([UID, LINK], "3" * 64)], now=101) == [CHANGED]
    assert await store.check_articles("f", [([UID, LINK], "3" * 64)], now=102) == [SEEN]


async def test_same_story_blocks_other_feeds_within_the_window_only(
        redis: aioredis.Redis) -> None:
    """A title fingerprint with a close text sketch posted by feed f makes feed g's copy a
    duplicate by story for that chat within the window (the fate says of which link); feed f
    itself may repeat the title; after the window g's copy is posted; the same title with a
    different text is never a duplicate."""
    store = Store(redis)
    fp = "f" * 32
    text = " ".join(f"{n:012x}" for n in range(24))
    other = " ".join(f"{n:012x}" for n in range(100, 124))

    async def queue(feed: str, uid: str, now: float, sketch: str = text) -> QueueOutcome:
        [outcome] = await store.queue_articles(
            feed, [ArticleToQueue((uid,), (post("@a", uid),), fingerprint=fp, sketch=sketch,
                                  url=f"https://{feed}.example/{uid[:4]}")],
            now=now, fingerprint_window_s=3600, feed_url=f"https://{feed}.example/feed")
        return outcome

    assert (await queue("f", "1" * 64, 1000)).queued_chats == ("@a",)
    blocked = await queue("g", "2" * 64, 2000)
    assert blocked.queued_chats == ()
    assert blocked.duplicates == (Duplicate("@a", "duplicate_story", "https://f.example/1111",
                                            "https://f.example/feed"),)
    [fate] = await Fates(redis).of_article("https://g.example/2222")
    assert (fate.fate, fate.reason) == (Fate.SKIPPED, "duplicate_story")
    assert (await queue("g", "5" * 64, 2100, sketch=other)).queued_chats == ("@a",)
    assert (await queue("f", "3" * 64, 2500)).queued_chats == ("@a",)
    assert (await queue("g", "4" * 64, 2500 + 3601)).queued_chats == ("@a",)


async def test_one_call_queues_a_feeds_items_in_order(redis: aioredis.Redis) -> None:
    """Several items of one feed go in one call, in the given order; a second copy of an item
    inside the same call is a duplicate."""
    store = Store(redis)
    items = [ArticleToQueue((f"{n}" * 64,), (post("@a", f"{n}" * 64), post("@b", f"{n}" * 64)))
             for n in (1, 2, 1)]
    outcomes = await store.queue_articles("f", items, now=100)
    assert [o.queued_chats for o in outcomes] == [("@a", "@b"), ("@a", "@b"), ()]
    assert outcomes[2].already_seen
    entries = [Delivery.from_fields(f) for _, f in await redis.xrange(keys.deliveries())]
    assert [(d.chat, d.uid[0]) for d in entries] == [("@a", "1"), ("@b", "1"), ("@a", "2"),
                                                     ("@b", "2")]


async def test_per_chat_memory_is_trimmed_by_age(redis: aioredis.Redis) -> None:
    """A chat's posted identities older than POSTED_TTL_S and fingerprints older than the
    window are dropped as new posts arrive (an active chat's set would otherwise only grow)."""
    store = Store(redis)
    await store.queue_article("f", ["1" * 64], [post("@a", "1" * 64)], now=1000,
                              fingerprint="e" * 32)
    later = 1000 + keys.POSTED_TTL_S + 1
    await store.queue_article("f", ["2" * 64], [post("@a", "2" * 64)], now=later)
    assert await redis.zrange(keys.chat_posted("@a"), 0, -1) == ["2" * 64]
    assert await redis.zcard(keys.chat_fingerprints("@a")) == 0


async def test_seen_sets_written_with_whole_keys_still_count(redis: aioredis.Redis) -> None:
    """A seen set from before keys were cut (whole 64-character keys) still marks its items
    seen, so an upgrade does not post a feed's old items again."""
    store = Store(redis)
    await redis.zadd(keys.feed_seen("f"), {UID: 100, LINK: 100})
    assert await store.check_articles("f", [([UID], ""), (["c" * 64, LINK], "")]) == [SEEN, SEEN]
    again = await store.queue_article("f", [UID], [post("@a")])
    assert again.already_seen and again.queued_chats == ()
    assert await store.seen_identities("f", [UID, "c" * 64]) == {UID, "c" * 64}
