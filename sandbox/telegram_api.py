"""A strict fake Telegram Bot API server for tests.

The real python-telegram-bot client talks to it over HTTP and meets the answers production would
give: Telegram's JSON shapes, error texts and status codes (telegram-bot-api `Client.cpp`, tdlib),
HTML parsing and length counting (`sandbox/telegram_html.py`), rich messages
(`sendRichMessage`, `editMessageText` with `rich_message`: `sandbox/telegram_rich.py`), flood
control, long polling. Switches a test can flip: `tg.rich_messages = False` acts as a Bot API
server older than 10.1; `tg.refuse_media(chat)` lets the bot post text but not photos there.

    async with FakeTelegram(token="123:ABC") as tg:
        tg.add_chat(-1001, username="news")
        bot = telegram.Bot("123:ABC", base_url=tg.base_url, base_file_url=tg.base_file_url)
        ...
        await tg.wait_for(lambda: tg.messages_to("@news"))

Where an error can arise at several stages, the order follows the server: first the Bot API's own
argument checks (markup JSON, empty text, raw size, HTML), then the chat (not found, upgraded),
then the bot's rights in it, then tdlib's text checks (empty after cleaning, 4096/1024), then what
only Telegram's servers know (a user blocked the bot, flood control), then acceptance.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import BodyPartReader, web

from sandbox.telegram_html import (
    Entity,
    ParsedText,
    TelegramTextError,
    finish_text,
    parse_entities,
)
from sandbox.telegram_rich import RichMessage, RichMessageError, check_rich_message

JSON = dict[str, Any]
Clock = Callable[[], float]

_CONTENT_KEYS = ("text", "entities", "caption", "caption_entities", "link_preview_options",
                 "rich_message")
# Methods an older Bot API server (before 10.1) does not know.
_RICH_METHODS = frozenset({"sendRichMessage"})
MAX_INLINE_BUTTONS = 100
MAX_MARKUP_BYTES = 10_240
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"RIFF", b"BM")
_COMMAND = re.compile(r"(?<![\w/<>])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/<>])")
_DEFAULT_UPDATE_TYPES_EXCLUDED = frozenset({"chat_member", "message_reaction",
                                            "message_reaction_count"})
_CONFLICTS = {  # telegram-bot-api Client.cpp
    "getUpdates": "Conflict: terminated by other getUpdates request; make sure that only one "
                  "bot instance is running",
    "setWebhook": "Conflict: terminated by setWebhook request",
}


# --- public records --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Telegram's published flood limits (Bots FAQ), as sliding windows.

    One chat: `chat_per_second` sustained, `chat_burst` at once (so at most `chat_burst`
    messages in any `chat_burst / chat_per_second` seconds). Groups, supergroups and channels:
    `group_per_minute` per `group_window` seconds. The whole bot: `overall_per_second`.
    """

    chat_per_second: float = 1.0
    chat_burst: int = 3
    group_per_minute: int = 20
    group_window: float = 60.0
    overall_per_second: int = 30

    @property
    def chat_window(self) -> float:
        return self.chat_burst / self.chat_per_second


@dataclass(frozen=True, slots=True)
class RateLimitHit:
    """One 429 the fake answered."""

    chat_id: int | None
    method: str
    scope: str          # "chat", "group", "overall" or "injected"
    retry_after: int
    time: float


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file part of a multipart request."""

    filename: str
    content_type: str
    data: bytes


@dataclass(slots=True)
class SentMessage:
    """A message the bot sent and Telegram accepted (edits update it in place)."""

    chat_id: int
    chat_username: str | None
    message_id: int
    method: str
    html: str | None                 # text or caption exactly as sent
    text: str | None                 # parsed plain text (sendMessage)
    entities: tuple[Entity, ...]
    caption: str | None              # parsed plain caption (sendPhoto, sendDocument)
    photo: str | bytes | None        # URL or file_id as sent, or the uploaded bytes
    document: str | bytes | None
    parse_mode: str | None
    reply_markup: JSON | None
    link_preview_options: JSON | None
    message_thread_id: int | None
    time: float
    api: JSON = field(repr=False, default_factory=dict)   # the Message object answered
    deleted: bool = False
    edit_count: int = 0
    rich: JSON | None = None         # sendRichMessage: the InputRichMessage as sent (decoded)


@dataclass(frozen=True, slots=True)
class Edit:
    """One accepted editMessage* call."""

    chat_id: int
    message_id: int
    method: str
    html: str | None
    text: str | None
    caption: str | None
    entities: tuple[Entity, ...]
    reply_markup: JSON | None
    time: float
    rich: JSON | None = None         # an edit with rich_message: the InputRichMessage sent


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """Every request: the method as Telegram spells it, its parameters, what was answered."""

    method: str
    params: JSON
    status: int          # 0: the connection was dropped without an answer
    description: str | None
    time: float


@dataclass(slots=True)
class FakeUser:
    id: int
    first_name: str
    language_code: str | None = "ar"
    username: str | None = None
    last_name: str | None = None
    started: bool = True          # has pressed /start, so the bot may write first
    blocked_bot: bool = False
    deactivated: bool = False

    def to_api(self) -> JSON:
        data: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        return data


@dataclass(slots=True)
class FakeChat:
    id: int
    type: str
    title: str | None = None
    username: str | None = None
    bot_status: str = "administrator"   # creator | administrator | member | left | kicked
    can_post: bool = True
    can_send_media: bool = True            # False: photos are refused ("not enough rights")
    is_forum: bool = False
    topics: frozenset[int] | None = None   # None: any topic id is accepted in a forum
    migrated_to: int | None = None
    members: dict[int, str] = field(default_factory=dict)
    next_message_id: int = 1
    user: FakeUser | None = None           # private chats are users

    def to_api(self) -> JSON:
        data: JSON = {"id": self.id, "type": self.type}
        if self.user is not None:
            data.update({k: v for k, v in self.user.to_api().items()
                         if k in ("first_name", "last_name", "username")})
        if self.title:
            data["title"] = self.title
        if self.username:
            data["username"] = self.username
        if self.is_forum:
            data["is_forum"] = True
        return data


class ApiError(Exception):
    """An answer with ok=false."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


def bad_request(text: str) -> ApiError:
    return ApiError(400, f"Bad Request: {text}")


def text_error(error: TelegramTextError) -> ApiError:
    """tdlib's text, as telegram-bot-api words it: its first letter is lower-cased unless the
    text is an upper-case server code such as MESSAGE_TOO_LONG."""
    text = error.description
    if not (len(text) >= 2 and (text[1] == "_" or text[1].isupper())):
        text = text[0].lower() + text[1:]
    return bad_request(text)


# --- the server --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Fault:
    status: int
    description: str
    parameters: JSON | None
    left: int


@dataclass(slots=True)
class _Poll:
    terminated_by: str | None = None


@dataclass(slots=True)
class _Call:
    method: str
    params: JSON
    files: dict[str, UploadedFile]
    request: web.Request

    def client_gone(self) -> bool:
        transport = self.request.transport
        return transport is None or transport.is_closing()


class _ClientGone(Exception):
    """The client closed the connection of a long poll (PTB does so when it stops polling)."""


Handler = Callable[["_Call"], Awaitable[Any]]


class FakeTelegram:
    """The fake Bot API server; see the module docstring."""

    def __init__(self, token: str = "123:ABC", *, rate_limits: RateLimits | bool = False,
                 clock: Clock = time.monotonic, bot_username: str = "nashir_test_bot",
                 bot_name: str = "Nashir Test", rich_messages: bool = True) -> None:
        self.token = token
        # False: act as a Bot API server older than 10.1 (no sendRichMessage; editMessageText
        # ignores rich_message). Tests may flip it at any time.
        self.rich_messages = rich_messages
        head = token.split(":", 1)[0]
        self.bot_id = int(head) if head.isdigit() else 1
        self.bot_username = bot_username
        self.bot_name = bot_name
        self.clock = clock
        self.limits: RateLimits | None = (RateLimits() if rate_limits is True
                                          else rate_limits or None)
        self.api_root = ""

        self.messages: list[SentMessage] = []
        self.edits: list[Edit] = []
        self.deleted: list[tuple[int, int]] = []
        self.requests: list[RequestRecord] = []
        self.rate_limited: list[RateLimitHit] = []
        self.updates: list[JSON] = []              # every update injected, delivered or not
        self.callback_answers: list[JSON] = []
        self.unreachable_urls: set[str] = set()    # photo/document URLs Telegram cannot fetch
        self.webhook_url = ""
        self.webhook_params: JSON = {}

        self._chats: dict[int, FakeChat] = {}
        self._users: dict[int, FakeUser] = {}
        self._by_username: dict[str, int] = {}
        self._stored: dict[tuple[int, int], JSON] = {}      # every message, by (chat, id)
        self._sent: dict[tuple[int, int], SentMessage] = {}
        self._files: dict[str, tuple[UploadedFile | None, str]] = {}   # file_id -> (file, path)
        self._commands: dict[tuple[str, str], list[JSON]] = {}
        self._open_callbacks: set[str] = set()
        self._pending: list[JSON] = []
        self._allowed_updates: list[str] | None = None
        self._poll: _Poll | None = None
        self._faults: dict[str, deque[_Fault]] = {}
        self._drops: dict[str, int] = {}
        self._delays: dict[str, tuple[float, bool]] = {}
        self._down = False
        self._chat_times: dict[int, deque[float]] = {}
        self._group_times: dict[int, deque[float]] = {}
        self._all_times: deque[float] = deque()
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(100_001)
        self._changed = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._handlers: dict[str, Handler] = {
            "getMe": self._get_me, "sendMessage": self._send_message,
            "sendPhoto": self._send_photo, "sendDocument": self._send_document,
            "sendRichMessage": self._send_rich_message,
            "sendChatAction": self._send_chat_action,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message, "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "getUpdates": self._get_updates, "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook, "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands, "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "answerCallbackQuery": self._answer_callback_query, "getFile": self._get_file,
            "close": self._true, "logOut": self._true,
        }
        self._canonical = {name.lower(): name for name in self._handlers}

    # --- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen on 127.0.0.1 at a free port; `api_root` tells where."""
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._download)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        # Long polls are ended by `stop` itself, so a short shutdown timeout loses nothing.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.api_root = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def stop(self) -> None:
        """Answer waiting long polls, then close every connection."""
        self._closing = True
        self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        """What PTB wants as `base_url`: requests go to `{base_url}{token}/{method}`."""
        return f"{self.api_root}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.api_root}/file/bot"

    # --- the world: chats and users -------------------------------------------------------------

    def add_chat(self, chat_id: int, type: str = "channel", username: str | None = None,
                 title: str | None = None, bot_status: str = "administrator",
                 can_post: bool = True, *, is_forum: bool = False,
                 topics: Iterable[int] | None = None) -> FakeChat:
        """A group, supergroup or channel (or a private chat; prefer `add_user` for those)."""
        if type not in ("channel", "supergroup", "group", "private"):
            raise ValueError(f"unknown chat type {type!r}")
        if bot_status not in ("creator", "administrator", "member", "left", "kicked"):
            raise ValueError(f"unknown bot status {bot_status!r}")
        default_title = None if type == "private" else f"Chat {chat_id}"
        chat = FakeChat(chat_id, type, title=title or default_title,
                        username=username.lstrip("@") if username else None,
                        bot_status=bot_status, can_post=can_post, is_forum=is_forum,
                        topics=frozenset(topics) if topics is not None else None)
        self._chats[chat_id] = chat
        if chat.username:
            self._by_username[chat.username.lower()] = chat_id
        return chat

    def add_user(self, user_id: int, first_name: str = "Test", language_code: str | None = "ar",
                 *, username: str | None = None, started: bool = True) -> FakeUser:
        """A user and their private chat with the bot (chat id = user id)."""
        user = FakeUser(user_id, first_name, language_code, username, started=started)
        self._users[user_id] = user
        self._chats[user_id] = FakeChat(user_id, "private", bot_status="member", user=user)
        return user

    def set_bot_status(self, chat: int | str, status: str, can_post: bool = True) -> None:
        """Change the bot's membership later, e.g. to have it kicked mid-test."""
        found = self._chat(chat)
        found.bot_status, found.can_post = status, can_post

    def refuse_media(self, chat: int | str, refused: bool = True) -> None:
        """The bot may post text but not photos in this chat: a photo (alone or in a rich
        message) gets 400 "not enough rights to send photos to the chat"."""
        self._chat(chat).can_send_media = not refused

    def set_member(self, chat: int | str, user_id: int, status: str = "administrator") -> None:
        """Put a user into a group or channel (getChatMember, getChatAdministrators)."""
        if user_id not in self._users:
            self.add_user(user_id, f"User {user_id}", "en")
        self._chat(chat).members[user_id] = status

    def block_bot(self, user_id: int, blocked: bool = True) -> None:
        """The user blocks the bot: sends to them get 403 "bot was blocked by the user"."""
        self._users[user_id].blocked_bot = blocked

    def deactivate_user(self, user_id: int) -> None:
        self._users[user_id].deactivated = True

    def migrate_chat(self, old_id: int, new_id: int) -> FakeChat:
        """Upgrade a group to a supergroup; the old id answers with migrate_to_chat_id."""
        old = self._chats[old_id]
        old.migrated_to = new_id
        new = self._chats.get(new_id) or self.add_chat(
            new_id, "supergroup", title=old.title, bot_status=old.bot_status,
            can_post=old.can_post)
        new.members.update(old.members)
        return new

    def chat(self, chat: int | str) -> FakeChat:
        """The chat known by this id or @username (a KeyError if none)."""
        return self._chat(chat)

    def _chat(self, chat: int | str) -> FakeChat:
        if isinstance(chat, str) and chat.startswith("@"):
            return self._chats[self._by_username[chat[1:].lower()]]
        return self._chats[int(chat)]

    # --- fault injection -----------------------------------------------------------------------

    def fail_next(self, method: str, status: int = 500, count: int = 1,
                  description: str | None = None, retry_after: int | None = None) -> None:
        """The next `count` calls of `method` fail before doing anything."""
        parameters: JSON | None = None
        if status == 429:
            retry_after = retry_after or 1
            description = description or f"Too Many Requests: retry after {retry_after}"
            parameters = {"retry_after": retry_after}
        elif description is None:
            description = {500: "Internal Server Error", 502: "Bad Gateway",
                           400: "Bad Request", 403: "Forbidden"}.get(
                status, HTTPStatus(status).phrase)
        key = self._method_name(method)
        self._faults.setdefault(key, deque()).append(_Fault(status, description, parameters, count))

    def drop_after_accept(self, method: str, count: int = 1) -> None:
        """The next `count` successful calls are carried out, then the connection is closed
        without an answer: the client sees a network error although the message exists."""
        key = self._method_name(method)
        self._drops[key] = self._drops.get(key, 0) + count

    def delay(self, method: str, seconds: float, *, after_accept: bool = False) -> None:
        """Answer every call of `method` late (0 to stop); with `after_accept` the work is done
        first and only the answer is late, as when a client times out on a slow Telegram."""
        key = self._method_name(method)
        if seconds > 0:
            self._delays[key] = (seconds, after_accept)
        else:
            self._delays.pop(key, None)

    def outage(self, down: bool = True) -> None:
        """A full outage while `down`: every request's connection is reset before it is read
        (the client sees a network error; nothing is done or recorded)."""
        self._down = down

    def clear_faults(self) -> None:
        """Forget every pending fail_next, drop_after_accept and delay."""
        self._faults.clear()
        self._drops.clear()
        self._delays.clear()

    def _method_name(self, method: str) -> str:
        return self._canonical.get(method.lower(), method)

    # --- records and waiting ---------------------------------------------------------------------

    def messages_to(self, chat: int | str, *, include_deleted: bool = False) -> list[SentMessage]:
        """Messages accepted for one chat (by id or @username), oldest first."""
        chat_id = self._chat(chat).id
        return [m for m in self.messages
                if m.chat_id == chat_id and (include_deleted or not m.deleted)]

    @property
    def polling(self) -> bool:
        """Whether a getUpdates call is waiting for updates right now."""
        return self._poll is not None

    def calls(self, method: str) -> list[RequestRecord]:
        """Every request of one method, whatever was answered."""
        name = self._method_name(method)
        return [r for r in self.requests if r.method == name]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0,
                       what: str | None = None) -> Any:
        """Wait until `predicate()` is truthy (re-checked on every request and injection) and
        return its value; an AssertionError after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (result := predicate()):
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = "\n  ".join(f"{r.method} -> {r.status} {r.description or ''}"
                                     for r in self.requests[-10:]) or "(none)"
                raise AssertionError(
                    f"timed out after {timeout} s waiting for {what or _describe(predicate)}; "
                    f"{len(self.messages)} messages accepted; last requests:\n  {recent}")
            await self._wait_change(remaining)
        return result

    async def wait_for_messages(self, count: int = 1, chat: int | str | None = None,
                                timeout: float = 10.0) -> list[SentMessage]:
        """Wait until at least `count` messages were accepted (in `chat`, if given)."""
        def enough() -> list[SentMessage] | None:
            found = self.messages_to(chat) if chat is not None else self.messages
            return found if len(found) >= count else None
        where = f" in {chat}" if chat is not None else ""
        return await self.wait_for(enough, timeout, f"{count} message(s){where}")

    async def _wait_change(self, timeout: float) -> None:
        event = self._changed
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass

    def _notify(self) -> None:
        # A fresh Event per change: every waiter wakes once, re-checks, and waits on the next.
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    # --- updates ---------------------------------------------------------------------------------

    def inject_update(self, update: JSON) -> JSON:
        """Queue any Update object (an update_id is added)."""
        update = {"update_id": next(self._update_ids), **update}
        self.updates.append(update)
        kind = next(k for k in update if k != "update_id")
        allowed = self._allowed_updates
        if (kind in allowed) if allowed else (kind not in _DEFAULT_UPDATE_TYPES_EXCLUDED):
            self._pending.append(update)
        self._notify()
        return update

    def inject_message(self, user_id: int, text: str, chat_id: int | None = None,
                       language_code: str | None = None, *,
                       reply_to_message_id: int | None = None, **extra: Any) -> JSON:
        """A user writes `text` to the bot (privately, or in `chat_id`); commands get their
        bot_command entities as Telegram adds them. `language_code` defaults to the user's."""
        message = self._user_message(user_id, chat_id, language_code)
        message["text"] = text
        commands = [{"type": "bot_command", "offset": _utf16(text[:m.start()]),
                     "length": _utf16(m.group())} for m in _COMMAND.finditer(text)]
        if commands:
            message["entities"] = commands
        if reply_to_message_id is not None:
            message["reply_to_message"] = self._stored[(message["chat"]["id"],
                                                        reply_to_message_id)]
        message.update(extra)
        return self.inject_update({"message": message})

    def inject_channel_post(self, chat_id: int, text: str, **extra: Any) -> JSON:
        """A post in a channel, as Telegram delivers it: a `channel_post` update with the
        channel as `sender_chat` and no `from` (the author is not revealed); commands get
        their bot_command entities."""
        chat = self._chats[chat_id]
        post: JSON = {"message_id": self._next_message_id(chat), "chat": chat.to_api(),
                      "sender_chat": chat.to_api(), "date": int(time.time()), "text": text}
        commands = [{"type": "bot_command", "offset": _utf16(text[:m.start()]),
                     "length": _utf16(m.group())} for m in _COMMAND.finditer(text)]
        if commands:
            post["entities"] = commands
        post.update(extra)
        self._stored[(chat.id, post["message_id"])] = post
        return self.inject_update({"channel_post": post})

    def inject_document(self, user_id: int, file_name: str, content: bytes,
                        mime_type: str = "application/octet-stream", caption: str | None = None,
                        chat_id: int | None = None, language_code: str | None = None) -> JSON:
        """A user sends a file; the bot can fetch it with getFile and a download."""
        upload = UploadedFile(file_name, mime_type, content)
        file_id, unique_id = self._new_file(upload, "documents")
        message = self._user_message(user_id, chat_id, language_code)
        message["document"] = {"file_id": file_id, "file_unique_id": unique_id,
                               "file_name": file_name, "mime_type": mime_type,
                               "file_size": len(content)}
        if caption:
            message["caption"] = caption
        return self.inject_update({"message": message})

    def inject_callback_query(self, user_id: int, data: str, message_id: int,
                              chat_id: int | None = None, language_code: str | None = None
                              ) -> JSON:
        """A user presses an inline button under a message the bot sent."""
        user = self._ensure_user(user_id, language_code)
        chat_id = user_id if chat_id is None else chat_id
        message = self._stored.get((chat_id, message_id))
        if message is None:
            raise KeyError(f"no message {message_id} in chat {chat_id} to press a button under")
        query_id = str(next(self._ids) * 7919)
        self._open_callbacks.add(query_id)
        from_user = user.to_api()
        if language_code:
            from_user["language_code"] = language_code
        return self.inject_update({"callback_query": {
            "id": query_id, "from": from_user, "message": message,
            "chat_instance": str(abs(chat_id) * 31 + 7), "data": data}})

    def _ensure_user(self, user_id: int, language_code: str | None) -> FakeUser:
        if user_id not in self._users:
            self.add_user(user_id, f"User {user_id}", language_code or "en")
        return self._users[user_id]

    def _user_message(self, user_id: int, chat_id: int | None, language_code: str | None) -> JSON:
        user = self._ensure_user(user_id, language_code)
        chat = self._chats[user_id if chat_id is None else chat_id]
        from_user = user.to_api()
        if language_code:
            from_user["language_code"] = language_code
        message: JSON = {"message_id": self._next_message_id(chat), "from": from_user,
                         "chat": chat.to_api(), "date": int(time.time())}
        self._stored[(chat.id, message["message_id"])] = message
        return message

    # --- HTTP ------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self._down:
            if request.transport is not None:
                request.transport.abort()
            return web.Response()
        method_raw = request.match_info["method"]
        method = self._canonical.get(method_raw.lower(), method_raw)
        try:
            params, files = await _read_params(request)
        except ApiError as error:
            return self._answer(method, {}, error)
        if request.match_info["token"] != self.token:
            # A malformed token is "Not Found"; a well-formed unknown one is "Unauthorized".
            malformed = re.fullmatch(r"\d+:[\w-]+", request.match_info["token"]) is None
            error = ApiError(404, "Not Found") if malformed else ApiError(401, "Unauthorized")
            return self._answer(method, params, error)
        handler = self._handlers.get(method)
        if handler is None:
            return self._answer(method, params, ApiError(404, "Not Found: method not found"))
        if method in _RICH_METHODS and not self.rich_messages:
            # What api.telegram.org answers for a method it does not know.
            return self._answer(method, params, ApiError(404, "Not Found"))

        seconds, after_accept = self._delays.get(method, (0.0, False))
        if seconds and not after_accept:
            await self._sleep(seconds)
        fault = self._take_fault(method)
        if fault is not None:
            if fault.status == 429:
                self.rate_limited.append(RateLimitHit(
                    _maybe_int(params.get("chat_id")), method, "injected",
                    int((fault.parameters or {})["retry_after"]), self.clock()))
            return self._answer(method, params, fault)
        try:
            result = await handler(_Call(method, params, files, request))
        except _ClientGone:
            self._record(method, params, 0, "client closed the connection")
            return web.Response()
        except ApiError as error:
            return self._answer(method, params, error)
        except TelegramTextError as error:
            return self._answer(method, params, text_error(error))
        except RichMessageError as error:
            return self._answer(method, params, bad_request(error.description))
        except Exception as error:
            # A bug in the fake: make it visible in tg.requests, and let aiohttp log it.
            self._record(method, params, 500, f"fake server error: {error!r}")
            raise
        if seconds and after_accept:
            await self._sleep(seconds)
        if self._drops.get(method):
            self._drops[method] -= 1
            self._record(method, params, 0, "dropped after accept")
            if request.transport is not None:
                request.transport.abort()  # the client sees a reset, not an answer
            return web.Response()
        return self._answer(method, params, result)

    def _answer(self, method: str, params: JSON, outcome: Any) -> web.Response:
        if isinstance(outcome, ApiError):
            body: JSON = {"ok": False, "error_code": outcome.status,
                          "description": outcome.description}
            if outcome.parameters:
                body["parameters"] = outcome.parameters
            self._record(method, params, outcome.status, outcome.description)
            return _json_response(body, outcome.status)
        self._record(method, params, 200, None)
        return _json_response({"ok": True, "result": outcome}, 200)

    def _record(self, method: str, params: JSON, status: int, description: str | None) -> None:
        self.requests.append(RequestRecord(method, params, status, description, self.clock()))
        self._notify()

    def _take_fault(self, method: str) -> ApiError | None:
        faults = self._faults.get(method)
        if not faults:
            return None
        fault = faults[0]
        fault.left -= 1
        if fault.left <= 0:
            faults.popleft()
        return ApiError(fault.status, fault.description, fault.parameters)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but not past `stop`: a delayed answer must not hold up the shutdown."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self._closing and (left := deadline - loop.time()) > 0:
            await self._wait_change(left)

    async def _not_found(self, request: web.Request) -> web.Response:
        return _json_response({"ok": False, "error_code": 404, "description": "Not Found"}, 404)

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _json_response({"ok": False, "error_code": 401,
                                   "description": "Unauthorized"}, 401)
        for stored, path in self._files.values():
            if path == request.match_info["path"] and stored is not None:
                return web.Response(body=stored.data,
                                    content_type=stored.content_type.split(";")[0].strip())
        return _json_response({"ok": False, "error_code": 404, "description": "Not Found"}, 404)

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
        if thread is not None and thread != 0:
            if not chat.is_forum or (chat.topics is not None and thread not in chat.topics):
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

    async def _edit_rich_message(self, call: _Call) -> JSON:
        p = call.params
        markup = _reply_markup(p)
        if p.get("text") not in (None, ""):
            raise bad_request("text and rich_message can't be specified together")
        rich = check_rich_message(p.get("rich_message"))
        sent = self._editable(p)
        if sent.rich is None:
            raise bad_request("there is no rich content in the message to edit")
        chat = self._chats[sent.chat_id]
        self._check_rich(chat, rich, call)
        new_markup = markup if markup and "inline_keyboard" in markup else None
        if sent.rich == rich.source and sent.api.get("reply_markup") == new_markup:
            raise bad_request("message is not modified: specified new message content and reply "
                              "markup are exactly the same as a current content and reply "
                              "markup of the message")
        return self._apply_edit(call, sent, {"rich_message": self._rich_object(rich, call)},
                                markup, None, html=None, rich=rich.source)

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

    # --- editing and deleting ---------------------------------------------------------------------

    async def _edit_message_text(self, call: _Call) -> JSON:
        p = call.params
        if self.rich_messages and p.get("rich_message") not in (None, ""):
            return await self._edit_rich_message(call)
        # An older server does not know rich_message and ignores it, as any unknown parameter.
        markup = _reply_markup(p)
        preview = _link_preview(p)
        parsed = parse_entities(_str(p, "text") or "", _str(p, "parse_mode"))
        sent = self._editable(p)
        if sent.text is None:
            raise bad_request("there is no text in the message to edit")
        final = finish_text(parsed)
        content: JSON = {"text": final.text}
        if final.entities:
            content["entities"] = [e.to_api() for e in final.entities]
        if preview:
            content["link_preview_options"] = preview
        return self._apply_edit(call, sent, content, markup, final, html=_str(p, "text"))

    async def _edit_message_caption(self, call: _Call) -> JSON:
        p = call.params
        markup = _reply_markup(p)
        raw = _str(p, "caption") or ""
        parsed = parse_entities(raw, _str(p, "parse_mode"), caption=True)
        sent = self._editable(p)
        if sent.text is not None or sent.rich is not None:
            raise bad_request("there is no caption in the message to edit")
        final = finish_text(parsed, caption=True)
        content: JSON = {}
        if final.text:
            content["caption"] = final.text
        if final.entities:
            content["caption_entities"] = [e.to_api() for e in final.entities]
        return self._apply_edit(call, sent, content, markup, final, html=raw or None)

    async def _edit_message_reply_markup(self, call: _Call) -> JSON:
        markup = _reply_markup(call.params)
        sent = self._editable(call.params)
        keep = {k: sent.api[k] for k in _CONTENT_KEYS if k in sent.api}
        return self._apply_edit(call, sent, keep, markup, None, html=sent.html)

    def _editable(self, p: JSON) -> SentMessage:
        if p.get("inline_message_id"):
            raise bad_request("inline messages are not imitated by the fake")
        chat = self._resolve_chat(p.get("chat_id"))
        message_id = _int(p, "message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        sent = self._sent.get((chat.id, message_id))
        if sent is None or sent.deleted:
            raise bad_request("message to edit not found")
        self._check_can_send(chat, "text messages")
        return sent

    def _apply_edit(self, call: _Call, sent: SentMessage, content: JSON, markup: JSON | None,
                    parsed: ParsedText | None, *, html: str | None,
                    rich: JSON | None = None) -> JSON:
        """Apply an edit (`parsed` is None when only the keyboard or rich content changes)."""
        old = {k: sent.api[k] for k in _CONTENT_KEYS if k in sent.api}
        old_markup = sent.api.get("reply_markup")
        new_markup = markup if markup and "inline_keyboard" in markup else None
        if old == content and old_markup == new_markup:
            raise bad_request("message is not modified: specified new message content and reply "
                              "markup are exactly the same as a current content and reply "
                              "markup of the message")
        chat = self._chats[sent.chat_id]
        self._check_delivery(chat, call.method)
        now = self.clock()
        self._count_send(chat, now)
        for key in _CONTENT_KEYS:
            sent.api.pop(key, None)
        sent.api.update(content, edit_date=int(time.time()))
        # Editing without reply_markup removes the keyboard, as on Telegram.
        if new_markup:
            sent.api["reply_markup"] = new_markup
        else:
            sent.api.pop("reply_markup", None)
        sent.reply_markup = markup
        if rich is not None:
            sent.rich = rich
        if parsed is not None:
            sent.html, sent.entities = html, parsed.entities
            if sent.text is not None:
                sent.text = parsed.text
            else:
                sent.caption = parsed.text or None
        sent.edit_count += 1
        self.edits.append(Edit(sent.chat_id, sent.message_id, call.method, sent.html, sent.text,
                               sent.caption, sent.entities, markup, now, rich=sent.rich))
        return sent.api

    async def _delete_message(self, call: _Call) -> bool:
        chat = self._resolve_chat(call.params.get("chat_id"))
        message_id = _int(call.params, "message_id")
        key = (chat.id, message_id or 0)
        if key not in self._stored:
            raise bad_request("message to delete not found")
        del self._stored[key]
        if key in self._sent:
            self._sent[key].deleted = True
        self.deleted.append(key)
        return True

    # --- chats ------------------------------------------------------------------------------------

    async def _get_me(self, call: _Call) -> JSON:
        return {**self._bot_user(), "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False,
                "has_main_web_app": False}

    def _visible_chat(self, raw: Any) -> FakeChat:
        chat = self._resolve_chat(raw)
        # A private group or channel the bot is not in cannot be looked up at all.
        if chat.bot_status in ("left", "kicked") and not chat.username and chat.user is None:
            raise bad_request("chat not found")
        return chat

    async def _get_chat(self, call: _Call) -> JSON:
        chat = self._visible_chat(call.params.get("chat_id"))
        gifts = dict.fromkeys(("unlimited_gifts", "limited_gifts", "unique_gifts",
                               "premium_subscription", "gifts_from_channels"), False)
        return {**chat.to_api(), "accent_color_id": 0, "max_reaction_count": 11,
                "accepted_gift_types": gifts}

    async def _get_chat_member(self, call: _Call) -> JSON:
        chat = self._visible_chat(call.params.get("chat_id"))
        user_id = _int(call.params, "user_id")
        if user_id is None:
            raise bad_request("user_id is empty")
        if user_id == self.bot_id:
            return self._member(chat, self._bot_user(), chat.bot_status, bot=True)
        if user_id not in self._users:
            raise bad_request("user not found")
        user = self._users[user_id]
        status = "member" if chat.id == user_id else chat.members.get(user_id, "left")
        return self._member(chat, user.to_api(), status)

    async def _get_chat_administrators(self, call: _Call) -> list[JSON]:
        chat = self._visible_chat(call.params.get("chat_id"))
        if chat.type == "private":
            raise bad_request("there are no administrators in the private chat")
        admins = [self._member(chat, self._users[uid].to_api(), status)
                  for uid, status in chat.members.items() if status in ("creator", "administrator")]
        if chat.bot_status in ("creator", "administrator"):
            admins.append(self._member(chat, self._bot_user(), chat.bot_status, bot=True))
        return admins

    def _member(self, chat: FakeChat, user: JSON, status: str, *, bot: bool = False) -> JSON:
        """A ChatMember object; for the bot, its rights reflect `can_post`."""
        can_post = chat.can_post if bot else True
        if status == "creator":
            return {"status": "creator", "user": user, "is_anonymous": False}
        if status == "administrator":
            rights = dict.fromkeys((
                "can_manage_chat", "can_delete_messages", "can_manage_video_chats",
                "can_restrict_members", "can_change_info", "can_invite_users",
                "can_post_stories", "can_edit_stories", "can_delete_stories"), True)
            member: JSON = {"status": "administrator", "user": user, "can_be_edited": False,
                            "is_anonymous": False, "can_promote_members": False, **rights}
            if chat.type == "channel":
                member.update(can_post_messages=can_post, can_edit_messages=can_post)
            else:
                member["can_pin_messages"] = True
            return member
        if status == "member" and bot and not can_post and chat.type != "channel":
            permissions = dict.fromkeys((
                "can_send_messages", "can_send_audios", "can_send_documents", "can_send_photos",
                "can_send_videos", "can_send_video_notes", "can_send_voice_notes",
                "can_send_polls", "can_send_other_messages", "can_add_web_page_previews",
                "can_change_info", "can_invite_users", "can_pin_messages", "can_manage_topics",
                "can_edit_tag", "can_react_to_messages"), False)
            return {"status": "restricted", "user": user, "is_member": True, "until_date": 0,
                    **permissions}
        if status == "kicked":
            return {"status": "kicked", "user": user, "until_date": 0}
        return {"status": status, "user": user}

    def _bot_user(self) -> JSON:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.bot_name,
                "username": self.bot_username}

    def _next_message_id(self, chat: FakeChat) -> int:
        message_id = chat.next_message_id
        chat.next_message_id += 1
        return message_id

    # --- updates and webhooks ---------------------------------------------------------------------

    async def _get_updates(self, call: _Call) -> list[JSON]:
        p = call.params
        if self.webhook_url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = _int(p, "offset") or 0
        limit = min(max(_int(p, "limit") or 100, 1), 100)
        timeout = max(_int(p, "timeout") or 0, 0)
        allowed = _json_param(p, "allowed_updates", "allowed updates")
        if allowed is not None:
            self._allowed_updates = list(allowed) or None
        if offset > 0:  # confirms every update before it
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        elif offset < 0:
            self._pending = self._pending[offset:]
        if self._poll is not None:  # Telegram ends the older of two concurrent polls
            self._poll.terminated_by = "getUpdates"
        poll = self._poll = _Poll()
        self._notify()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                if call.client_gone():  # nobody would read a 409 or the updates
                    raise _ClientGone
                if poll.terminated_by is not None:
                    raise ApiError(409, _CONFLICTS[poll.terminated_by])
                left = deadline - loop.time()
                if self._pending or left <= 0 or self._closing:
                    return self._pending[:limit]
                await self._wait_change(left)
        finally:
            if self._poll is poll:
                self._poll = None

    async def _set_webhook(self, call: _Call) -> bool:
        p = call.params
        url = _str(p, "url") or ""
        if not url:
            return await self._delete_webhook(call)
        match = re.match(r"https://[^/:]+(?::(\d+))?(?:[/?#]|$)", url, re.IGNORECASE)
        if match is None:
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if match.group(1) and match.group(1) not in ("80", "88", "443", "8443"):
            raise bad_request("bad webhook: Webhook can be set up only on ports 80, 88, 443 "
                              "or 8443")
        if _bool(p, "drop_pending_updates"):
            self._pending.clear()
        self.webhook_url = url
        self.webhook_params = dict(p)
        allowed = _json_param(p, "allowed_updates", "allowed updates")
        if allowed is not None:
            self._allowed_updates = list(allowed) or None
        if self._poll is not None:
            self._poll.terminated_by = "setWebhook"
        return True

    async def _delete_webhook(self, call: _Call) -> bool:
        if _bool(call.params, "drop_pending_updates"):
            self._pending.clear()
        self.webhook_url = ""
        self.webhook_params = {}
        return True

    async def _get_webhook_info(self, call: _Call) -> JSON:
        info: JSON = {"url": self.webhook_url, "has_custom_certificate": False,
                      "pending_update_count": len(self._pending)}
        if self.webhook_url:
            info["max_connections"] = _int(self.webhook_params, "max_connections") or 40
            if self._allowed_updates:
                info["allowed_updates"] = self._allowed_updates
        return info

    # --- commands, callbacks, files ---------------------------------------------------------------

    def commands(self, scope: JSON | None = None, language_code: str = "") -> list[JSON]:
        """The command list set for a scope (default scope if None) and language."""
        return self._commands.get((_scope_key(scope), language_code), [])

    async def _set_my_commands(self, call: _Call) -> bool:
        p = call.params
        commands = _json_param(p, "commands", "commands") or []
        if not isinstance(commands, list):
            raise bad_request("Expected an Array of BotCommand")
        for command in commands:
            name = str(command.get("command", "")).removeprefix("/")
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise bad_request("command description must be non-empty")
        key = _commands_key(p)
        self._commands[key] = [{"command": str(c["command"]).removeprefix("/"),
                                "description": str(c["description"])} for c in commands]
        return True

    async def _get_my_commands(self, call: _Call) -> list[JSON]:
        return self._commands.get(_commands_key(call.params), [])

    async def _delete_my_commands(self, call: _Call) -> bool:
        self._commands.pop(_commands_key(call.params), None)
        return True

    async def _answer_callback_query(self, call: _Call) -> bool:
        query_id = _str(call.params, "callback_query_id") or ""
        if query_id not in self._open_callbacks:
            raise bad_request("query is too old and response timeout expired or query ID is "
                              "invalid")
        self._open_callbacks.discard(query_id)
        self.callback_answers.append(dict(call.params))
        return True

    async def _get_file(self, call: _Call) -> JSON:
        file_id = _str(call.params, "file_id") or ""
        if file_id not in self._files:
            raise bad_request("invalid file_id")
        stored, path = self._files[file_id]
        return {"file_id": file_id, "file_unique_id": f"u{file_id[-8:]}",
                "file_size": len(stored.data) if stored else 0, "file_path": path}

    async def _true(self, call: _Call) -> bool:
        return True


# --- parameters -----------------------------------------------------------------------------------


async def _read_params(request: web.Request) -> tuple[JSON, dict[str, UploadedFile]]:
    """Query string, then the body: form-encoded, JSON or multipart, as Telegram accepts."""
    params: JSON = {key: value for key, value in parse_qsl(
        request.query_string, keep_blank_values=True, errors="surrogateescape")}
    files: dict[str, UploadedFile] = {}
    content_type = request.content_type
    if content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("can't parse JSON encoded request") from None
        if isinstance(body, dict):
            params.update(body)
    elif content_type == "application/x-www-form-urlencoded":
        text = (await request.read()).decode("latin-1")
        # Invalid UTF-8 becomes lone surrogates, which the text checks then refuse.
        params.update(parse_qsl(text, keep_blank_values=True, errors="surrogateescape"))
    elif content_type.startswith("multipart/"):
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            data = bytes(await part.read())
            if part.filename:
                mime = part.headers.get("Content-Type", "application/octet-stream")
                files[part.name] = UploadedFile(part.filename, mime, data)
            else:
                params[part.name] = data.decode("utf-8", "surrogateescape")
    return params, files


def _str(p: JSON, name: str) -> str | None:
    value = p.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _int(p: JSON, name: str) -> int | None:
    value = p.get(name)
    if value is None or value == "":
        return None
    number = _maybe_int(value)
    if number is None:
        raise bad_request(f"invalid {name} specified")
    return number


def _maybe_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _bool(p: JSON, name: str) -> bool:
    value = p.get(name)
    return value is True or str(value).lower() in ("true", "1")


def _json_param(p: JSON, name: str, what: str) -> Any:
    """A nested object: a JSON string in forms, already decoded in JSON bodies."""
    value = p.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise bad_request(f"can't parse {what} JSON object") from None


def _reply_markup(p: JSON) -> JSON | None:
    markup = _json_param(p, "reply_markup", "reply keyboard markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("Object expected as reply markup")
    # Telegram refuses an inline keyboard of more than 100 buttons, or about 10 kB of markup
    # (tginfo/Telegram-Limits), with this text.
    count = sum(len(row) for row in markup.get("inline_keyboard", []) if isinstance(row, list))
    size = len(json.dumps(markup, ensure_ascii=False).encode())
    if count > MAX_INLINE_BUTTONS or size > MAX_MARKUP_BYTES:
        raise bad_request("reply markup is too long")
    for row in markup.get("inline_keyboard", []):
        for button in row:
            if not isinstance(button, dict) or "text" not in button:
                raise bad_request("can't parse inline keyboard button: Text is not specified")
            if len(button) == 1:
                raise bad_request("can't parse inline keyboard button: Text buttons are "
                                  "unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise bad_request("BUTTON_DATA_INVALID")
    return markup


def _link_preview(p: JSON) -> JSON | None:
    preview = _json_param(p, "link_preview_options", "link preview options")
    if preview is None and _bool(p, "disable_web_page_preview"):
        preview = {"is_disabled": True}
    if preview is not None and not isinstance(preview, dict):
        raise bad_request("Object expected as link preview options")
    return preview


def _media_param(call: _Call, kind: str) -> str | UploadedFile:
    value = call.params.get(kind)
    if isinstance(value, str) and value.startswith("attach://"):
        value = call.files.get(value.removeprefix("attach://"))
    elif value is None or value == "":
        value = call.files.get(kind)
    if value is None or value == "":
        raise bad_request(f"there is no {kind} in the request")
    return value


def _scope_key(scope: Any) -> str:
    return json.dumps(scope or {"type": "default"}, sort_keys=True)


def _commands_key(p: JSON) -> tuple[str, str]:
    """Command lists are kept per scope and language, as Telegram keeps them."""
    return _scope_key(_json_param(p, "scope", "BotCommandScope")), _str(p, "language_code") or ""


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _describe(predicate: Callable[[], Any]) -> str:
    code = getattr(predicate, "__code__", None)
    where = f" ({code.co_filename.rsplit('/', 1)[-1]}:{code.co_firstlineno})" if code else ""
    return f"{getattr(predicate, '__qualname__', repr(predicate))}{where}"


def _json_response(body: JSON, status: int) -> web.Response:
    return web.Response(text=json.dumps(body, ensure_ascii=False), status=status,
                        content_type="application/json")
