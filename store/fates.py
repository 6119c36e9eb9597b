"""Fates: what became of each article in each chat, recorded where it is decided.

Every item the bot reads ends in one recorded state per target chat:

    queued     waiting in the delivery queue
    posted     Telegram accepted it (message id, time)
    held       kept aside, with a way out (the bot cannot post there now, the channel is
               paused, an editor has not reviewed it yet)
    skipped    deliberately not posted, with the reason (older than the first run, filtered by
               a keyword, a duplicate of which link from which feed by which rule, unrenderable
               with the error, rejected by an editor)
    failed     Telegram refused the post itself (kept in the held stream for an operator), or
               it was dropped as the oldest past the held stream's cap

A fate is written in the same Redis script as the decision it records (the queue script, the
delivery scripts), through the Lua function `record_fate` in `FATES_LUA`; decisions taken outside
a script use `Fates.record`. Per article the record is a hash `chat -> JSON` kept FATE_TTL_S;
counts go to an hourly hash `fate:reason -> n` (for "today" and the metric), and skips to a
capped list (the latest skipped items, for the status page and /status).

Reasons are short stable codes (REASONS); `detail` carries what the reader needs to check them
(the keyword, the other link and its feed, the formatter's error).
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import redis.asyncio as aioredis

from guards.urls import canonical_url
from store import keys


class Fate(StrEnum):
    """The state an article ends in, in one chat."""

    QUEUED = "queued"
    POSTED = "posted"
    HELD = "held"
    SKIPPED = "skipped"
    FAILED = "failed"


# Reason codes. Stable: stored, counted, and translated by the bot and the status page.
FIRST_RUN = "first_run"              # older than the feed's first poll (first_run: none|latest)
FILTER_INCLUDE = "filter_include"    # none of the feed's include keywords (detail: the list)
FILTER_EXCLUDE = "filter_exclude"    # matched an exclude keyword (detail: the keyword)
DUPLICATE_LINK = "duplicate_link"    # the chat already had this link (detail: the feed it came by)
DUPLICATE_STORY = "duplicate_story"  # same title and text as another feed's post (detail: link)
UNRENDERABLE = "unrenderable"        # no valid post could be made (detail: the error)
CHANNEL_GONE = "channel_gone"        # the feed names a chat that is not a configured channel
REJECTED = "rejected"                # an editor rejected it on its review card
REVIEW = "review"                    # held: waiting for an editor's decision
PAUSED = "paused"                    # held: the channel is paused; posted when it resumes
BLOCKED = "blocked"                  # held: the bot cannot post there (detail: Telegram's words)
REFUSED = "refused"                  # failed: Telegram refused this post (detail: its words)
RELEASED = "released"                # queued again: a blocked chat's held posts were released
HELD_OVERFLOW = "held_overflow"      # failed: dropped, the oldest past the held stream's cap
RICH = "rich"                        # posted as a rich message (detail: its body was the feed's)
RICH_FALLBACK = "rich_fallback"      # posted as the HTML summary: Telegram refused the rich message
REASONS = (FIRST_RUN, FILTER_INCLUDE, FILTER_EXCLUDE, DUPLICATE_LINK, DUPLICATE_STORY,
           UNRENDERABLE, CHANNEL_GONE, REJECTED, REVIEW, PAUSED, BLOCKED, REFUSED, RELEASED,
           HELD_OVERFLOW, RICH, RICH_FALLBACK)

FATE_TTL_S = 30 * 86_400         # an article's fates are kept this long after the last change
COUNT_TTL_S = 3 * 86_400         # hourly counts kept this long ("today" in any time zone)
SKIPPED_KEEP = 200               # latest skipped items kept for the status page

# record_fate(fates key, chat, fate, reason, detail, feed, uid, url, message id, now):
# writes the chat's fate, counts it in the hour's bucket and, for skips, pushes it on the list
# of the latest. Keys are built from the template prefixes in FATE_PREFIXES (ARGV of the
# calling script), all under the {nashir} hash tag.
FATES_LUA = """
local function record_fate(fkey, chat, fate, reason, detail, feed, uid, url, msg, now,
                           hour_prefix, skipped_key)
  local record = {f = fate, r = reason, d = detail, feed = feed, uid = uid, url = url,
                  t = tonumber(now)}
  if msg ~= nil and msg ~= '' then record.m = tonumber(msg) end
  local json = cjson.encode(record)
  redis.call('HSET', fkey, chat, json)
  redis.call('EXPIRE', fkey, %(fate_ttl)d)
  local hour = hour_prefix .. tostring(math.floor(tonumber(now) / 3600))
  redis.call('HINCRBY', hour, fate .. ':' .. reason, 1)
  redis.call('EXPIRE', hour, %(count_ttl)d)
  if fate == 'skipped' and reason ~= 'first_run' then
    record.chat = chat
    redis.call('LPUSH', skipped_key, cjson.encode(record))
    redis.call('LTRIM', skipped_key, 0, %(skipped_keep)d - 1)
  end
end
""".replace("%(fate_ttl)d", str(FATE_TTL_S)).replace("%(count_ttl)d", str(COUNT_TTL_S)).replace(
    "%(skipped_keep)d", str(SKIPPED_KEEP))

_RECORD_LUA = FATES_LUA + """
local n = tonumber(ARGV[3])
for i = 0, n - 1 do
  local b = 4 + i * 10
  record_fate(ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5],
              ARGV[b + 6], ARGV[b + 7], ARGV[b + 8], ARGV[b + 9], ARGV[1], ARGV[2])
end
return n
"""


def article_key(url: str, uid: str = "") -> str:
    """The short key of an article's fates: its canonical link's hash, else its uid's."""
    basis = canonical_url(url) if url else ""
    return hashlib.sha256((("u:" + basis) if basis else ("id:" + uid)).encode()).hexdigest()[:20]


def fates_key(url: str, uid: str = "") -> str:
    """The Redis hash holding an article's fates (chat -> JSON)."""
    return keys.article_fates(article_key(url, uid))


def fate_prefixes() -> tuple[str, str]:
    """(hour-count key prefix, latest-skipped list key): what a script passes to record_fate."""
    return keys.fate_counts(""), keys.fates_skipped()


@dataclass(frozen=True, slots=True)
class FateRecord:
    """One article's fate in one chat."""

    chat: str
    fate: Fate
    reason: str = ""
    detail: str = ""
    at: float = 0.0
    feed: str = ""
    uid: str = ""
    url: str = ""
    message_id: int | None = None

    @classmethod
    def from_json(cls, chat: str, raw: str) -> FateRecord:
        data = json.loads(raw)
        message = data.get("m")
        return cls(chat=str(data.get("chat") or chat), fate=Fate(data.get("f", "queued")),
                   reason=str(data.get("r") or ""), detail=str(data.get("d") or ""),
                   at=float(data.get("t") or 0), feed=str(data.get("feed") or ""),
                   uid=str(data.get("uid") or ""), url=str(data.get("url") or ""),
                   message_id=int(message) if message not in (None, "") else None)


@dataclass(frozen=True, slots=True)
class FateWrite:
    """A fate to record outside a script (`Fates.record`)."""

    chat: str
    fate: Fate
    url: str
    uid: str
    reason: str = ""
    detail: str = ""
    feed: str = ""
    message_id: int | None = None


class Fates:
    """Reads and (outside scripts) writes articles' fates."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._record = redis.register_script(_RECORD_LUA)

    async def record(self, writes: Sequence[FateWrite], *, now: float | None = None) -> None:
        """Record several fates in one step."""
        if not writes:
            return
        now = time.time() if now is None else now
        hour_prefix, skipped = fate_prefixes()
        args: list[str | int | float] = [hour_prefix, skipped, len(writes)]
        for w in writes:
            args += [fates_key(w.url, w.uid), w.chat, w.fate.value, w.reason, w.detail, w.feed,
                     w.uid, w.url, "" if w.message_id is None else w.message_id, now]
        await self._record(keys=[keys.fates_skipped()], args=args)

    async def of_article(self, url: str, uid: str = "") -> list[FateRecord]:
        """Every chat's fate of the article at `url` (or with `uid`), oldest decision first."""
        raw = await self.redis.hgetall(fates_key(url, uid))
        records = [FateRecord.from_json(str(chat), str(value)) for chat, value in raw.items()]
        return sorted(records, key=lambda r: (r.at, r.chat))

    async def counts_since(self, since: float, now: float | None = None
                           ) -> dict[tuple[str, str], int]:
        """(fate, reason) -> how many fates were recorded from `since` (hour buckets: the
        first hour is counted whole)."""
        now = time.time() if now is None else now
        hours = range(int(since // 3600), int(now // 3600) + 1)
        async with self.redis.pipeline(transaction=False) as pipe:
            for hour in hours:
                pipe.hgetall(keys.fate_counts(str(hour)))
            answers = await pipe.execute()
        totals: dict[tuple[str, str], int] = {}
        for answer in answers:
            for field, value in answer.items():
                fate, _, reason = str(field).partition(":")
                totals[(str(fate), str(reason))] = totals.get((fate, reason), 0) + int(value)
        return totals

    async def latest_skipped(self, limit: int = 20) -> list[FateRecord]:
        """The latest skipped items, newest first."""
        raw = await self.redis.lrange(keys.fates_skipped(), 0, max(0, limit - 1))
        return [FateRecord.from_json("", str(value)) for value in raw]


def totals_by_fate(counts: dict[tuple[str, str], int]) -> dict[str, int]:
    """(fate, reason) counts summed per fate."""
    out: dict[str, int] = {}
    for (fate, _), n in counts.items():
        out[fate] = out.get(fate, 0) + n
    return out


def reasons_of(records: Iterable[FateRecord]) -> set[str]:
    """The reason codes among `records`."""
    return {r.reason for r in records if r.reason}
