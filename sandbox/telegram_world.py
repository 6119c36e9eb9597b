"""The fake Bot API's state: the users and chats a test sets up, the faults it injects, the
records it reads back, and waiting on them with a deadline."""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from sandbox.telegram_params import _describe
from sandbox.telegram_records import (
    JSON,
    Clock,
    Edit,
    FakeChat,
    FakeUser,
    Handler,
    RateLimitHit,
    RateLimits,
    RequestRecord,
    SentMessage,
    UploadedFile,
    _Fault,
    _Poll,
)


class _World:
    """State shared by every part of the fake (the layers above add the Bot API methods)."""

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
        # Filled by FakeTelegram: the method table, and its names in any letter case.
        self._handlers: dict[str, Handler] = {}
        self._canonical: dict[str, str] = {}

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

    # A deadline as a parameter is this API's point (tests wait on conditions), hence ASYNC109.
    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0,  # noqa: ASYNC109
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
                                timeout: float = 10.0  # noqa: ASYNC109
                                ) -> list[SentMessage]:
        """Wait until at least `count` messages were accepted (in `chat`, if given)."""
        def enough() -> list[SentMessage] | None:
            found = self.messages_to(chat) if chat is not None else self.messages
            return found if len(found) >= count else None
        where = f" in {chat}" if chat is not None else ""
        found: list[SentMessage] = await self.wait_for(enough, timeout,
                                                       f"{count} message(s){where}")
        return found

    async def _wait_change(self, timeout: float) -> None:  # noqa: ASYNC109
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    def _notify(self) -> None:
        # A fresh Event per change: every waiter wakes once, re-checks, and waits on the next.
        event, self._changed = self._changed, asyncio.Event()
        event.set()


    def _bot_user(self) -> JSON:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.bot_name,
                "username": self.bot_username}

    def _next_message_id(self, chat: FakeChat) -> int:
        message_id = chat.next_message_id
        chat.next_message_id += 1
        return message_id

