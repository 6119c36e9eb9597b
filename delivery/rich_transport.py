"""Rich deliveries (channels with `format: rich`) through the sender: one sendRichMessage per
article, the HTML summary when Telegram will not take it.

`RichTransport` wraps the Telegram transport; the sender sees one `Transport` and keeps every
guarantee it gives posts (the shared rate limits reserved the slot, the sent record is written
before the queue entry goes, Telegram's errors about the chat, floods and the network reach it
unchanged). What this module adds:

* A delivery carrying `rich` (the InputRichMessage as JSON) is sent with `delivery.rich.send_rich`
  and recorded as a `rich` message, so a later change of the article is an `editMessageText`
  with `rich_message` (`edit_rich`).
* Telegram refuses it (`RichMessageError`: `unsupported` = an older Bot API server, `refused` =
  a limit or a block it will not take, `media` = the bot may not send photos there and the
  message without its photo is refused too): the same delivery goes as its HTML summary
  (`html`), in the same send. It is counted, logged once with the link, recorded as the
  article's fate (so `why` tells it), and remembered for the chat (`store.rich_memory`), so the
  next article goes straight to the summary; the owners are told once (`on_fallback`).
* A refused edit becomes a BadRequest, which the sender handles as for any refused edit (kept
  aside, logged, counted).
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from telegram.error import BadRequest

from delivery.rich import RichMessageError, edit_rich, send_rich
from delivery.telegram_transport import TelegramTransport
from guards.urls import display_url
from model.delivery import EDIT_RICH, POST, Delivery, Posted
from store import rich_memory

logger = logging.getLogger(__name__)

# on_fallback(chat, kind, Telegram's words, the article's link): tell the owners (once a chat)
FallbackHook = Callable[[str, str, str, str], Awaitable[None]]
_REDIS_ERRORS = (RedisError, OSError)


@dataclass(slots=True)
class RichStats:
    """Counters for metrics (`ops.metrics.Metrics.attach_rich`)."""

    sent: int = 0                       # rich messages Telegram accepted
    edited: int = 0
    photos_dropped: int = 0             # sent without the photo the chat would not take
    fallbacks: Counter[str] = field(default_factory=Counter)   # by kind; "remembered" too
    edits_refused: int = 0


def _without_photos(payload: dict[str, Any]) -> dict[str, Any] | None:
    blocks = [b for b in payload.get("blocks") or [] if b.get("type") != "photo"]
    if len(blocks) == len(payload.get("blocks") or []):
        return None
    return {**payload, "blocks": blocks}


class RichTransport:
    """The Telegram transport, with rich deliveries sent as rich messages."""

    def __init__(self, inner: TelegramTransport, redis: aioredis.Redis, *, server: str,
                 on_fallback: FallbackHook | None = None) -> None:
        """`server`: the Bot API root (TELEGRAM_API_URL); a refusal is remembered for it only."""
        self.inner = inner
        self.bot = inner.bot
        self.redis = redis
        self.server = server
        self.on_fallback = on_fallback
        self.stats = RichStats()

    async def aclose(self) -> None:
        await self.inner.aclose()

    def set_allow_networks(self, allow_networks: Sequence[str]) -> None:
        """A reload's `allow_networks` reaches the wrapped transport's photo downloader."""
        set_networks = getattr(self.inner, "set_allow_networks", None)
        if set_networks is not None:
            set_networks(allow_networks)

    async def send(self, delivery: Delivery) -> Posted:
        if delivery.kind == EDIT_RICH:
            return await self._edit(delivery)
        if delivery.kind != POST or not delivery.rich:
            return await self.inner.send(delivery)
        context = {"chat": delivery.chat, "article": delivery.uid}
        refusal = await rich_memory.recall(self.redis, delivery.chat, self.server)
        if refusal is not None:
            self.stats.fallbacks["remembered"] += 1
            posted = await self.inner.send(delivery)
            why = f"{refusal.kind}: {refusal.reason}"
            logger.info("rich messages are off in this chat since Telegram refused one (%s); "
                        "sent the summary of %s", why, display_url(delivery.url), extra=context)
            return replace(posted, rich_fallback=why)
        payload: dict[str, Any] = json.loads(delivery.rich)
        try:
            posted = await self._send_rich(delivery, payload)
        except RichMessageError as exc:
            return await self._fall_back(delivery, exc, context)
        self.stats.sent += 1
        return posted

    async def _send_rich(self, delivery: Delivery, payload: dict[str, Any]) -> Posted:
        extra = self.inner.extra
        try:
            message_id = await send_rich(self.bot, delivery.chat_id, payload,
                                         topic=delivery.topic, extra=extra)
            return Posted(message_id, media="rich")
        except RichMessageError as exc:
            bare = _without_photos(payload) if exc.kind == "media" else None
            if bare is None:
                raise
            logger.warning("Telegram would not take the photo of the rich message (%s); "
                           "sending it without: %s", exc.description,
                           display_url(delivery.url),
                           extra={"chat": delivery.chat, "article": delivery.uid})
        message_id = await send_rich(self.bot, delivery.chat_id, bare, topic=delivery.topic,
                                     extra=extra)
        self.stats.photos_dropped += 1
        return Posted(message_id, media="rich", photo="dropped")

    async def _fall_back(self, delivery: Delivery, exc: RichMessageError,
                         context: dict[str, str]) -> Posted:
        """Telegram refused the rich message: the HTML summary instead, remembered."""
        self.stats.fallbacks[exc.kind] += 1
        why = f"{exc.kind}: {exc.description}"
        logger.warning("Telegram refused the rich message (%s); sending the HTML summary "
                       "instead, and to this chat from now on: %s", why,
                       display_url(delivery.url), extra=context)
        tell = False
        try:
            tell = await rich_memory.remember(
                self.redis, delivery.chat,
                rich_memory.refusal_now(exc.kind, exc.description, self.server))
        except _REDIS_ERRORS as error:  # the next article simply tries again
            logger.warning("could not remember the refusal (%s)", error, extra=context)
        posted = await self.inner.send(delivery)
        if tell and self.on_fallback is not None:
            try:
                await self.on_fallback(delivery.chat, exc.kind, exc.description, delivery.url)
            except Exception:
                logger.exception("could not tell the owners of the refused rich message",
                                 extra=context)
        return replace(posted, rich_fallback=why)

    async def _edit(self, delivery: Delivery) -> Posted:
        message_id = int(delivery.message_id or 0)
        context = {"chat": delivery.chat, "article": delivery.uid}
        if not delivery.rich:
            logger.info("the article changed, but the channel no longer posts rich messages; "
                        "its rich message stays as it is: %s", display_url(delivery.url),
                        extra=context)
            return Posted(message_id, media="rich")
        payload: dict[str, Any] = json.loads(delivery.rich)
        try:
            try:
                await edit_rich(self.bot, delivery.chat_id, message_id, payload)
            except RichMessageError as exc:
                bare = _without_photos(payload) if exc.kind == "media" else None
                if bare is None:
                    raise
                await edit_rich(self.bot, delivery.chat_id, message_id, bare)
        except RichMessageError as exc:
            self.stats.edits_refused += 1
            raise BadRequest(f"rich message edit refused ({exc.kind}): {exc.description}"
                             ) from exc
        self.stats.edited += 1
        return Posted(message_id, media="rich")
