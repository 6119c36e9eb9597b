"""Updates: what tests inject (messages, channel posts, documents, button presses), getUpdates
long polling and webhooks, and the command list, callback answers and files."""
from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from sandbox.telegram_editing import _Editing
from sandbox.telegram_params import (
    _bool,
    _commands_key,
    _int,
    _json_param,
    _scope_key,
    _str,
    _utf16,
)
from sandbox.telegram_records import (
    JSON,
    ApiError,
    FakeUser,
    UploadedFile,
    _Call,
    _ClientGone,
    _Poll,
    bad_request,
)

_COMMAND = re.compile(r"(?<![\w/<>])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/<>])")
_DEFAULT_UPDATE_TYPES_EXCLUDED = frozenset({"chat_member", "message_reaction",
                                            "message_reaction_count"})
_CONFLICTS = {  # telegram-bot-api Client.cpp
    "getUpdates": "Conflict: terminated by other getUpdates request; make sure that only one "
                  "bot instance is running",
    "setWebhook": "Conflict: terminated by setWebhook request",
}


class _Updates(_Editing):
    """Injected updates, getUpdates and webhooks, commands, callbacks and files."""

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
