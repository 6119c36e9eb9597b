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

Posts that cannot go now are not dropped in silence: a chat that forbids the bot is *blocked*
and its posts move to the `deliveries:held` stream (released again with `release_held`, which
the probe and the bot's triggers call: `delivery.held`); a post Telegram refuses for itself is
held alone. Past the held stream's cap the oldest are dropped with fate failed (held_overflow).
Each of these steps records the article's fate in the same script (`delivery.queue_scripts`).
"""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from delivery.queue_scripts import (
    BLOCK_LUA,
    CLAIM_LUA,
    COMPLETE_LUA,
    DROP_HELD_LUA,
    HOLD_LUA,
    MIGRATE_LUA,
    PROBE_DUE_LUA,
    PROBE_FAILED_LUA,
    PROBE_MISSING_LUA,
    RELEASE_CHAT_LUA,
    RELEASE_LUA,
    RENEW_LUA,
    ROUTE_LUA,
    UNHOLD_LUA,
    Arg,
)
from delivery.ratelimit import RateLimits, limit_args, limit_keys
from model.delivery import EDIT_CAPTION, EDIT_RICH, EDIT_TEXT, Delivery, Posted, SentRecord
from store import fates, keys
from store.fates import fates_key

POSTS_LOG_KEEP = 200

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


def fate_key_of(delivery: Delivery) -> str:
    """Where the article's fates are (store.fates), '' for edits (no fate of their own)."""
    return "" if delivery.is_edit else fates_key(delivery.url, delivery.uid)


@dataclass(frozen=True, slots=True)
class Dropped:
    """What `drop_held_overflow` did: the posts dropped (chat, link) and whether this drop
    took the held stream past its cap (tell the owners once)."""

    posts: tuple[tuple[str, str], ...] = ()
    crossed: bool = False


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
        self._release_chat = redis.register_script(RELEASE_CHAT_LUA)
        self._probe_due = redis.register_script(PROBE_DUE_LUA)
        self._probe_failed = redis.register_script(PROBE_FAILED_LUA)
        self._probe_missing = redis.register_script(PROBE_MISSING_LUA)
        self._drop_held = redis.register_script(DROP_HELD_LUA)

    # -- shared script arguments ------------------------------------------------------------
    @staticmethod
    def _keys(*extra: str) -> list[str]:
        return [*limit_keys(), keys.delivery_items(), keys.delivery_attempts(),
                keys.delivery_ready(1), keys.delivery_ready(0), keys.delivery_leased(),
                keys.delivery_owners(), keys.delivery_blocked(), keys.delivery_migrated(),
                keys.held(), keys.deliveries(), keys.delivery_fate_keys(),
                keys.delivery_probes(), keys.delivery_probe_tries(), keys.fates_skipped(),
                *extra]

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
                fkey = fate_key_of(delivery)
            except (ValueError, TypeError, KeyError):
                chat, score, fkey = "", "0", ""
            args += [entry_id, chat, score, payload, fkey]
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
                # a rich message as sent (the status page draws it); "" for summaries
                "rich": delivery.rich if posted.media == "rich" else "",
            }, ensure_ascii=False)
        present, maybe = await self._complete(
            keys=self._keys(keys.sent(delivery.chat, delivery.uid),
                            keys.chat_stats(delivery.chat), keys.posts_log(),
                            keys.post_times()),
            args=self._args(limits, queued.target, queued.entry_id, token, record,
                            keys.SENT_TTL_S, log_entry, POSTS_LOG_KEEP, time.time(),
                            queued.slot if posted is not None else "",
                            int(answered_ago * 1000), keys.POST_TIMES_KEEP_S,
                            posted.message_id if posted is not None else "",
                            *_posted_how(delivery, posted)),
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

    async def hold(self, queued: QueuedDelivery, token: str, reason: str, *,
                   kind: str = "refused") -> None:
        """Keep one post Telegram will not take aside (held stream) and free the chat. `kind`
        refused: its fate is failed (refused, with Telegram's words); unreadable: no fate."""
        await self._hold(keys=self._keys(), args=self._args(
            None, queued.target, queued.entry_id, token, reason, kind))

    async def block_chat(self, chat: str, token: str, reason: str, *,
                         probe_first_s: float = 60.0, probe_max_s: float = 21_600.0
                         ) -> tuple[bool, int]:
        """The bot may not post in `chat`: hold its queued posts and those that come later
        (fate: held, blocked), until `release_held`; a newly blocked chat's first probe is due
        `probe_first_s` from now (later ones back off to `probe_max_s`). Returns (newly
        blocked, posts held now)."""
        newly, count = await self._block(keys=self._keys(), args=self._args(
            None, chat, token, reason, int(probe_first_s * 1000), int(probe_max_s * 1000)))
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
                         language: str = "ar", feed_id: str = "", priority: int = 0,
                         rich: str = "") -> bool:
        """Queue an edit of the message posted for (chat, article), found through its sent
        record. False when the article was never posted there (nothing to edit). `rich`: the
        new rich message (JSON), for a message that went out as one."""
        record = await self.sent_record(chat, uid)
        if record is None:
            return False
        delivery = Delivery(
            chat=record.chat, uid=uid, url=url, html=html, feed_id=feed_id,
            preview_url=preview_url, language=language, article_time=article_time,
            queued_at=time.time(), priority=priority,
            kind=_edit_kind(record.media), message_id=record.message_id,
            rich=rich if record.media == "rich" else "")
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

    async def release_held(self, chat: str, *, reset_probes: bool = True,
                           page: int = 1000) -> int:
        """Unblock `chat` and queue its posts held because it was blocked again, in article
        order (fate: queued, released); posts held because the channel is paused, or refused
        by Telegram, stay. `reset_probes`: a person brought the chat back, so a later block
        starts the probe's backoff afresh. Returns how many posts went back."""
        released, cursor = 0, "-"
        while True:
            moved, cursor = await self._release_chat(keys=self._keys(), args=self._args(
                None, chat, cursor, page, "1" if reset_probes else "0"))
            released += int(moved)
            if not cursor:
                return released

    async def probe_due(self, count: int = 20, probe_ms: int = 60_000) -> list[str]:
        """Blocked chats whose probe is due (each pushed `probe_ms` ahead meanwhile)."""
        return [str(c) for c in await self._probe_due(
            keys=self._keys(), args=self._args(None, count, probe_ms))]

    async def schedule_missing_probes(self, first_s: float, max_s: float) -> int:
        """Give every blocked chat without a probe one (chats blocked by an earlier version)."""
        return int(await self._probe_missing(keys=self._keys(), args=self._args(
            None, int(first_s * 1000), int(max_s * 1000))))

    async def probe_failed(self, chat: str, first_s: float, max_s: float) -> float:
        """Reschedule a chat whose probe failed; seconds until the next (-1: not blocked)."""
        wait = int(await self._probe_failed(keys=self._keys(), args=self._args(
            None, chat, int(first_s * 1000), int(max_s * 1000))))
        return wait / 1000 if wait >= 0 else -1.0

    async def drop_held_overflow(self, cap: int, batch: int = 500) -> Dropped:
        """Past `cap` held posts, drop the oldest (fate: failed, held_overflow)."""
        posts: list[tuple[str, str]] = []
        crossed = False
        while True:
            excess = int(await self.redis.xlen(keys.held())) - cap
            if excess <= 0:
                break
            args: list[Arg] = []
            oldest = await self.redis.xrange(keys.held(), count=min(excess, batch)) or []
            for held_id, raw in oldest:
                fields = {str(k): str(v) for k, v in (raw or {}).items()}
                fkey = fields.get("fk", "")
                if not fkey:  # the pipeline's paused posts carry no key: computed here
                    try:
                        fkey = fate_key_of(Delivery.from_fields(fields))
                    except (ValueError, TypeError, KeyError):
                        fkey = ""
                args += [str(held_id), fkey]
            answer = await self._drop_held(keys=self._keys(keys.delivery_held_over()),
                                           args=self._args(None, cap, len(args) // 2, *args))
            crossed = crossed or bool(int(answer[1]))
            found = [str(x) for x in answer[2:]]
            posts += list(zip(found[0::2], found[1::2], strict=True))
            if not int(answer[0]):
                break
        if not posts and not crossed:
            # Back under the cap (posts released): the next crossing is told again.
            await self._drop_held(keys=self._keys(keys.delivery_held_over()),
                                  args=self._args(None, cap, 0))
        return Dropped(tuple(posts), crossed)

    async def release_paused(self, chat: str) -> int:
        """Queue again the posts that waited while `chat` was paused (in their article order);
        other held posts of the chat stay held. Returns how many went back."""
        posts: list[HeldPost] = []
        start = "-"
        while True:
            page = await self.redis.xrange(keys.held(), min=start, count=1000) or []
            for held_id, raw in page:
                fields = {str(k): str(v) for k, v in (raw or {}).items()}
                if fields.get("chat") != chat or fields.get("reason") != "paused":
                    continue
                try:
                    delivery = Delivery.from_fields(fields)
                except (ValueError, TypeError, KeyError):
                    continue
                posts.append(HeldPost(str(held_id), fields.get("entry") or str(held_id), chat,
                                      "paused", delivery))
            if len(page) < 1000:
                break
            start = "(" + str(page[-1][0])
        released = 0
        for first in range(0, len(posts), 200):
            args: list[Arg] = []
            for post in posts[first:first + 200]:
                assert post.delivery is not None
                args += [post.held_id, post.entry_id, post.chat, repr(sort_score(post.delivery)),
                         post.delivery.to_json(), fate_key_of(post.delivery)]
            released += int(await self._unhold(
                keys=self._keys(), args=self._args(None, "", len(posts[first:first + 200]),
                                                   *args)))
        await self.redis.srem(keys.delivery_paused_held(), chat)
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


def _edit_kind(media: str) -> str:
    """How a message of this kind is edited (a rich message that fell back went as text)."""
    return {"photo": EDIT_CAPTION, "rich": EDIT_RICH}.get(media, EDIT_TEXT)


def _posted_how(delivery: Delivery, posted: Posted | None) -> tuple[str, str]:
    """How a post went, for its fate: as a rich message, or as the summary instead (why)."""
    if posted is None:
        return "", ""
    if posted.rich_fallback:
        return fates.RICH_FALLBACK, posted.rich_fallback[:300]
    if posted.media == "rich":
        return fates.RICH, (delivery.rich_note or "")[:300]
    return "", ""
