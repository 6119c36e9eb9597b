"""Telegram's transport: how a delivery reaches a Telegram chat.

`TelegramTransport` posts with parse_mode=HTML; when Telegram refuses the HTML it posts the same
text as plain text (logged loudly); when it refuses a photo URL it downloads and uploads the
photo, else posts without it. Edits go through `editMessageText`/`editMessageCaption`.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from telegram import Bot, InputFile, LinkPreviewOptions
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest

from delivery.photos import PhotoFetcher
from formatters.telegram_html import CAPTION_LIMIT, TEXT_LIMIT, html_to_plain
from model.delivery import EDIT_CAPTION, POST, Delivery, Posted

logger = logging.getLogger(__name__)

_PHOTO_REFUSED = ("wrong file identifier", "failed to get http url content",
                  "wrong type of the web page content", "photo_invalid_dimensions",
                  "wrong remote file", "image_process_failed", "photo_save_file_invalid",
                  "file is too big", "webpage_media_empty", "webpage_curl_failed",
                  "rights to send photos")


def _photo_refused(exc: BadRequest) -> bool:
    text = str(exc).lower()
    return any(s in text for s in _PHOTO_REFUSED)


def _html_refused(exc: BadRequest) -> bool:
    return "can't parse entities" in str(exc).lower()


class TelegramTransport:
    """Posts through python-telegram-bot's Bot (pointed at TELEGRAM_API_URL), with the
    fallbacks that keep a post from being lost: plain text when the HTML is refused, an upload
    (or no photo) when Telegram will not fetch the photo's URL."""

    def __init__(self, bot: Bot, *, photos: PhotoFetcher | None = None,
                 allow_networks: Sequence[str] = (), paid_broadcast: bool = False) -> None:
        """`allow_networks`: private networks the photo downloader may reach (the config's
        `allow_networks`); ignored when a `photos` fetcher is given."""
        self.bot = bot
        self.photos = photos if photos is not None else PhotoFetcher(
            allow_networks=allow_networks)
        self._own_photos = photos is None
        self._extra: dict[str, Any] = {"allow_paid_broadcast": True} if paid_broadcast else {}

    @property
    def extra(self) -> dict[str, Any]:
        """Parameters every send carries (allow_paid_broadcast), for other senders' calls."""
        return dict(self._extra)
    def set_allow_networks(self, allow_networks: Sequence[str]) -> None:
        """The config's new `allow_networks` (reload), for the photo downloader."""
        self.photos.set_allow_networks(allow_networks)

    async def aclose(self) -> None:
        """Close the photo downloader's HTTP session (when this transport made it)."""
        if self._own_photos:
            await self.photos.aclose()

    async def probe(self, chat: str) -> None:
        """Raise what Telegram answers if the bot may not post in `chat` now: a chat action is
        refused exactly where a post would be (403, chat not found, no rights) and shows
        nothing to readers."""
        await self.bot.send_chat_action(int(chat) if chat.lstrip("-").isdigit() else chat,
                                        ChatAction.TYPING)

    async def send(self, delivery: Delivery) -> Posted:
        if delivery.kind != POST:
            return await self.edit(delivery)
        if delivery.photo_url:
            return await self._photo_post(delivery)
        return await self._text(delivery)

    async def _photo_post(self, delivery: Delivery) -> Posted:
        context = {"chat": delivery.chat, "article": delivery.uid, "url": delivery.photo_url}
        try:
            return await self._photo(delivery, delivery.photo_url or "", "url")
        except BadRequest as exc:
            if not _photo_refused(exc):
                raise
            logger.warning("Telegram would not fetch the photo (%s); downloading it", exc,
                           extra=context)
        photo = await self.photos.fetch(delivery.photo_url or "")
        if photo is not None:
            try:
                return await self._photo(delivery, InputFile(photo.data, filename=photo.filename),
                                         "upload")
            except BadRequest as exc:
                if not _photo_refused(exc):
                    raise
                logger.warning("Telegram refused the uploaded photo too (%s)", exc,
                               extra=context)
        logger.warning("posting without the photo", extra=context)
        return replace(await self._text(delivery), photo="dropped")

    async def _photo(self, delivery: Delivery, photo: str | InputFile, how: str) -> Posted:
        try:
            message = await self.bot.send_photo(
                chat_id=delivery.chat_id, photo=photo, caption=delivery.html,
                parse_mode=ParseMode.HTML, message_thread_id=delivery.topic, **self._extra)
            return Posted(message.message_id, media="photo", photo=how)
        except BadRequest as exc:
            if not _html_refused(exc):
                raise
            logger.error("TELEGRAM REFUSED THE HTML of a caption (%s); sending it as plain text",
                         exc, extra={"chat": delivery.chat, "article": delivery.uid})
        message = await self.bot.send_photo(
            chat_id=delivery.chat_id, photo=photo,
            caption=html_to_plain(delivery.html, limit=CAPTION_LIMIT),
            message_thread_id=delivery.topic, **self._extra)
        return Posted(message.message_id, media="photo", photo=how, plain_fallback=True)

    def _preview(self, delivery: Delivery) -> LinkPreviewOptions:
        return (LinkPreviewOptions(url=delivery.preview_url) if delivery.preview_url
                else LinkPreviewOptions(is_disabled=True))

    async def _text(self, delivery: Delivery) -> Posted:
        try:
            message = await self.bot.send_message(
                chat_id=delivery.chat_id, text=delivery.html, parse_mode=ParseMode.HTML,
                link_preview_options=self._preview(delivery), message_thread_id=delivery.topic,
                **self._extra)
            return Posted(message.message_id)
        except BadRequest as exc:
            if not _html_refused(exc):
                raise
            logger.error("TELEGRAM REFUSED THE HTML (%s); sending the post as plain text", exc,
                         extra={"chat": delivery.chat, "article": delivery.uid})
        message = await self.bot.send_message(
            chat_id=delivery.chat_id, text=html_to_plain(delivery.html),
            link_preview_options=self._preview(delivery), message_thread_id=delivery.topic,
            **self._extra)
        return Posted(message.message_id, plain_fallback=True)

    async def edit(self, delivery: Delivery) -> Posted:
        """Change an earlier post (editMessageText, or editMessageCaption for a photo)."""
        caption = delivery.kind == EDIT_CAPTION
        media = "photo" if caption else "text"
        message_id = int(delivery.message_id or 0)
        plain = False
        for parse_mode in (ParseMode.HTML, None):
            text = delivery.html if parse_mode else html_to_plain(
                delivery.html, limit=CAPTION_LIMIT if caption else TEXT_LIMIT)
            try:
                if caption:
                    await self.bot.edit_message_caption(
                        chat_id=delivery.chat_id, message_id=message_id, caption=text,
                        parse_mode=parse_mode)
                else:
                    await self.bot.edit_message_text(
                        text, chat_id=delivery.chat_id, message_id=message_id,
                        parse_mode=parse_mode, link_preview_options=self._preview(delivery))
                return Posted(message_id, media=media, plain_fallback=plain)
            except BadRequest as exc:
                if "message is not modified" in str(exc).lower():
                    return Posted(message_id, media=media, plain_fallback=plain)
                if parse_mode is None or not _html_refused(exc):
                    raise
                logger.error("TELEGRAM REFUSED THE HTML of an edit (%s); editing as plain text",
                             exc, extra={"chat": delivery.chat, "article": delivery.uid})
                plain = True
        raise AssertionError("unreachable")
