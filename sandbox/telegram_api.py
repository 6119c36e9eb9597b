"""A strict fake Telegram Bot API server, for tests and for the editors' sandbox.

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

The server is built in layers, one module each: records and errors (`telegram_records`), the
parameters (`telegram_params`), the state tests set up and read (`telegram_world`), sending
(`telegram_sending`), editing and chat lookups (`telegram_editing`), updates (`telegram_updates`);
this module adds the HTTP front and re-exports the public names.
"""
from __future__ import annotations

import asyncio
import re
import socket
import time
from typing import Any

from aiohttp import web

from sandbox.telegram_html import TelegramTextError
from sandbox.telegram_params import _json_response, _maybe_int, _read_params
from sandbox.telegram_records import (
    JSON,
    ApiError,
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
    _Call,
    _ClientGone,
    bad_request,
    text_error,
)
from sandbox.telegram_rich import RichMessageError
from sandbox.telegram_updates import _Updates

__all__ = ["ApiError", "Edit", "FakeChat", "FakeTelegram", "FakeUser", "RateLimitHit",
           "RateLimits", "RequestRecord", "SentMessage", "UploadedFile", "bad_request",
           "text_error"]

# Methods an older Bot API server (before 10.1) does not know.
_RICH_METHODS = frozenset({"sendRichMessage"})


class FakeTelegram(_Updates):
    """The fake Bot API server; see the module docstring."""

    def __init__(self, token: str = "123:ABC", *, rate_limits: RateLimits | bool = False,
                 clock: Clock = time.monotonic, bot_username: str = "nashir_test_bot",
                 bot_name: str = "Nashir Test", rich_messages: bool = True) -> None:
        super().__init__(token, rate_limits=rate_limits, clock=clock, bot_username=bot_username,
                         bot_name=bot_name, rich_messages=rich_messages)
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

    async def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1 at `port` (0: a free one); `api_root` tells where."""
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._download)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        # Long polls are ended by `stop` itself, so a short shutdown timeout loses nothing.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart may reuse it
        sock.bind(("127.0.0.1", port))
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
            refused = ApiError(404, "Not Found") if malformed else ApiError(401, "Unauthorized")
            return self._answer(method, params, refused)
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
