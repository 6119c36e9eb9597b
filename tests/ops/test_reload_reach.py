"""A SIGHUP reload reaches every part that reads the config, not only the poller: the owners'
notices go to the new owners, and the photo downloader follows the new `allow_networks`. A
real `main.py run` against the strict fake Bot API gets the signal."""
from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from config.schema import parse_config
from feeds.fetcher import Fetcher, FetchLimits, make_session
from feeds.schedule import HealthEvent, SchedulePolicy
from model.delivery import Delivery
from ops.notices import HealthNotifier
from ops.reload import Reloader, apply_to_poller
from pipeline.poller import Poller
from sandbox.telegram_api import FakeTelegram
from store import keys
from store.redis_store import Store
from tests.fakes.feed_server import FeedItem, FeedServer
from tests.ops.test_roles import TOKEN, Bot, item
from tests.support import bot_env, start_bot, write_config

CHANNEL_A, CHANNEL_B, CHANNEL_C = -1001000000001, -1001000000002, -1001000000003
OLD_OWNER, NEW_OWNER = 111111, 222222
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
       b"\x00\x00\x00\x00IEND\xaeB`\x82")


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        fake.add_chat(CHANNEL_A, type="channel", username="nashir_a", title="A")
        fake.add_chat(CHANNEL_B, type="channel", title="B", bot_status="kicked")
        fake.add_chat(CHANNEL_C, type="channel", title="C", bot_status="kicked")
        fake.add_user(OLD_OWNER, "Old", language_code="ar")
        fake.add_user(NEW_OWNER, "New", language_code="ar")
        yield fake


def config(feeds: FeedServer, *, owners: list[int], allow: list[str],
           feeds_to: dict[str, int]) -> dict:
    """Channel A (photos on) and a second channel per feed, where the bot was kicked."""
    return {"timezone": "Asia/Damascus", "owners": owners, "allow_networks": allow,
            "channels": [{"chat": "@nashir_a", "photo": True}, {"chat": str(CHANNEL_B)},
                         {"chat": str(CHANNEL_C)}],
            "feeds": [{"url": feeds.url(p), "channels": ["@nashir_a", str(chat)],
                       "first_run": "all"} for p, chat in feeds_to.items()]}


def with_photo(n: int, url: str) -> FeedItem:
    base = item(n)
    return FeedItem(guid=base.guid, title=base.title, link=base.link,
                    published=base.published, summary_html=base.summary_html, image=url)


async def test_sighup_reaches_the_notices_and_the_photo_downloader(
        tmp_path: Path, redis_url: str, telegram: FakeTelegram) -> None:
    """Before: allow_networks [] keeps the photo downloader off 127.0.0.1 (the post goes as
    text), and the old owner hears that channel B refused the bot. After SIGHUP with a new
    owner and 127.0.0.0/8 allowed: the new feed's photo is downloaded and uploaded, and the
    notice that channel C refused the bot goes to the new owner only."""
    async with FeedServer() as feeds:
        for path in ("/one.png", "/two.png"):
            feeds.set_response(path, body=PNG, headers={"Content-Type": "image/png"})
            telegram.unreachable_urls.add(feeds.url(path))   # Telegram cannot fetch them
        feeds.add_feed("/a.xml", title="A", items=[with_photo(1, feeds.url("/one.png"))])
        feeds.add_feed("/b.xml", title="B", items=[with_photo(2, feeds.url("/two.png"))])
        path = write_config(tmp_path / "bot.yaml", config(
            feeds, owners=[OLD_OWNER], allow=[], feeds_to={"/a.xml": CHANNEL_B}))
        bot = Bot(await start_bot("run", "--roles", "poller,sender", env=bot_env(
            config=path, data_dir=tmp_path / "data", api_root=telegram.api_root, token=TOKEN,
            redis_url=redis_url)))
        try:
            await telegram.wait_for(lambda: telegram.messages_to(CHANNEL_A), 60, "post 1")
            await telegram.wait_for(lambda: telegram.messages_to(OLD_OWNER), 30, "notice 1")
            [first] = telegram.messages_to(CHANNEL_A)
            assert first.method == "sendMessage" and feeds.hits("/one.png") == 0

            write_config(path, config(feeds, owners=[NEW_OWNER], allow=["127.0.0.0/8"],
                                      feeds_to={"/a.xml": CHANNEL_B, "/b.xml": CHANNEL_C}))
            bot.process.send_signal(signal.SIGHUP)
            await telegram.wait_for(lambda: len(telegram.messages_to(CHANNEL_A)) >= 2, 60,
                                    "post 2")
            await telegram.wait_for(lambda: telegram.messages_to(NEW_OWNER), 30, "notice 2")
        finally:
            code = await bot.stop()
    assert code == 0
    second = telegram.messages_to(CHANNEL_A)[1]
    assert second.method == "sendPhoto" and second.photo == PNG
    assert feeds.hits("/two.png") == 1
    assert len(telegram.messages_to(OLD_OWNER)) == 1      # nothing more after the reload
    assert str(CHANNEL_B) in telegram.messages_to(OLD_OWNER)[0].text
    [notice] = telegram.messages_to(NEW_OWNER)
    assert str(CHANNEL_C) in notice.text
    assert any(m.startswith("config reloaded") for m in bot.messages())


async def test_health_notices_follow_the_reloaded_owners(
        tmp_path: Path, redis: aioredis.Redis) -> None:
    """The poller's health notices (a feed broken) go to the owners of the reloaded file, as
    the app wires them: the Reloader with apply_to_poller."""
    async with FeedServer() as feeds:
        feeds.set_response("/down.xml", status=500)
        data = config(feeds, owners=[OLD_OWNER], allow=[], feeds_to={"/down.xml": CHANNEL_B})
        path = write_config(tmp_path / "bot.yaml", data)
        first = parse_config(data)
        store = Store(redis)
        limits = FetchLimits(total_timeout=5)
        async with make_session(limits) as session:
            notices = HealthNotifier(first, store)
            poller = Poller(first, store, Fetcher(session, limits), on_health=notices,
                            policy=SchedulePolicy(broken_after_s=0))
            reloader = Reloader(path, first)
            reloader.add(apply_to_poller(poller))
            write_config(path, {**data, "owners": [NEW_OWNER]})
            assert await reloader.reload()
            [outcome] = await poller.poll_all()
    assert outcome.event is HealthEvent.BROKEN
    queued = [fields for _, fields in await redis.xrange(keys.deliveries())]
    assert sorted({Delivery.from_fields(fields).chat for fields in queued}) == [str(NEW_OWNER)]
