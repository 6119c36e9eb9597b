"""The fake Bot API's records (what tests read back: messages, edits, requests, 429s), its
world (users and chats), its errors, and the small internal types of a request."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sandbox.telegram_html import Entity, TelegramTextError

JSON = dict[str, Any]
Clock = Callable[[], float]



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

# --- inside a request ---------------------------------------------------------------------


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
