"""A chat held after 403 comes back at once: the bot re-added (my_chat_member), the user's
/start or /subscribe, an owner's /release, `main.py release`. Black-box: the real bot and the
real sender against the strict fake Bot API, a real Redis; every post arrives once, in order."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from delivery.queue import DeliveryQueue
from delivery.sender import Sender
from delivery.telegram_client import make_bot
from delivery.telegram_transport import TelegramTransport
from model.delivery import Delivery
from sandbox.telegram_api import FakeTelegram
from store import keys
from store.redis_store import ArticleToQueue, Store
from tests.bot.conftest import (
    EDITOR,
    NEWS,
    NEWS_CHAT,
    OWNER,
    READER,
    STRANGER,
    TOKEN,
    BotFactory,
    Harness,
    base_config,
    eventually,
    plain,
)
from tests.support import bot_env, run_bot, write_config


def article(chat: str, n: int) -> Delivery:
    return Delivery(chat=chat, uid=f"r-{chat}-{n}", url=f"https://example.org/r/{n}",
                    html=f"<b>مقال {n}</b>\nنص المقال {n}.", article_time=1_758_186_000.0 + n,
                    queued_at=time.time())


@asynccontextmanager
async def sending(tg: FakeTelegram, redis: aioredis.Redis) -> AsyncIterator[Sender]:
    """The real sender, beside the bot, posting through its own PTB client."""
    bot = make_bot(TOKEN, tg.api_root)
    await bot.initialize()
    sender = Sender(DeliveryQueue(redis, "held-test"), TelegramTransport(bot), retry_base=0.05,
                    retry_cap=0.5, lease_ms=5_000)
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop, block_ms=100))
    try:
        yield sender
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await sender.transport.aclose()  # type: ignore[attr-defined]
        await bot.shutdown()


async def hold(bot: Harness, chat: str, count: int = 3) -> list[Delivery]:
    """Queue `count` posts for `chat` (which refuses the bot) and wait until all are held."""
    posts = [article(chat, n) for n in range(count, 0, -1)]  # queued newest first
    await Store(bot.redis).queue_articles(
        None, [ArticleToQueue((p.uid,), (p,), url=p.url) for p in posts])

    async def all_held() -> bool:
        return (int(await bot.redis.xlen(keys.held())) == count
                and await bot.redis.hexists(keys.delivery_blocked(), chat))

    await eventually(all_held, 20, f"{count} posts held for {chat}")
    return sorted(posts, key=lambda p: p.article_time)


async def arrive_once_in_order(bot: Harness, chat_id: int, posts: list[Delivery]) -> None:
    expected = [p.html for p in posts]

    def arrived() -> list[str] | None:
        found = [m.html for m in bot.tg.messages_to(chat_id) if m.html in expected]
        return found if len(found) >= len(expected) else None

    await bot.tg.wait_for(arrived, 20, "the held posts")

    async def settled() -> bool:
        return (await DeliveryQueue(bot.redis, "x").depth() == 0
                and int(await bot.redis.xlen(keys.held())) == 0)

    await eventually(settled, 10, "the queue to empty")
    assert [m.html for m in bot.tg.messages_to(chat_id) if m.html in expected] == expected
    assert not await bot.redis.hexists(keys.delivery_blocked(), str(chat_id))


def bot_member(status: str) -> dict[str, object]:
    user = {"id": 1, "is_bot": True, "first_name": "bot"}
    if status != "administrator":
        return {"status": status, "user": user, **({"until_date": 0} if status == "kicked"
                                                    else {})}
    rights = dict.fromkeys((
        "can_manage_chat", "can_delete_messages", "can_manage_video_chats",
        "can_restrict_members", "can_change_info", "can_invite_users", "can_post_stories",
        "can_edit_stories", "can_delete_stories", "can_post_messages", "can_edit_messages"),
        True)
    return {"status": "administrator", "user": user, "can_be_edited": False,
            "is_anonymous": False, "can_promote_members": False, **rights}


async def test_re_adding_the_bot_to_a_channel_releases_it(start_bot: BotFactory,
                                                          tg: FakeTelegram) -> None:
    """Kicked from a channel (configured by @name), then made admin again: Telegram's
    my_chat_member update releases its held posts at once."""
    tg.set_bot_status(NEWS, "kicked")
    async with start_bot() as bot, sending(tg, bot.redis):
        posts = await hold(bot, NEWS_CHAT)
        tg.set_bot_status(NEWS, "administrator")
        tg.inject_update({"my_chat_member": {
            "chat": {"id": NEWS, "type": "channel", "title": "أخبار ناشر",
                     "username": NEWS_CHAT[1:]},
            "from": {"id": OWNER, "is_bot": False, "first_name": "Owner"},
            "date": 1_700_000_000, "old_chat_member": bot_member("kicked"),
            "new_chat_member": bot_member("administrator")}})
        await arrive_once_in_order(bot, NEWS, posts)


@pytest.mark.parametrize("command", ["/start", "/subscribe"])
async def test_a_user_who_unblocks_the_bot_and_writes_gets_what_was_held(
        start_bot: BotFactory, tg: FakeTelegram, command: str) -> None:
    """A reader who blocked the bot had their posts held; unblocking and sending /start or
    /subscribe releases them at once, in order."""
    tg.block_bot(READER)
    async with start_bot() as bot, sending(tg, bot.redis):
        posts = await hold(bot, str(READER))
        tg.block_bot(READER, False)
        bot.tg.inject_message(READER, command)
        await arrive_once_in_order(bot, READER, posts)


async def test_an_owner_releases_a_chat_by_command(start_bot: BotFactory,
                                                   tg: FakeTelegram) -> None:
    """/release @channel (an owner) says how many posts went back; they arrive in order."""
    tg.set_bot_status(NEWS, "kicked")
    async with start_bot() as bot, sending(tg, bot.redis):
        posts = await hold(bot, NEWS_CHAT)
        tg.set_bot_status(NEWS, "administrator")
        [answer] = await bot.say(OWNER, f"/release {NEWS_CHAT}", lang="en")
        assert plain(answer.html) == (f"3 held posts of {NEWS_CHAT} went back to the queue; "
                                      f"they are posted in order.")
        await arrive_once_in_order(bot, NEWS, posts)
        [again] = await bot.say(OWNER, f"/release {NEWS_CHAT}", lang="en")
        assert plain(again.html) == f"Nothing was held for {NEWS_CHAT}."


async def test_the_command_line_releases_a_chat(start_bot: BotFactory, tg: FakeTelegram,
                                                redis_url: str, tmp_path: Path) -> None:
    """`main.py release @channel` puts the held posts back; the running sender posts them."""
    tg.set_bot_status(NEWS, "kicked")
    config = write_config(tmp_path / "cli.yaml", base_config())
    async with start_bot() as bot, sending(tg, bot.redis):
        posts = await hold(bot, NEWS_CHAT)
        tg.set_bot_status(NEWS, "administrator")
        result = await run_bot("release", NEWS_CHAT, env=bot_env(
            config=config, data_dir=tmp_path / "data", redis_url=redis_url))
        assert result.code == 0, result.stderr
        assert "3 held post(s) went back to the queue" in result.stdout
        await arrive_once_in_order(bot, NEWS, posts)


@pytest.mark.parametrize("user", [EDITOR, STRANGER])
async def test_only_owners_may_release(start_bot: BotFactory, tg: FakeTelegram,
                                       user: int) -> None:
    """An editor's or a stranger's /release is refused politely and changes nothing."""
    tg.set_bot_status(NEWS, "kicked")
    async with start_bot() as bot, sending(tg, bot.redis):
        await hold(bot, NEWS_CHAT)
        tg.set_bot_status(NEWS, "administrator")
        [answer] = await bot.say(user, f"/release {NEWS_CHAT}", lang="en")
        assert plain(answer.html) == "Sorry, only the bot's owners can do this."
        assert int(await bot.redis.xlen(keys.held())) == 3
        assert await bot.redis.hexists(keys.delivery_blocked(), NEWS_CHAT)
        assert tg.messages_to(NEWS) == []
