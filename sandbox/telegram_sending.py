"""Sending: sendMessage, sendPhoto, sendDocument, sendRichMessage, with the checks in the
server's order (chat, rights, media, flood control) and the stored Message objects."""
from __future__ import annotations

import math
import re
import time
from collections import deque
from typing import Any

from sandbox.telegram_html import ParsedText, finish_text, parse_entities
from sandbox.telegram_params import (
    _int,
    _link_preview,
    _maybe_int,
    _media_param,
    _reply_markup,
    _str,
)
from sandbox.telegram_records import (
    JSON,
    ApiError,
    FakeChat,
    RateLimitHit,
    SentMessage,
    UploadedFile,
    _Call,
    bad_request,
)
from sandbox.telegram_rich import RichMessage, check_rich_message
from sandbox.telegram_world import _World

_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"RIFF", b"BM")


class _Sending(_World):
    """The sending methods and the checks every send and edit goes through."""

    # --- sending ---------------------------------------------------------------------------------

    async def _send_message(self, call: _Call) -> JSON:
        p = call.params
        markup = _reply_markup(p)
        preview = _link_preview(p)
        parsed = parse_entities(_str(p, "text") or "", _str(p, "parse_mode"))
        chat, thread = self._target(p)
        self._check_can_send(chat, "text messages")
        final = finish_text(parsed)
        self._check_delivery(chat, call.method)
        extra: JSON = {"text": final.text}
        if final.entities:
            extra["entities"] = [e.to_api() for e in final.entities]
        if preview:
            extra["link_preview_options"] = preview
        return self._accept(call, chat, thread, extra, final, markup=markup, preview=preview,
                            html=_str(p, "text"))

    async def _send_photo(self, call: _Call) -> JSON:
        return await self._send_media(call, "photo", "photos")

    async def _send_document(self, call: _Call) -> JSON:
        return await self._send_media(call, "document", "documents")

    async def _send_media(self, call: _Call, kind: str, rights: str) -> JSON:
        p = call.params
        markup = _reply_markup(p)
        media = _media_param(call, kind)
        raw_caption = _str(p, "caption") or ""
        parsed = parse_entities(raw_caption, _str(p, "parse_mode"), caption=True)
        chat, thread = self._target(p)
        self._check_can_send(chat, rights)
        self._check_media_right(chat, rights)
        final = finish_text(parsed, caption=True)
        self._check_media(media, kind)
        self._check_delivery(chat, call.method)
        extra = self._media_object(media, kind)
        if final.text:
            extra["caption"] = final.text
        if final.entities:
            extra["caption_entities"] = [e.to_api() for e in final.entities]
        return self._accept(call, chat, thread, extra, final, markup=markup, media=media,
                            html=raw_caption or None, caption=True)

    async def _send_chat_action(self, call: _Call) -> bool:
        chat, _ = self._target(call.params)
        self._check_can_send(chat, "text messages")
        return True

    def _accept(self, call: _Call, chat: FakeChat, thread: int | None, extra: JSON,
                parsed: ParsedText, *, markup: JSON | None, html: str | None,
                preview: JSON | None = None, media: str | UploadedFile | None = None,
                caption: bool = False, rich: JSON | None = None) -> JSON:
        """Store an accepted message and build the Message object Telegram answers."""
        now = self.clock()
        self._count_send(chat, now)
        message: JSON = {"message_id": self._next_message_id(chat), "date": int(time.time()),
                         "chat": chat.to_api()}
        if chat.type == "channel":
            message["sender_chat"] = chat.to_api()
        else:
            message["from"] = self._bot_user()
        if thread is not None:
            message.update(message_thread_id=thread, is_topic_message=True)
        message.update(extra)
        if markup and "inline_keyboard" in markup:  # only inline keyboards come back
            message["reply_markup"] = markup
        self._stored[(chat.id, message["message_id"])] = message
        content = media.data if isinstance(media, UploadedFile) else media
        sent = SentMessage(
            chat_id=chat.id, chat_username=chat.username, message_id=message["message_id"],
            method=call.method, html=html,
            text=None if caption or rich is not None else parsed.text,
            entities=parsed.entities, caption=parsed.text if caption else None,
            photo=content if call.method == "sendPhoto" else None,
            document=content if call.method == "sendDocument" else None,
            parse_mode=_str(call.params, "parse_mode"), reply_markup=markup,
            link_preview_options=preview, message_thread_id=thread, time=now, api=message,
            rich=rich)
        self.messages.append(sent)
        self._sent[(chat.id, sent.message_id)] = sent
        return message

    def _media_object(self, media: str | UploadedFile, kind: str) -> JSON:
        if isinstance(media, str) and media in self._files:
            file_id = media
            stored, _ = self._files[media]
        else:
            upload = media if isinstance(media, UploadedFile) else None
            file_id, _ = self._new_file(upload, "photos" if kind == "photo" else "documents")
            stored = upload
        size = len(stored.data) if stored else 52_000
        unique = f"u{file_id[-8:]}"
        if kind == "photo":
            sizes = []
            for suffix, (width, height) in zip("smx", ((90, 51), (320, 180), (1280, 720)),
                                               strict=True):
                # Each size's file_id can be sent again, as on Telegram.
                self._files.setdefault(f"{file_id}{suffix}", self._files[file_id])
                sizes.append({"file_id": f"{file_id}{suffix}",
                              "file_unique_id": f"{unique}{suffix}", "width": width,
                              "height": height, "file_size": size * width // 1280})
            return {"photo": sizes}
        name = stored.filename if stored else (media if isinstance(media, str) else "file")
        return {"document": {"file_id": file_id, "file_unique_id": unique,
                             "file_name": name.rsplit("/", 1)[-1] or "file",
                             "mime_type": stored.content_type if stored else
                             "application/octet-stream", "file_size": size}}

    def _new_file(self, upload: UploadedFile | None, folder: str) -> tuple[str, str]:
        number = next(self._ids)
        file_id = f"BQACAgIAAxkBAAI{number:08d}"
        name = upload.filename if upload else "file"
        self._files[file_id] = (upload, f"{folder}/file_{number}_{name}")
        return file_id, f"AgAD{number:06d}"

    # --- the checks, in the server's order ----------------------------------------------------

    def _target(self, p: JSON) -> tuple[FakeChat, int | None]:
        """The chat a request names, and its forum topic."""
        chat = self._resolve_chat(p.get("chat_id"))
        thread = _int(p, "message_thread_id")
        if thread and (not chat.is_forum
                       or (chat.topics is not None and thread not in chat.topics)):
            raise bad_request("message thread not found")
        return chat, thread or None

    def _resolve_chat(self, raw: Any) -> FakeChat:
        if raw is None or raw == "":
            raise bad_request("chat_id is empty")
        chat: FakeChat | None = None
        if isinstance(raw, str) and raw.startswith("@"):
            found = self._chats.get(self._by_username.get(raw[1:].lower(), 0))
            # Only public channels and supergroups are reachable by @username.
            if found and found.type in ("channel", "supergroup"):
                chat = found
        else:
            chat_id = _maybe_int(raw)
            chat = self._chats.get(chat_id) if chat_id is not None else None
        if chat is None:
            raise bad_request("chat not found")
        if chat.migrated_to is not None:
            raise ApiError(400, "Bad Request: group chat was upgraded to a supergroup chat",
                           {"migrate_to_chat_id": chat.migrated_to})
        return chat

    def _check_can_send(self, chat: FakeChat, what: str) -> None:
        """What tdlib knows locally before sending: the bot's place in the chat."""
        if chat.user is not None:
            if chat.user.deactivated:
                raise ApiError(403, "Forbidden: user is deactivated")
            if not chat.user.started:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            return
        if chat.bot_status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {chat.type} chat")
        if chat.bot_status == "left":
            raise ApiError(403, f"Forbidden: bot is not a member of the {chat.type} chat")
        if chat.bot_status == "creator":
            return
        if chat.type == "channel" and (chat.bot_status != "administrator" or not chat.can_post):
            raise bad_request("need administrator rights in the channel chat")
        if not chat.can_post:
            raise bad_request(f"not enough rights to send {what} to the chat")

    def _check_media_right(self, chat: FakeChat, what: str) -> None:
        """A chat that lets the bot post text but not media (`refuse_media`)."""
        if not chat.can_send_media and chat.bot_status != "creator":
            raise bad_request(f"not enough rights to send {what} to the chat")

    def _check_media(self, media: str | UploadedFile, kind: str) -> None:
        """What Telegram finds when it fetches or decodes the file."""
        if isinstance(media, UploadedFile):
            if kind == "photo" and not media.data.startswith(_IMAGE_MAGIC):
                raise bad_request("IMAGE_PROCESS_FAILED")
            return
        if media in self._files:
            return
        if re.match(r"https?://", media, re.IGNORECASE):
            if media in self.unreachable_urls:
                raise bad_request("failed to get HTTP URL content")
            return
        raise bad_request("wrong file identifier/HTTP URL specified")

    def _check_delivery(self, chat: FakeChat, method: str) -> None:
        """What only Telegram's servers know: blocked bots and flood control."""
        if chat.user is not None and chat.user.blocked_bot:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if self.limits is None:
            return
        now = self.clock()
        limits = self.limits
        windows = [("overall", self._all_times, limits.overall_per_second, 1.0),
                   ("chat", self._chat_times.setdefault(chat.id, deque()), limits.chat_burst,
                    limits.chat_window)]
        if chat.type != "private":
            windows.append(("group", self._group_times.setdefault(chat.id, deque()),
                            limits.group_per_minute, limits.group_window))
        for scope, times, limit, window in windows:
            while times and times[0] <= now - window:
                times.popleft()
            if len(times) >= limit:
                # Whole seconds until the window admits one more message (at least 1).
                retry = max(1, math.ceil(times[len(times) - limit] + window - now))
                self.rate_limited.append(RateLimitHit(chat.id, method, scope, retry, now))
                raise ApiError(429, f"Too Many Requests: retry after {retry}",
                               {"retry_after": retry})

    def _count_send(self, chat: FakeChat, now: float) -> None:
        self._all_times.append(now)
        self._chat_times.setdefault(chat.id, deque()).append(now)
        if chat.type != "private":
            self._group_times.setdefault(chat.id, deque()).append(now)

    # --- rich messages (Bot API 10.1+; the rules are in sandbox/telegram_rich.py) ----------

    async def _send_rich_message(self, call: _Call) -> JSON:
        p = call.params
        markup = _reply_markup(p)
        rich = check_rich_message(p.get("rich_message"))
        chat, thread = self._target(p)
        self._check_can_send(chat, "text messages")
        self._check_rich(chat, rich, call)
        self._check_delivery(chat, call.method)
        return self._accept(call, chat, thread, {"rich_message": self._rich_object(rich, call)},
                            ParsedText(""), markup=markup, html=None, rich=rich.source)
    def _check_rich(self, chat: FakeChat, rich: RichMessage, call: _Call) -> None:
        """After the chat and the bot's rights: media rights, buttons the chat cannot have,
        the limits, then the media themselves."""
        if rich.media_count:
            self._check_media_right(chat, "photos")
        if "web_app" in rich.button_actions and chat.type != "private":
            raise bad_request("BUTTON_TYPE_INVALID")
        if "switch_inline_query_current_chat" in rich.button_actions and chat.type == "channel":
            raise bad_request("BUTTON_TYPE_INVALID")
        rich.check_limits()
        for media in rich.photos:
            self._check_media(self._rich_media(media, call), "photo")

    def _rich_media(self, media: str, call: _Call) -> str | UploadedFile:
        if media.startswith("attach://"):
            upload = call.files.get(media.removeprefix("attach://"))
            if upload is None:
                raise bad_request("wrong file identifier/HTTP URL specified")
            return upload
        return media

    def _rich_object(self, rich: RichMessage, call: _Call) -> JSON:
        """The RichMessage Telegram returns: the blocks, photos as PhotoSize arrays."""
        def convert(blocks: list[JSON]) -> list[JSON]:
            out = []
            for block in blocks:
                block = dict(block)
                if block.get("type") == "photo":
                    media = self._rich_media(block["photo"]["media"], call)
                    block["photo"] = self._media_object(media, "photo")["photo"]
                elif block.get("type") in ("blockquote", "details"):
                    block["blocks"] = convert(block["blocks"])
                elif block.get("type") == "list":
                    block["items"] = [{**item, "blocks": convert(item["blocks"])}
                                      for item in block["items"]]
                out.append(block)
            return out

        result: JSON = {"blocks": convert(rich.blocks)}
        if rich.is_rtl:
            result["is_rtl"] = True
        return result
