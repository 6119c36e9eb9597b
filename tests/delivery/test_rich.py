"""delivery/rich.py sends and edits rich messages with the real PTB Bot over HTTP against the
strict fake Bot API, and sorts refusals into unsupported / media / refused while other Telegram
errors reach the caller unchanged."""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter
from telegram.ext import Defaults, ExtBot

from delivery.rich import RichMessageError, edit_rich, send_rich
from delivery.telegram_client import make_bot, make_request
from formatters.rich import build_rich
from sandbox.telegram_api import FakeTelegram
from tests.formatters.conftest import FIRST_SEEN, article, channel, seed_html

TOKEN = "424242:rich-tests"
CHANNEL = -1001111111111
FORUM = -1002222222222
PHOTO = "https://example.org/img/1.jpg"
JSON = dict[str, Any]


def simple(text: str = "نص الرسالة.", photo: bool = False) -> JSON:
    blocks: list[JSON] = [{"type": "heading", "size": 1, "text": "عنوان"}]
    if photo:
        blocks.append({"type": "photo", "photo": {"type": "photo", "media": PHOTO}})
    blocks.append({"type": "paragraph", "text": text})
    return {"is_rtl": True, "skip_entity_detection": True, "blocks": blocks}


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        fake.add_chat(CHANNEL, "channel", username="nashir_rich")
        fake.add_chat(FORUM, "supergroup", is_forum=True, topics=[3])
        yield fake


@pytest.fixture
async def bots(tg: FakeTelegram) -> AsyncIterator[Callable[..., Awaitable[Bot]]]:
    """make(initialized=True) -> a PTB Bot at the fake, as the app builds it; closed after."""
    made: list[Bot] = []

    async def make(initialized: bool = True) -> Bot:
        bot = make_bot(TOKEN, tg.api_root)
        if initialized:
            await bot.initialize()
        made.append(bot)
        return bot

    yield make
    for bot in made:
        await bot.shutdown()


@pytest.fixture
def timedelta_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22 warns on an int RetryAfter; with filterwarnings=error that would hide it.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


async def test_send_the_seed_article(tg: FakeTelegram, bots: Any) -> None:
    """The formatter's payload for the seed article goes out as one rich message; the id
    returned is the message's, and Telegram's copy has every block and is_rtl."""
    bot = await bots()
    post = build_rich(article(content_html=seed_html()), channel(), timezone="Asia/Riyadh",
                      first_seen=FIRST_SEEN)
    message_id = await send_rich(bot, "@nashir_rich", post.payload)
    sent = tg.messages_to(CHANNEL)
    assert [(m.method, m.message_id) for m in sent] == [("sendRichMessage", message_id)]
    assert sent[0].rich == post.payload
    assert sent[0].api["rich_message"]["is_rtl"] is True
    assert len(sent[0].api["rich_message"]["blocks"]) == len(post.payload["blocks"])


async def test_options_reach_telegram(tg: FakeTelegram, bots: Any) -> None:
    """topic, disable_notification, reply_markup and extra parameters are sent; nothing is sent
    for what was not asked."""
    bot = await bots()
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("تعليق", url="https://e.org/c")]])
    first = await send_rich(bot, FORUM, simple(), topic=3, disable_notification=True,
                            reply_markup=markup, extra={"protect_content": True})
    second = await send_rich(bot, CHANNEL, simple())
    calls = tg.calls("sendRichMessage")
    assert {k: calls[0].params[k] for k in ("message_thread_id", "disable_notification",
                                            "protect_content")} == {
        "message_thread_id": "3", "disable_notification": "true", "protect_content": "true"}
    assert not {"message_thread_id", "disable_notification", "reply_markup"} & set(
        calls[1].params)
    stored = tg.messages_to(FORUM)[0]
    assert (stored.message_id, stored.message_thread_id) == (first, 3)
    assert stored.api["reply_markup"]["inline_keyboard"][0][0]["text"] == "تعليق"
    assert tg.messages_to(CHANNEL)[0].message_id == second


async def test_ptb_defaults_are_not_applied(tg: FakeTelegram) -> None:
    """PTB's Defaults do not reach do_api_request: a bot with disable_notification defaults
    still sends none unless send_rich is told."""
    async with ExtBot(TOKEN, base_url=f"{tg.api_root}/bot", request=make_request(),
                      defaults=Defaults(disable_notification=True)) as bot:
        await send_rich(bot, CHANNEL, simple())
        await bot.send_message(CHANNEL, "نص")
    assert "disable_notification" not in tg.calls("sendRichMessage")[0].params
    assert tg.calls("sendMessage")[0].params["disable_notification"] == "true"


async def test_edit(tg: FakeTelegram, bots: Any) -> None:
    """edit_rich replaces the content (True); the same content again is no change (False)."""
    bot = await bots()
    message_id = await send_rich(bot, CHANNEL, simple("قبل."))
    assert await edit_rich(bot, CHANNEL, message_id, simple("بعد.")) is True
    assert await edit_rich(bot, "@nashir_rich", message_id, simple("بعد.")) is False
    stored = tg.messages_to(CHANNEL)[0]
    assert stored.rich == simple("بعد.") and stored.edit_count == 1
    assert [e.method for e in tg.edits] == ["editMessageText"]


async def test_older_server_is_unsupported(tg: FakeTelegram, bots: Any) -> None:
    """A Bot API server without rich messages: sending is `unsupported` (also with a bot not
    yet initialized, for which PTB would say InvalidToken), and so is editing."""
    bot = await bots()
    message_id = await send_rich(bot, CHANNEL, simple())
    tg.rich_messages = False
    for client in (bot, await bots(initialized=False)):
        with pytest.raises(RichMessageError) as raised:
            await send_rich(client, CHANNEL, simple())
        assert (raised.value.kind, raised.value.method) == ("unsupported", "sendRichMessage")
    with pytest.raises(RichMessageError) as raised:
        await edit_rich(bot, CHANNEL, message_id, simple("جديد."))
    assert (raised.value.kind, raised.value.method) == ("unsupported", "editMessageText")
    assert len(tg.messages) == 1 and not tg.edits


async def test_media_refusals(tg: FakeTelegram, bots: Any) -> None:
    """No right to send photos, or a photo Telegram cannot fetch: kind `media`; the same
    message without its photo goes."""
    bot = await bots()
    tg.refuse_media(CHANNEL)
    with pytest.raises(RichMessageError) as raised:
        await send_rich(bot, CHANNEL, simple(photo=True))
    assert raised.value.kind == "media"
    assert raised.value.description == "Not enough rights to send photos to the chat"
    await send_rich(bot, CHANNEL, simple())
    tg.refuse_media(CHANNEL, refused=False)
    tg.unreachable_urls.add(PHOTO)
    with pytest.raises(RichMessageError) as raised:
        await send_rich(bot, CHANNEL, simple(photo=True))
    assert raised.value.kind == "media"
    assert len(tg.messages) == 1


async def test_refused_messages(tg: FakeTelegram, bots: Any) -> None:
    """Past a limit, or a broken block: kind `refused`, with Telegram's description; an edit
    of a plain text post with rich content too."""
    bot = await bots()
    with pytest.raises(RichMessageError) as raised:
        await send_rich(bot, CHANNEL, simple("ب" * 32_768))
    assert (raised.value.kind, raised.value.description) == (
        "refused", "Rich message text is too long")
    with pytest.raises(RichMessageError) as raised:
        await send_rich(bot, CHANNEL, {"blocks": [{"type": "heading", "text": "x"}]})
    assert raised.value.kind == "refused" and isinstance(raised.value.__cause__, BadRequest)
    text = await bot.send_message(CHANNEL, "نص عادي")
    with pytest.raises(RichMessageError) as raised:
        await edit_rich(bot, CHANNEL, text.message_id, simple())
    assert raised.value.kind == "refused"
    assert len(tg.messages) == 1


async def test_chat_errors_pass_through_unchanged(tg: FakeTelegram, bots: Any) -> None:
    """Errors about the chat or the target message are not the rich message's fault: they
    reach the caller as PTB raised them, to be handled as for posts."""
    bot = await bots()
    with pytest.raises(BadRequest, match="(?i)chat not found") as raised:
        await send_rich(bot, -100999, simple())
    assert not isinstance(raised.value, RichMessageError)
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await edit_rich(bot, CHANNEL, 77, simple())
    with pytest.raises(BadRequest, match="(?i)thread not found"):
        await send_rich(bot, FORUM, simple(), topic=4)
    tg.set_bot_status(CHANNEL, "administrator", can_post=False)
    with pytest.raises(BadRequest, match="(?i)need administrator rights"):
        await send_rich(bot, CHANNEL, simple())
    tg.set_bot_status(CHANNEL, "kicked")
    with pytest.raises(Forbidden):
        await send_rich(bot, CHANNEL, simple())
    old = tg.add_chat(-555, "group")
    tg.migrate_chat(old.id, -1003333333333)
    with pytest.raises(ChatMigrated) as migrated:
        await send_rich(bot, -555, simple())
    assert migrated.value.new_chat_id == -1003333333333
    assert not tg.messages


@pytest.mark.usefixtures("timedelta_retry_after")
async def test_flood_and_network_errors_pass_through(tg: FakeTelegram, bots: Any) -> None:
    """RetryAfter and network errors (a lost answer, a 502) are left to the sender's handling
    of posts; a lost answer does not hide that the message exists."""
    bot = await bots()
    tg.fail_next("sendRichMessage", 429, retry_after=7)
    with pytest.raises(RetryAfter) as flood:
        await send_rich(bot, CHANNEL, simple())
    assert flood.value.retry_after.total_seconds() == 7
    tg.fail_next("sendRichMessage", 502)
    with pytest.raises(NetworkError):
        await send_rich(bot, CHANNEL, simple())
    tg.drop_after_accept("sendRichMessage")
    with pytest.raises(NetworkError):
        await send_rich(bot, CHANNEL, simple())
    assert len(tg.messages_to(CHANNEL)) == 1  # the dropped answer's message was posted
    tg.fail_next("editMessageText", 429, retry_after=3)
    with pytest.raises(RetryAfter):
        await edit_rich(bot, CHANNEL, tg.messages[0].message_id, simple("جديد."))
