"""The bot under test: the real Application, polling the strict fake Bot API, with a real Redis,
a real fetcher and pages served by a local aiohttp server (allowed through allow_networks)."""
from __future__ import annotations

import asyncio
import contextlib
import html
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.app import build_application, run_commands
from bot.context import NashirApp
from bot.services import CommandLimiter
from bot.updates import UpdatesLock
from config.schema import BotConfig, parse_config
from config.settings import Settings
from feeds.fetcher import Fetcher, FetchLimits, make_session
from model.delivery import Delivery
from sandbox.telegram_api import FakeTelegram, SentMessage
from store import keys
from tests.fakes.feed_server import FeedServer

TOKEN = "123456:TEST-token_for-nashir"
OWNER, EDITOR, STRANGER, READER = 1000, 2000, 3000, 4000
NEWS, WORLD, REVIEW = -1001001, -1001002, -1001003
NEWS_CHAT, WORLD_CHAT = "@nashir_news", "@nashir_world"

_TAG = re.compile(r"<[^>]*>")


def plain(text: str | None) -> str:
    """What a reader sees: tags dropped, entities decoded, direction marks and isolates gone."""
    text = html.unescape(_TAG.sub("", text or ""))
    return re.sub("[\u200e\u200f\u2066-\u2069]", "", text)


def base_config(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "timezone": "Asia/Damascus",
        "owners": [OWNER],
        "editors": [EDITOR],
        "channels": [
            {"chat": NEWS_CHAT, "language": "ar"},
            {"chat": WORLD_CHAT, "language": "en"},
        ],
        "allow_networks": ["127.0.0.0/8"],
        "feeds": [],
    }
    data.update(overrides)
    return data


ARTICLE_HTML = """<!doctype html>
<html lang="ar" dir="rtl"><head><meta charset="utf-8">
<title>{title}</title>
<meta property="og:title" content="{title}">
<meta name="author" content="{author}">
<meta property="article:published_time" content="2025-09-18T08:00:00+00:00">
<link rel="canonical" href="{url}">
</head><body>
<nav><a href="/">الرئيسية</a></nav>
<article>
<h1>{title}</h1>
<p>{p1}</p>
<p>{p2}</p>
<p>{p3}</p>
</article>
<footer>جميع الحقوق محفوظة</footer>
</body></html>"""


def article_page(url: str, title: str = "اقتصاد الظل في المدن الساحلية") -> str:
    return ARTICLE_HTML.format(
        title=title, url=url, author="سلمى الحسن",
        p1="يتناول هذا التحليل الطويل كيف تحولت الأسواق غير الرسمية في المدن الساحلية إلى شبكة "
           "واسعة تعيل آلاف الأسر، وكيف تتعامل السلطات المحلية مع هذا الواقع المتغير منذ سنوات.",
        p2="ويعرض الكاتب شهادات تجار وعمال ومسؤولين، ويقارن بين الأرقام الرسمية وما يجري فعلاً في "
           "الأسواق، ليخلص إلى أن السياسات الحالية لا تعالج جذور المشكلة بل تؤجلها فحسب.",
        p3="ويختم بتوصيات عملية تشمل تبسيط إجراءات الترخيص وتخفيف الرسوم على صغار الباعة، مع "
           "إشراك النقابات والجمعيات الأهلية في وضع القواعد الجديدة ومتابعة تنفيذها.",
    )


@dataclass
class Harness:
    """One running bot and the means to talk to it."""

    tg: FakeTelegram
    redis: aioredis.Redis
    pages: FeedServer
    config: BotConfig
    app: NashirApp
    stop: asyncio.Event
    task: asyncio.Task[None]
    extra: dict[str, Any] = field(default_factory=dict)

    async def say(self, user_id: int, text: str, *, chat_id: int | None = None,
                  lang: str | None = None, count: int = 1, within: float = 15.0,
                  **extra: Any) -> list[SentMessage]:
        """A user writes to the bot; returns the bot's next `count` messages in that chat."""
        chat = chat_id if chat_id is not None else user_id
        before = len(self.tg.messages_to(chat)) if self._known(chat) else 0
        self.tg.inject_message(user_id, text, chat_id=chat_id, language_code=lang, **extra)

        def replies() -> list[SentMessage] | None:
            found = self.tg.messages_to(chat)[before:]
            return found[:count] if len(found) >= count else None

        return await self.tg.wait_for(replies, within, f"{count} reply to {text[:40]!r}")

    async def press(self, user_id: int, message: SentMessage, data: str, *,
                    lang: str | None = None, within: float = 15.0) -> dict[str, Any]:
        """A user presses a button; returns the bot's answer to the press (its notice)."""
        answers_before = len(self.tg.callback_answers)
        update = self.tg.inject_callback_query(user_id, data, message.message_id,
                                               chat_id=message.chat_id, language_code=lang)
        query_id = update["callback_query"]["id"]

        def answered() -> dict[str, Any] | None:
            return next((a for a in self.tg.callback_answers[answers_before:]
                         if a.get("callback_query_id") == query_id), None)

        return await self.tg.wait_for(answered, within, f"answer to button {data}")

    async def wait_edit(self, message: SentMessage, contains: str,
                        within: float = 15.0) -> SentMessage:
        """Wait until `message` was edited to contain `contains` (plain text)."""
        def edited() -> SentMessage | None:
            current = self.current(message)
            return current if contains in plain(current.html) else None

        return await self.tg.wait_for(edited, within, f"edit containing {contains!r}")

    def current(self, message: SentMessage) -> SentMessage:
        return next(m for m in self.tg.messages if m.chat_id == message.chat_id
                    and m.message_id == message.message_id)

    def _known(self, chat: int) -> bool:
        try:
            self.tg.chat(chat)
            return True
        except KeyError:
            return False

    async def queued(self) -> list[Delivery]:
        """Deliveries waiting in the queue (what goes to the channels)."""
        entries = await self.redis.xrange(keys.deliveries())
        return [Delivery.from_fields(fields) for _, fields in entries if "d" in fields]


async def eventually(check: Callable[[], Any], within: float = 10.0, what: str = "") -> Any:
    """Await `check()` (a coroutine function) until it returns something truthy, or fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what or check}")
        await asyncio.sleep(0.02)


def buttons(message: SentMessage) -> list[tuple[str, str]]:
    """(label, callback data) of every inline button under a message."""
    markup = message.reply_markup or {}
    return [(b["text"], b.get("callback_data", "")) for row in markup.get("inline_keyboard", [])
            for b in row]


def button(message: SentMessage, label_part: str) -> str:
    """The callback data of the button whose label contains `label_part`."""
    for label, data in buttons(message):
        if label_part in label:
            return data
    raise AssertionError(f"no button with {label_part!r} in {buttons(message)}")


@contextlib.asynccontextmanager
async def running_bot(tg: FakeTelegram, redis: aioredis.Redis, pages: FeedServer,
                      config_data: dict[str, Any], tmp_path: Path, *,
                      limiter: CommandLimiter | None = None, register: bool = True,
                      lock: UpdatesLock | None = None) -> AsyncIterator[Harness]:
    config = parse_config(config_data)
    settings = Settings(token=TOKEN, api_url=tg.api_root, redis_url=None,
                        config_path=tmp_path / "bot.yaml", data_dir=tmp_path, http_host="127.0.0.1",
                        http_port=0, log_format="text")
    limits = FetchLimits(total_timeout=10, read_timeout=5, connect_timeout=5)
    session = make_session(limits)
    fetcher = Fetcher(session, limits)
    app = build_application(settings, config, redis, fetcher,
                            limiter=limiter or CommandLimiter(redis, limit=60),
                            poll_timeout_s=2)
    app.bot_data.review.poll_s = 0.05
    stop = asyncio.Event()
    task = asyncio.create_task(run_commands(app, stop, lock=lock or UpdatesLock(redis, ttl_s=5),
                                            poll_timeout_s=2, register=register))
    harness = Harness(tg, redis, pages, config, app, stop, task)
    try:
        await tg.wait_for(lambda: tg.polling or task.done(), 15, "the bot to start polling")
        if task.done():
            task.result()
        yield harness
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, 15)
        finally:
            await session.close()


def world(tg: FakeTelegram) -> None:
    """The chats and people of these tests."""
    tg.add_chat(NEWS, "channel", username=NEWS_CHAT[1:], title="أخبار ناشر")
    tg.add_chat(WORLD, "channel", username=WORLD_CHAT[1:], title="Nashir World")
    tg.add_chat(REVIEW, "supergroup", title="Editors")
    tg.add_user(OWNER, "Owner", "ar", username="owner_user")
    tg.add_user(EDITOR, "Eddie", "en", username="eddie")
    tg.add_user(STRANGER, "Stranger", "en")
    tg.add_user(READER, "قارئ", "ar")


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        world(fake)
        yield fake


@pytest.fixture
async def pages() -> AsyncIterator[FeedServer]:
    async with FeedServer() as srv:
        yield srv


BotFactory = Callable[..., contextlib.AbstractAsyncContextManager[Harness]]


@pytest.fixture
def start_bot(tg: FakeTelegram, redis: aioredis.Redis, pages: FeedServer,
              tmp_path: Path) -> BotFactory:
    """`async with start_bot(**config_overrides) as bot:` runs the bot for the test."""
    def factory(*, limiter: CommandLimiter | None = None, register: bool = True,
                **overrides: Any) -> contextlib.AbstractAsyncContextManager[Harness]:
        return running_bot(tg, redis, pages, base_config(**overrides), tmp_path,
                           limiter=limiter, register=register)
    return factory


@pytest.fixture
async def bot(start_bot: BotFactory) -> AsyncIterator[Harness]:
    async with start_bot() as harness:
        yield harness
