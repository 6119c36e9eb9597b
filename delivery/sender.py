"""The sender: takes deliveries from the queue and posts them, handling each Telegram error on
purpose. Transports (Telegram, dry-run preview) are swappable behind `Transport`."""
from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from collections.abc import Callable
from typing import Protocol

from redis.exceptions import RedisError
from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TimedOut

from delivery.models import Delivery, SendOutcome
from delivery.queue import DeliveryQueue, QueuedDelivery
from formatters.telegram_html import html_to_plain

logger = logging.getLogger(__name__)

_PHOTO_REFUSED = ("wrong file identifier", "failed to get http url content",
                  "wrong type of the web page content", "photo_invalid_dimensions",
                  "wrong remote file", "image_process_failed")


class Transport(Protocol):
    async def send(self, delivery: Delivery) -> int:
        """Post the delivery; return the chat's message id."""
        ...


class TelegramTransport:
    """Posts through python-telegram-bot's Bot (pointed at TELEGRAM_API_URL)."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, delivery: Delivery) -> int:
        if delivery.photo_url:
            try:
                message = await self.bot.send_photo(
                    chat_id=delivery.chat_id, photo=delivery.photo_url, caption=delivery.html,
                    parse_mode=ParseMode.HTML, message_thread_id=delivery.topic,
                )
                return message.message_id
            except BadRequest as exc:
                if not any(s in str(exc).lower() for s in _PHOTO_REFUSED):
                    raise
                logger.warning("Telegram would not take the photo (%s); posting without it",
                               exc, extra={"chat": delivery.chat, "article": delivery.uid})
        return await self._send_text(delivery, delivery.html, ParseMode.HTML)

    async def send_plain(self, delivery: Delivery) -> int:
        return await self._send_text(delivery, html_to_plain(delivery.html), None)

    async def _send_text(self, delivery: Delivery, text: str, parse_mode: str | None) -> int:
        preview = (LinkPreviewOptions(url=delivery.preview_url) if delivery.preview_url
                   else LinkPreviewOptions(is_disabled=True))
        message = await self.bot.send_message(
            chat_id=delivery.chat_id, text=text, parse_mode=parse_mode,
            link_preview_options=preview, message_thread_id=delivery.topic,
        )
        return message.message_id


class Sender:
    """Claims deliveries from the shared queue and sends them; one chat's posts in order."""

    def __init__(self, queue: DeliveryQueue, transport: Transport, *, concurrency: int = 4,
                 lease_ms: int = 60_000, max_attempts: int = 4,
                 on_outcome: Callable[[SendOutcome], None] | None = None) -> None:
        self.queue = queue
        self.transport = transport
        self.concurrency = concurrency
        self.lease_ms = lease_ms
        self.max_attempts = max_attempts
        self.on_outcome = on_outcome
        self._slots = asyncio.Semaphore(concurrency)

    async def run(self, stop: asyncio.Event, *, block_ms: int = 1000) -> None:
        """Send until `stop` is set; entries in flight are finished, new ones are not taken."""
        await self._retry_redis(self.queue.ensure_group, stop)
        backoff = 0.5
        while not stop.is_set():
            try:
                batch = await self.queue.reclaim(self.lease_ms)
                batch += await self.queue.read_new(count=50, block_ms=block_ms)
                backoff = 0.5
            except (RedisError, OSError) as exc:
                logger.warning("Redis unreachable (%s); sender retries in %.1f s", exc, backoff)
                await _wait(stop, backoff)
                backoff = min(backoff * 2, 30)
                continue
            if batch:
                await self.send_batch(batch)

    async def drain(self, timeout: float) -> int:
        """Send everything queued now (used by `once`); returns how many entries remain."""
        await self.queue.ensure_group()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            batch = await self.queue.reclaim(0) + await self.queue.read_new(count=100,
                                                                              block_ms=None)
            if not batch:
                break
            await self.send_batch(batch)
        return await self.queue.depth()

    async def send_batch(self, batch: list[QueuedDelivery]) -> list[SendOutcome]:
        by_chat: dict[str, list[QueuedDelivery]] = defaultdict(list)
        for queued in batch:
            by_chat[queued.delivery.chat].append(queued)
        # Editors' pushes first, then oldest article first, within each chat.
        for entries in by_chat.values():
            entries.sort(key=lambda q: (-q.delivery.priority, q.delivery.article_time))
        results = await asyncio.gather(*(self._send_chat(entries) for entries in by_chat.values()))
        return [outcome for chat_outcomes in results for outcome in chat_outcomes]

    async def _send_chat(self, entries: list[QueuedDelivery]) -> list[SendOutcome]:
        outcomes = []
        async with self._slots:
            for queued in entries:
                outcome = await self.handle(queued)
                outcomes.append(outcome)
                if self.on_outcome:
                    self.on_outcome(outcome)
        return outcomes

    async def handle(self, queued: QueuedDelivery) -> SendOutcome:
        """Send one entry, never raising: the outcome says what happened."""
        delivery = queued.delivery
        context = {"chat": delivery.chat, "article": delivery.uid, "feed": delivery.feed_id}
        if await self.queue.already_sent(delivery) is not None:
            # A reclaimed entry whose send had finished before its sender died.
            await self.queue.finish(queued)
            return SendOutcome(delivery, "duplicate", reason="already sent")
        for attempt in range(1, self.max_attempts + 1):
            try:
                message_id = await self.transport.send(delivery)
            except RetryAfter as exc:
                wait = _seconds(exc.retry_after) + 0.1
                logger.warning("Telegram asks to wait %.1f s", wait, extra=context)
                await asyncio.sleep(wait)  # Telegram's own instruction, not a wait for our work
                continue
            except ChatMigrated as exc:
                logger.warning("chat moved to %s; sending there", exc.new_chat_id, extra=context)
                delivery = _replace_chat(delivery, str(exc.new_chat_id))
                queued = QueuedDelivery(queued.entry_id, delivery)
                continue
            except Forbidden as exc:
                logger.error("cannot post to this chat (%s); post kept aside", exc, extra=context)
                await self.queue.hold(queued, f"forbidden: {exc}")
                return SendOutcome(delivery, "held", reason=str(exc))
            except BadRequest as exc:
                outcome = await self._bad_request(queued, exc, context)
                if outcome is not None:
                    return outcome
                continue
            except (TimedOut, NetworkError) as exc:
                # The post may or may not have reached Telegram: retrying can double it, and
                # that is the one case the contract allows, because losing it is worse.
                delay = min(30.0, 0.5 * 2 ** attempt) * random.uniform(0.5, 1.0)
                logger.warning("network error sending (%s); retry %d in %.1f s", exc, attempt,
                               delay, extra=context)
                await asyncio.sleep(delay)  # backoff before retrying Telegram
                continue
            await self.queue.record_sent(queued, message_id)
            logger.info("posted message %s", message_id, extra=context)
            return SendOutcome(delivery, "sent", message_id=message_id)
        logger.warning("giving up for now after %d attempts; the entry stays queued",
                       self.max_attempts, extra=context)
        return SendOutcome(delivery, "retry", reason="attempts exhausted")

    async def _bad_request(self, queued: QueuedDelivery, exc: BadRequest,
                           context: dict[str, str]) -> SendOutcome | None:
        delivery = queued.delivery
        text = str(exc).lower()
        if "chat not found" in text:
            logger.error("chat not found; post kept aside", extra=context)
            await self.queue.hold(queued, str(exc))
            return SendOutcome(delivery, "held", reason=str(exc))
        if "parse entities" in text and isinstance(self.transport, TelegramTransport):
            logger.error("Telegram refused the HTML (%s); sending as plain text", exc,
                         extra=context)
            try:
                message_id = await self.transport.send_plain(delivery)
            except BadRequest as again:
                await self.queue.hold(queued, str(again))
                return SendOutcome(delivery, "held", reason=str(again))
            await self.queue.record_sent(queued, message_id)
            return SendOutcome(delivery, "sent", message_id=message_id, reason="plain text")
        logger.error("Telegram refused the post (%s); post kept aside", exc, extra=context)
        await self.queue.hold(queued, str(exc))
        return SendOutcome(delivery, "held", reason=str(exc))

    async def _retry_redis(self, action: Callable[[], object], stop: asyncio.Event) -> None:
        backoff = 0.5
        while not stop.is_set():
            try:
                await action()  # type: ignore[misc]
                return
            except (RedisError, OSError) as exc:
                logger.warning("Redis unreachable (%s); retrying in %.1f s", exc, backoff)
                await _wait(stop, backoff)
                backoff = min(backoff * 2, 30)


def _seconds(value: object) -> float:
    total = getattr(value, "total_seconds", None)
    return float(total()) if callable(total) else float(value)  # type: ignore[arg-type]


def _replace_chat(delivery: Delivery, chat: str) -> Delivery:
    from dataclasses import replace

    return replace(delivery, chat=chat)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
