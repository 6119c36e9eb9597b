"""Which chats refused a Telegram rich message, so their next articles go straight to the HTML
summary instead of trying (and failing) again.

A chat's memory names the Bot API server that refused (TELEGRAM_API_URL), the kind of refusal
and Telegram's words, and expires after `keys.RICH_OFF_TTL_S` (a day): a server that learned
rich messages, or a chat whose rights changed, is tried again then. A memory made by another
server is ignored (a restart against a newer server tries again at once), and the pipeline
forgets the memories of chats whose `format` is no longer `rich` (`forget_unless_rich`), so
switching the option back on tries again too.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass

import redis.asyncio as aioredis

from store import keys


@dataclass(frozen=True, slots=True)
class RichRefusal:
    """Telegram refused a rich message in a chat: `kind` (unsupported | refused | media),
    `reason` (Telegram's words), `server` (the Bot API root), `at` (unix time)."""

    kind: str
    reason: str
    server: str
    at: float


async def recall(redis: aioredis.Redis, chat: str, server: str) -> RichRefusal | None:
    """The chat's refusal by this server, if it is remembered."""
    raw = await redis.get(keys.rich_off(chat))
    if not raw:
        return None
    try:
        data = json.loads(raw)
        refusal = RichRefusal(str(data["kind"]), str(data.get("reason", "")),
                              str(data.get("server", "")), float(data.get("at", 0)))
    except (ValueError, KeyError, TypeError):
        return None
    return refusal if refusal.server == server else None


async def remember(redis: aioredis.Redis, chat: str, refusal: RichRefusal) -> bool:
    """Remember the refusal for a day. True when the owners have not been told of this kind
    of refusal by this server for this chat (in `keys.RICH_TOLD_TTL_S`): tell them now."""
    told = f"{refusal.server}|{refusal.kind}"
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(keys.rich_off(chat), json.dumps(
            {"kind": refusal.kind, "reason": refusal.reason[:300], "server": refusal.server,
             "at": refusal.at}, ensure_ascii=False), ex=keys.RICH_OFF_TTL_S)
        pipe.set(keys.rich_told(chat), told, ex=keys.RICH_TOLD_TTL_S, get=True)
        _, before = await pipe.execute()
    return bool(before != told)


async def forget_unless_rich(redis: aioredis.Redis, rich_chats: Iterable[str],
                             all_chats: Iterable[str]) -> int:
    """Forget the refusals of the chats in `all_chats` that are not in `rich_chats` (their
    option changed): switching it back to rich tries a rich message again."""
    rich = set(rich_chats)
    gone = [keys.rich_off(c) for c in all_chats if c not in rich]
    if not gone:
        return 0
    return int(await redis.delete(*gone))


def refusal_now(kind: str, reason: str, server: str) -> RichRefusal:
    return RichRefusal(kind, reason, server, time.time())
