"""The fake Bot API server answers the real PTB client the way Telegram does."""
from __future__ import annotations

import asyncio
import datetime as dtm
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, MessageEntity
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)

from sandbox.telegram_api import FakeTelegram, RateLimits
from sandbox.telegram_html import (
    MAX_TEXT,
    Entity,
    HtmlEntityError,
    parse_html,
    telegram_length,
    utf16_length,
)

TOKEN = "123:ABC"
CHANNEL = -1001234567890
USER = 4242


class FakeClock:
    """A monotonic clock the test moves by hand, so flood windows need no waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        fake.add_chat(CHANNEL, "channel", username="nashir_news", title="أخبار")
        fake.add_user(USER, "علي", language_code="ar")
        yield fake


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=tg.base_url, base_file_url=tg.base_file_url) as client:
        yield client


@pytest.fixture
def timedelta_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22 warns when RetryAfter.retry_after is an int; with filterwarnings=error the warning
    # would replace the RetryAfter itself, so opt in to the timedelta form.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


def description(tg: FakeTelegram) -> str | None:
    return tg.requests[-1].description


# --- the parser alone ------------------------------------------------------------------------

PARSED = [
    ("<b>bold</b> text", "bold text", [Entity("bold", 0, 4)]),
    ("😀 <b>قال</b>", "😀 قال", [Entity("bold", 3, 3)]),
    ("<B>X</B><strong>y</strong>", "Xy", [Entity("bold", 0, 2)]),  # touching bolds merge
    ("a &amp; b &lt;c&gt; &quot; &#1585; &#x200F;!", 'a & b <c> " ر \u200f!', []),
    ("&nbsp; & &copy; stay", "&nbsp; & &copy; stay", []),  # unknown entities stay literal
    ('<a href="https://x.org">x</a>', "x", [Entity("text_link", 0, 1, url="https://x.org/")]),
    ("<a>https://t.me/s</a>", "https://t.me/s", [Entity("text_link", 0, 14,
                                                        url="https://t.me/s")]),
    ('<a href="javascript:alert(1)">j</a>', "j", []),  # a refused link loses its entity
    ('<pre><code class="language-py">x=1</code></pre>', "x=1",
     [Entity("pre", 0, 3, language="py")]),
    ('<code class="language-py">x</code>', "x", [Entity("code", 0, 1)]),
    ('<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>', "st",
     [Entity("spoiler", 0, 2)]),
    ("<blockquote expandable>q</blockquote>", "q", [Entity("expandable_blockquote", 0, 1)]),
    ("<blockquote>a<blockquote>b</blockquote></blockquote>", "ab", [Entity("blockquote", 0, 2)]),
    ("<code>a<b>b</b></code>", "ab", [Entity("code", 0, 2)]),  # nothing inside code
    ('<b unknown="1">x</b>', "x", [Entity("bold", 0, 1)]),  # unknown attributes are ignored
    ("<b>x</>", "x", [Entity("bold", 0, 1)]),  # "</>" closes whatever is open
    ("\n  <i>x</i>  \n", "x", [Entity("italic", 0, 1)]),
    ("a\u202eb\rc\td\u2028e", "abc de", []),
    ("\u200f\u200f\u200fنص", "\u200c\u200c\u200fنص", []),
]

REFUSED = [
    ("<p>x</p>", 'Unsupported start tag "p" at byte offset 0'),
    ("قال a < b", 'Unsupported start tag "" at byte offset 9'),  # bytes, not characters
    ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
    ("x</b>", "Unexpected end tag at byte offset 1"),
    ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
    ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ("<b", "Unclosed start tag at byte offset 0"),
    ("<b/>", 'Unsupported start tag "b/" at byte offset 0'),
    ('<a href="x', "Unclosed start tag at byte offset 0"),
    ('<tg-emoji emoji-id="abc">x</tg-emoji>', "Invalid custom emoji identifier specified"),
    ("&#xD83D;&#xDE00;", "Text contains invalid Unicode characters after decoding HTML "
                         "entities, check for unmatched surrogate code units"),
]


@pytest.mark.parametrize(("html", "text", "entities"), PARSED)
def test_parse_html_accepts(html: str, text: str, entities: list[Entity]) -> None:
    """Valid HTML yields tdlib's text and entities."""
    parsed = parse_html(html)
    assert (parsed.text, list(parsed.entities)) == (text, entities)


@pytest.mark.parametrize(("html", "detail"), REFUSED)
def test_parse_html_refuses(html: str, detail: str) -> None:
    """Invalid HTML raises with tdlib's wording."""
    with pytest.raises(HtmlEntityError) as caught:
        parse_html(html)
    assert str(caught.value) == f"Can't parse entities: {detail}"


def test_lengths_count_code_points_and_utf16() -> None:
    """Limits count code points; entity offsets count UTF-16 units."""
    assert (telegram_length("قال 😀 CNN"), utf16_length("قال 😀 CNN")) == (9, 10)


# --- over HTTP, with the real client -----------------------------------------------------------


async def test_html_message_is_accepted_with_utf16_offsets(tg: FakeTelegram, bot: Bot) -> None:
    """An emoji before a bold word moves the entity by two UTF-16 units."""
    sent = await bot.send_message(CHANNEL, "😀 <b>قال</b> CNN", parse_mode="HTML")
    assert sent.text == "😀 قال CNN"
    assert sent.entities == (MessageEntity(MessageEntity.BOLD, offset=3, length=3),)
    assert sent.parse_entity(sent.entities[0]) == "قال"
    recorded = tg.messages_to(CHANNEL)[0]
    assert (recorded.html, recorded.text, recorded.parse_mode) == (
        "😀 <b>قال</b> CNN", "😀 قال CNN", "HTML")


async def test_plain_text_is_not_parsed(tg: FakeTelegram, bot: Bot) -> None:
    """Without parse_mode, tags are just characters."""
    sent = await bot.send_message(CHANNEL, "<b>x</b>")
    assert (sent.text, sent.entities) == ("<b>x</b>", ())


@pytest.mark.parametrize(("text", "parse_mode", "telegram_says"), [
    ("<p>x</p>", "HTML", 'Bad Request: can\'t parse entities: Unsupported start tag "p" at '
                         'byte offset 0'),
    ("", None, "Bad Request: message text is empty"),
    ("\u202e \r\n<b></b>", "HTML", "Bad Request: text must be non-empty"),
    ("ب" * (MAX_TEXT + 1), None, "Bad Request: message is too long"),
    ("ب" * 16_385, None, "Bad Request: text is too long"),  # > 32768 bytes before parsing
    ("x", "MarkdownV3", "Bad Request: unsupported parse_mode"),
])
async def test_bad_text_is_bad_request(tg: FakeTelegram, bot: Bot, text: str,
                                       parse_mode: str | None, telegram_says: str) -> None:
    """Each kind of bad text is a 400 with Telegram's description, and nothing is sent."""
    with pytest.raises(BadRequest):
        await bot.send_message(CHANNEL, text, parse_mode=parse_mode)
    assert (tg.requests[-1].status, description(tg)) == (400, telegram_says)
    assert tg.messages == []


async def test_length_limit_counts_code_points(tg: FakeTelegram, bot: Bot) -> None:
    """4096 code points pass even when emoji make them 6000 UTF-16 units; markup is free."""
    emoji_heavy = "😀" * 1904 + "ب" * 2192
    assert (len(emoji_heavy), utf16_length(emoji_heavy)) == (4096, 6000)
    await bot.send_message(CHANNEL, emoji_heavy)
    await bot.send_message(CHANNEL, "<b>" + "ب" * MAX_TEXT + "</b>", parse_mode="HTML")
    assert [len(m.text or "") for m in tg.messages] == [4096, 4096]


async def test_caption_limit_is_1024(tg: FakeTelegram, bot: Bot) -> None:
    """A photo caption may have 1024 characters, not 1025."""
    photo = "https://example.org/cover.jpg"
    sent = await bot.send_photo(CHANNEL, photo, caption="<i>" + "س" * 1024 + "</i>",
                                parse_mode="HTML")
    assert sent.caption_entities[0].length == 1024 and sent.photo
    with pytest.raises(BadRequest):
        await bot.send_photo(CHANNEL, photo, caption="س" * 1025)
    assert description(tg) == "Bad Request: message caption is too long"
    assert tg.messages[0].photo == photo and tg.messages[0].caption == "س" * 1024


async def test_username_and_id_are_the_same_chat(tg: FakeTelegram, bot: Bot) -> None:
    """@username and the numeric id reach one chat with one message counter."""
    first = await bot.send_message("@Nashir_News", "أ")
    second = await bot.send_message(CHANNEL, "ب")
    assert first.chat.id == second.chat.id == CHANNEL
    assert (first.message_id, second.message_id) == (1, 2)
    assert tg.messages_to("@nashir_news") == tg.messages_to(CHANNEL)


async def test_unknown_chat_is_bad_request(tg: FakeTelegram, bot: Bot) -> None:
    """A chat Telegram does not know is "chat not found"."""
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(-100999, "x")
    assert description(tg) == "Bad Request: chat not found"


@pytest.mark.parametrize(("setup", "error", "telegram_says"), [
    (lambda tg: tg.set_bot_status(CHANNEL, "kicked"), Forbidden,
     "Forbidden: bot was kicked from the channel chat"),
    (lambda tg: tg.set_bot_status(CHANNEL, "left"), Forbidden,
     "Forbidden: bot is not a member of the channel chat"),
    (lambda tg: tg.set_bot_status(CHANNEL, "administrator", can_post=False), BadRequest,
     "Bad Request: need administrator rights in the channel chat"),
])
async def test_bot_without_rights_is_refused(tg: FakeTelegram, bot: Bot,
                                             setup: Callable[[FakeTelegram], None],
                                             error: type[Exception], telegram_says: str) -> None:
    """A bot kicked from, outside of, or without post rights in a channel cannot post."""
    setup(tg)
    with pytest.raises(error):
        await bot.send_message(CHANNEL, "x")
    assert description(tg) == telegram_says


async def test_blocked_user_is_forbidden(tg: FakeTelegram, bot: Bot) -> None:
    """A user who blocked the bot gives 403 Forbidden."""
    tg.block_bot(USER)
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(USER, "مرحبا")
    assert description(tg) == "Forbidden: bot was blocked by the user"


async def test_migrated_group_gives_chat_migrated(tg: FakeTelegram, bot: Bot) -> None:
    """Posting to an upgraded group raises ChatMigrated with the supergroup's id."""
    tg.add_chat(-555, "group", title="Editors")
    tg.migrate_chat(-555, -1005550000)
    with pytest.raises(ChatMigrated) as caught:
        await bot.send_message(-555, "x")
    assert caught.value.new_chat_id == -1005550000
    assert (await bot.send_message(-1005550000, "x")).chat.type == "supergroup"


async def test_wrong_token_is_invalid_token(tg: FakeTelegram) -> None:
    """A token the server does not know is 401 Unauthorized."""
    with pytest.raises(InvalidToken):
        async with Bot("999:WRONG", base_url=tg.base_url):
            pass
    assert (tg.requests[-1].status, description(tg)) == (401, "Unauthorized")


async def test_bot_rights_are_reported(tg: FakeTelegram, bot: Bot) -> None:
    """getChatMember on the bot tells whether it may post in the channel."""
    tg.set_bot_status(CHANNEL, "administrator", can_post=False)
    member = await bot.get_chat_member("@nashir_news", bot.id)
    assert (member.status, member.can_post_messages) == ("administrator", False)
    assert (await bot.get_chat(CHANNEL)).username == "nashir_news"


async def test_channel_limit_is_20_per_minute(timedelta_retry_after: None) -> None:
    """Posting 20 a minute to a channel goes on forever; one more is a 429 with retry_after."""
    clock = FakeClock()
    async with FakeTelegram(token=TOKEN, rate_limits=RateLimits(chat_burst=100),
                            clock=clock) as tg:
        tg.add_chat(CHANNEL, "channel")
        async with Bot(TOKEN, base_url=tg.base_url) as bot:
            for i in range(40):
                clock.now += 3
                await bot.send_message(CHANNEL, f"{i}")
            with pytest.raises(RetryAfter) as caught:
                await bot.send_message(CHANNEL, "one too many")
            # The oldest of the last 20 posts leaves the 60 s window 3 s from now.
            assert caught.value.retry_after == dtm.timedelta(seconds=3)
            assert description(tg) == "Too Many Requests: retry after 3"
            assert [(h.chat_id, h.scope) for h in tg.rate_limited] == [(CHANNEL, "group")]
            clock.now += 3
            await bot.send_message(CHANNEL, "admitted again")
        assert len(tg.messages) == 41


async def test_private_chat_allows_a_short_burst(timedelta_retry_after: None) -> None:
    """One chat takes a burst of three, then one message a second."""
    clock = FakeClock()
    async with FakeTelegram(token=TOKEN, rate_limits=True, clock=clock) as tg:
        tg.add_user(USER, "Ali")
        async with Bot(TOKEN, base_url=tg.base_url) as bot:
            for _ in range(3):
                await bot.send_message(USER, "x")
            with pytest.raises(RetryAfter) as caught:
                await bot.send_message(USER, "x")
            assert caught.value.retry_after == dtm.timedelta(seconds=3)


async def test_injected_429_carries_retry_after(tg: FakeTelegram, bot: Bot,
                                                timedelta_retry_after: None) -> None:
    """fail_next with 429 answers RetryAfter once, then the method works again."""
    tg.fail_next("sendMessage", status=429, retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(CHANNEL, "x")
    assert caught.value.retry_after == dtm.timedelta(seconds=7)
    assert tg.messages == [] and tg.rate_limited[0].scope == "injected"
    await bot.send_message(CHANNEL, "x")
    assert len(tg.messages) == 1


async def test_server_error_is_network_error(tg: FakeTelegram, bot: Bot) -> None:
    """An injected 500 reaches PTB as NetworkError and sends nothing."""
    tg.fail_next("SENDMESSAGE", status=500)
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.send_message(CHANNEL, "x")
    assert tg.messages == []


async def test_drop_after_accept_loses_only_the_answer(tg: FakeTelegram, bot: Bot) -> None:
    """The client sees a network error although Telegram kept the message."""
    tg.drop_after_accept("sendMessage")
    with pytest.raises(NetworkError):
        await bot.send_message(CHANNEL, "وصلت؟")
    assert [m.text for m in tg.messages_to(CHANNEL)] == ["وصلت؟"]
    assert tg.requests[-1].status == 0
    assert (await bot.send_message(CHANNEL, "ثانية")).message_id == 2


async def test_long_poll_returns_an_injected_update_early(tg: FakeTelegram, bot: Bot) -> None:
    """getUpdates waits for an update and returns as soon as one is injected."""
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await tg.wait_for(lambda: tg.polling, what="a waiting getUpdates")
    tg.inject_message(USER, "/start")
    (update,) = await asyncio.wait_for(poll, 5)
    assert update.message.text == "/start"
    assert update.message.from_user.language_code == "ar"
    assert update.message.entities[0].type == MessageEntity.BOT_COMMAND
    assert await bot.get_updates(offset=update.update_id + 1) == ()


async def test_second_poller_terminates_the_first(tg: FakeTelegram, bot: Bot) -> None:
    """Two concurrent getUpdates: the older one gets 409 Conflict."""
    first = asyncio.create_task(bot.get_updates(timeout=30))
    await tg.wait_for(lambda: tg.polling, what="the first poller")
    async with Bot(TOKEN, base_url=tg.base_url) as other_instance:
        assert await other_instance.get_updates() == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await asyncio.wait_for(first, 5)


async def test_get_updates_conflicts_with_a_webhook(tg: FakeTelegram, bot: Bot) -> None:
    """While a webhook is set, getUpdates is 409 Conflict."""
    await bot.set_webhook("https://example.org/hook")
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()
    await bot.delete_webhook()
    assert await bot.get_updates() == ()


async def test_buttons_callbacks_and_edits(tg: FakeTelegram, bot: Bot) -> None:
    """A pressed button reaches the bot, and an identical edit is "message is not modified"."""
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("انشر", callback_data="publish")]])
    sent = await bot.send_message(USER, "مسودة", reply_markup=keyboard)
    tg.inject_callback_query(USER, "publish", sent.message_id)
    (update,) = await bot.get_updates()
    assert update.callback_query.data == "publish"
    assert update.callback_query.message.reply_markup == keyboard
    assert await bot.answer_callback_query(update.callback_query.id, text="تم")
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text("مسودة", chat_id=USER, message_id=sent.message_id,
                                    reply_markup=keyboard)
    edited = await bot.edit_message_text("<b>نُشر</b>", chat_id=USER,
                                         message_id=sent.message_id, parse_mode="HTML")
    assert (edited.text, edited.reply_markup) == ("نُشر", None)  # no markup: keyboard removed
    assert [e.text for e in tg.edits] == ["نُشر"]


async def test_more_than_100_buttons_is_too_long(tg: FakeTelegram, bot: Bot) -> None:
    """An inline keyboard of 101 buttons (or over 10 kB) is refused; 100 short ones pass."""
    def keyboard(count: int, label: str = "x") -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=str(n))]
                                     for n in range(count)])

    assert await bot.send_message(USER, "ok", reply_markup=keyboard(100))
    with pytest.raises(BadRequest, match="Reply markup is too long"):
        await bot.send_message(USER, "no", reply_markup=keyboard(101))
    with pytest.raises(BadRequest, match="Reply markup is too long"):
        await bot.send_message(USER, "no", reply_markup=keyboard(60, "ب" * 100))


async def test_parameters_in_json_body_and_query_string(tg: FakeTelegram) -> None:
    """JSON bodies, query strings and any case of the method name are understood."""
    url = f"{tg.base_url}{TOKEN}"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/SendMessage", json={
                "chat_id": CHANNEL, "text": "<i>json</i>", "parse_mode": "HTML",
                "link_preview_options": {"is_disabled": True}}) as response:
            body = await response.json()
        assert body["ok"] and body["result"]["entities"] == [
            {"type": "italic", "offset": 0, "length": 4}]
        async with http.get(f"{url}/sendmessage",
                            params={"chat_id": "@nashir_news", "text": "query"}) as response:
            assert (await response.json())["result"]["text"] == "query"
        async with http.get(f"{url}/noSuchMethod") as response:
            assert (response.status, (await response.json())["description"]) == (
                404, "Not Found: method not found")
    assert tg.messages[0].link_preview_options == {"is_disabled": True}
