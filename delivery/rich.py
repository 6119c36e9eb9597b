"""Sending and editing Telegram rich messages (Bot API 10.1+) with python-telegram-bot 22.

PTB 22.8 implements Bot API 10.0 and has no method for rich messages, so:

* `send_rich` posts through `Bot.do_api_request("sendRichMessage", api_kwargs=...)`. PTB sends
  the nested `rich_message` dict as a JSON form field and returns the raw Message dict. PTB's
  `Defaults` (disable_notification, protect_content, ...) are not applied to do_api_request:
  what a send needs is passed here explicitly.
* `edit_rich` calls `Bot.edit_message_text` with an empty text and `rich_message` in api_kwargs
  (calling do_api_request for an endpoint PTB knows emits a PTBUserWarning). The Bot API server
  cannot tell an empty parameter from a missing one, so only `rich_message` counts.

Refusals that concern the rich message itself become `RichMessageError` with a `kind`:

    unsupported  the Bot API server does not know rich messages: sendRichMessage answers 404
                 (PTB: EndPointNotFound, raised only by an initialized Bot, so `send_rich`
                 initializes it first), or editMessageText ignores rich_message and asks for
                 a text ("message text is empty")
    media        the bot may not send photos there, or Telegram cannot use the photo
    refused      any other 400 about the message: limits, blocks, buttons, kinds of message

Everything else goes through unchanged, so the sender handles it as for posts: RetryAfter,
Forbidden, ChatMigrated, TimedOut/NetworkError, and the 400s that say the chat itself is
unusable ("chat not found", "need administrator rights", "not enough rights to send text
messages", a missing topic or message).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal

from telegram import Bot, InlineKeyboardMarkup
from telegram.error import BadRequest, EndPointNotFound

logger = logging.getLogger(__name__)

RichErrorKind = Literal["unsupported", "refused", "media"]

# 400 texts about the media of a message (sendPhoto's, which Telegram shares).
_MEDIA = ("rights to send photos", "rights to send videos", "rights to send documents",
          "rights to send audio", "rights to send media", "wrong file identifier",
          "failed to get http url content", "wrong type of the web page content",
          "photo_invalid_dimensions", "wrong remote file", "image_process_failed",
          "photo_save_file_invalid", "file is too big", "webpage_media_empty",
          "webpage_curl_failed")
# 400 texts about the chat or the target message, not this rich message: let the sender
# handle them as it does for posts.
_NOT_THE_MESSAGE = ("chat not found", "need administrator rights", "not enough rights",
                    "have no rights to send", "chat_write_forbidden", "chat_admin_required",
                    "bot is not a member", "chat_restricted", "channel_private",
                    "message thread not found", "message to edit not found",
                    "message can't be edited", "message_id_invalid")
# An older server ignores rich_message in editMessageText and finds no text.
_EDIT_UNSUPPORTED = ("message text is empty",)


class RichMessageError(Exception):
    """Telegram would not take this rich message; `kind` says what the sender may do next
    (`unsupported`: post it another way; `media`: try again without the photo; `refused`:
    the message itself is wrong). `description` is Telegram's text."""

    def __init__(self, kind: RichErrorKind, description: str, method: str) -> None:
        super().__init__(f"{method}: {kind}: {description}")
        self.kind: RichErrorKind = kind
        self.description = description
        self.method = method


def _classify(exc: BadRequest, method: str) -> RichMessageError | None:
    """The kind of a 400, or None when it is not about the rich message."""
    text = exc.message.lower()
    if any(s in text for s in _MEDIA):
        return RichMessageError("media", exc.message, method)
    if any(s in text for s in _NOT_THE_MESSAGE):
        return None
    if method == "editMessageText" and any(s in text for s in _EDIT_UNSUPPORTED):
        return RichMessageError("unsupported", exc.message, method)
    return RichMessageError("refused", exc.message, method)


async def send_rich(bot: Bot, chat_id: int | str, payload: Mapping[str, Any], *,
                    topic: int | None = None, disable_notification: bool = False,
                    reply_markup: InlineKeyboardMarkup | None = None,
                    extra: Mapping[str, Any] | None = None) -> int:
    """Post `payload` (an InputRichMessage, as `formatters.rich` builds it) with
    sendRichMessage; return the message id.

    `topic`: a forum topic (message_thread_id). `extra`: further sendRichMessage parameters
    (protect_content, allow_paid_broadcast, ...), since PTB's Defaults do not reach this call.
    Raises RichMessageError for refusals of the message; other Telegram errors unchanged."""
    await bot.initialize()  # a no-op when done; without it a 404 is reported as InvalidToken
    api_kwargs: dict[str, Any] = {"chat_id": chat_id, "rich_message": dict(payload)}
    if topic is not None:
        api_kwargs["message_thread_id"] = topic
    if disable_notification:
        api_kwargs["disable_notification"] = True
    if reply_markup is not None:
        api_kwargs["reply_markup"] = reply_markup
    if extra:
        api_kwargs.update(extra)
    try:
        result = await bot.do_api_request("sendRichMessage", api_kwargs=api_kwargs)
    except EndPointNotFound as exc:
        raise RichMessageError("unsupported", exc.message, "sendRichMessage") from exc
    except BadRequest as exc:
        error = _classify(exc, "sendRichMessage")
        if error is None:
            raise
        raise error from exc
    if not isinstance(result, Mapping) or not isinstance(result.get("message_id"), int):
        raise RichMessageError("refused", f"unexpected answer {result!r}", "sendRichMessage")
    return int(result["message_id"])


async def edit_rich(bot: Bot, chat_id: int | str, message_id: int,
                    payload: Mapping[str, Any], *,
                    reply_markup: InlineKeyboardMarkup | None = None) -> bool:
    """Replace the content of rich message `message_id` with `payload` (editMessageText with
    rich_message). Returns False when Telegram says nothing changed, True otherwise.
    Raises RichMessageError for refusals of the message; other Telegram errors unchanged."""
    try:
        await bot.edit_message_text("", chat_id=chat_id, message_id=message_id,
                                    reply_markup=reply_markup,
                                    api_kwargs={"rich_message": dict(payload)})
    except BadRequest as exc:
        if "message is not modified" in exc.message.lower():
            logger.debug("rich message %s in %s already has this content", message_id, chat_id)
            return False
        error = _classify(exc, "editMessageText")
        if error is None:
            raise
        raise error from exc
    return True
