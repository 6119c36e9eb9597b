"""The fake Bot API checks rich messages (sendRichMessage, editMessageText with rich_message) the
way sandbox/telegram_rich.py documents, answering the real PTB client over HTTP."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, EndPointNotFound, Forbidden

from sandbox.telegram_api import FakeTelegram
from sandbox.telegram_rich import MAX_BLOCKS, MAX_DEPTH, MAX_MEDIA, MAX_TEXT

TOKEN = "123:ABC"
CHANNEL = -1001234567890
FORUM = -1009876543210
USER = 4242
PHOTO = "https://example.org/img/1.jpg"
JSON = dict[str, Any]


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        fake.add_chat(CHANNEL, "channel", username="nashir_news", title="أخبار")
        fake.add_chat(FORUM, "supergroup", title="نقاش", is_forum=True, topics=[7])
        fake.add_user(USER, "علي")
        yield fake


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=tg.base_url, base_file_url=tg.base_file_url) as client:
        yield client


def para(text: Any = "نص الفقرة.") -> JSON:
    return {"type": "paragraph", "text": text}


async def send(bot: Bot, blocks: Any = None, chat: int | str = CHANNEL, *,
               rich: JSON | None = None, **params: Any) -> JSON:
    """sendRichMessage with `blocks` (or a whole InputRichMessage `rich`)."""
    message = rich if rich is not None else {"blocks": blocks if blocks is not None
                                             else [para()]}
    result = await bot.do_api_request("sendRichMessage", api_kwargs={
        "chat_id": chat, "rich_message": message, **params})
    assert isinstance(result, dict)
    return result


async def refused(bot: Bot, tg: FakeTelegram, blocks: Any = None, *, rich: JSON | None = None,
                  chat: int | str = CHANNEL) -> str:
    """Send and return the 400's description (the test fails if it was accepted)."""
    with pytest.raises(BadRequest):
        await send(bot, blocks, chat, rich=rich)
    last = tg.requests[-1]
    assert last.status == 400
    return last.description or ""


async def edit(bot: Bot, message_id: int, rich: JSON, chat: int | str = CHANNEL,
               **params: Any) -> Any:
    return await bot.edit_message_text("", chat_id=chat, message_id=message_id,
                                       api_kwargs={"rich_message": rich}, **params)


# --- acceptance ------------------------------------------------------------------------------


EVERY_BLOCK: list[JSON] = [
    {"type": "heading", "size": 1, "text": "عنوان المقال"},
    *({"type": "heading", "size": size, "text": f"عنوان {size}"} for size in range(2, 7)),
    {"type": "footer", "text": "الخميس 18 سبتمبر 2025 · مركز الدراسات"},
    {"type": "photo", "photo": {"type": "photo", "media": PHOTO},
     "caption": {"text": "صورة أرشيفية", "credit": "رويترز"}},
    para(["يرى مراقبون أن ", {"type": "bold", "text": "العامل الاقتصادي"}, " سيحسم ",
          {"type": "italic", "text": [{"type": "marked", "text": "النتيجة"}]}, "."]),
    para([{"type": "url", "text": "المصدر", "url": "https://example.org/a"}, " ",
          {"type": "date_time", "text": "الخميس", "unix_time": 1758186000,
           "date_time_format": "wD"}, " ",
          {"type": "button", "button": {"text": "نسخ", "copy_text": {"text": "x"}}}]),
    {"type": "pullquote", "text": "«لا تهدئة بلا ضمانات مكتوبة»", "credit": "مسؤول رفيع"},
    {"type": "blockquote", "blocks": [para("قال الوزير إن الاتفاق قريب."),
                                      {"type": "divider"}], "credit": "وكالة"},
    {"type": "divider"},
    {"type": "list", "items": [{"blocks": [para("أولاً")], "value": 1},
                               {"blocks": [para("ثانياً")], "has_checkbox": True,
                                "is_checked": False}]},
    {"type": "details", "summary": "المزيد", "blocks": [para("تفاصيل.")], "is_open": False},
    {"type": "buttons", "align": "center", "buttons": [
        {"text": "اقرأ على الموقع", "url": "https://example.org/ar/1", "style": "primary"},
        {"text": "تفاعل", "callback_data": "like:1", "style": "link"},
        {"text": "تيليجرام", "url": "tg://resolve?domain=nashir"}]},
]


async def test_every_block_type_is_accepted_and_echoed(tg: FakeTelegram, bot: Bot) -> None:
    """A message using every imitated block and RichText form is accepted; the Message answered
    carries rich_message with the blocks (the photo as PhotoSizes) and is_rtl."""
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("المزيد", url="https://example.org")]])
    rich = {"is_rtl": True, "skip_entity_detection": True, "blocks": EVERY_BLOCK}
    message = await send(bot, rich=rich, disable_notification=True, reply_markup=markup)

    answered = message["rich_message"]
    assert answered["is_rtl"] is True
    assert [b["type"] for b in answered["blocks"]] == [b["type"] for b in EVERY_BLOCK]
    photo = answered["blocks"][7]["photo"]
    assert isinstance(photo, list) and {"file_id", "width", "height"} <= set(photo[-1])
    assert answered["blocks"][0] == EVERY_BLOCK[0]
    assert message["reply_markup"]["inline_keyboard"][0][0]["text"] == "المزيد"
    sent = tg.messages_to("@nashir_news")[0]
    assert (sent.method, sent.rich, sent.text) == ("sendRichMessage", rich, None)
    assert tg.calls("sendRichMessage")[0].params["disable_notification"] == "true"


async def test_left_to_right_message_has_no_is_rtl(tg: FakeTelegram, bot: Bot) -> None:
    """is_rtl is returned only when it was set, as optional booleans are."""
    message = await send(bot, [para("Plain English.")])
    assert message["rich_message"] == {"blocks": [para("Plain English.")]}


async def test_forum_topic_and_unknown_topic(tg: FakeTelegram, bot: Bot) -> None:
    """message_thread_id puts the message in a forum topic; an unknown topic is refused."""
    message = await send(bot, chat=FORUM, message_thread_id=7)
    assert message["message_thread_id"] == 7 and tg.messages_to(FORUM)[0].message_thread_id == 7
    with pytest.raises(BadRequest, match="(?i)thread not found"):
        await send(bot, chat=FORUM, message_thread_id=8)


async def test_json_body_and_string_form_are_understood(tg: FakeTelegram) -> None:
    """A JSON body (rich_message as an object) works as the form field PTB sends does."""
    url = f"{tg.base_url}{TOKEN}/sendRichMessage"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"chat_id": CHANNEL,
                                        "rich_message": {"blocks": [para()]}}) as response:
            assert (await response.json())["ok"] is True
        async with http.post(url, data={"chat_id": str(CHANNEL),
                                        "rich_message": "{not json"}) as response:
            body = await response.json()
    assert (response.status, body["description"]) == (
        400, "Bad Request: can't parse rich message JSON object")


# --- shape and block rules ------------------------------------------------------------------


def _buttons(count: int, **button: Any) -> JSON:
    return {"type": "buttons", "buttons": [{"text": f"زر {i}", "url": "https://e.org", **button}
                                           for i in range(count)]}


REFUSED: list[tuple[str, Any, str]] = [
    ("no content at all", {}, "exactly one of html, markdown or blocks must be specified"),
    ("html and blocks", {"html": "<p>x</p>", "blocks": [para()]},
     "exactly one of html, markdown or blocks must be specified"),
    ("html alone", {"html": "<p>x</p>"},
     "rich messages in html or markdown are not imitated by the fake"),
    ("blocks not an array", {"blocks": {"type": "paragraph"}},
     'Field "blocks" must be of type Array'),
    ("no blocks", {"blocks": []}, "rich message must be non-empty"),
    ("block without type", [{"text": "x"}], 'Can\'t find field "type"'),
    ("unknown block type", [{"type": "marquee", "text": "x"}],
     'unsupported rich block type "marquee"'),
    ("real type the fake does not imitate", [{"type": "table", "rows": []}],
     'rich block type "table" is not imitated by the fake'),
    ("heading without size", [{"type": "heading", "text": "x"}], 'Can\'t find field "size"'),
    ("heading size 0", [{"type": "heading", "size": 0, "text": "x"}],
     "heading size must be between 1 and 6"),
    ("heading size 7", [{"type": "heading", "size": 7, "text": "x"}],
     "heading size must be between 1 and 6"),
    ("heading size as a string", [{"type": "heading", "size": "2", "text": "x"}],
     'Field "size" must be of type Number'),
    ("paragraph without text", [{"type": "paragraph"}], 'Can\'t find field "text"'),
    ("empty paragraph", [para("")], "text must be non-empty"),
    ("paragraph of invisible marks", [para(" \u200f\u200b ")], "text must be non-empty"),
    ("empty footer", [{"type": "footer", "text": [" ", ""]}], "text must be non-empty"),
    ("RichText as a number", [para(5)], "RichText must be a String, an Array or an Object"),
    ("unknown RichText type", [para({"type": "blink", "text": "x"})],
     'unsupported rich text type "blink"'),
    ("bold without text", [para({"type": "bold"})], 'Can\'t find field "text"'),
    ("javascript link", [para({"type": "url", "text": "x", "url": "javascript:alert(1)"})],
     "wrong URL in rich text"),
    ("bad date format", [para({"type": "date_time", "text": "x", "unix_time": 1,
                               "date_time_format": "YYYY"})], "invalid date_time_format specified"),
    ("pullquote credit not RichText", [{"type": "pullquote", "text": "x", "credit": 3}],
     "RichText must be a String, an Array or an Object"),
    ("blockquote without blocks", [{"type": "blockquote", "blocks": []}],
     "nested blocks must be non-empty"),
    ("photo not InputMediaPhoto", [{"type": "photo", "photo": {"type": "video", "media": PHOTO}}],
     "InputMediaPhoto expected in a photo block"),
    ("photo without media", [{"type": "photo", "photo": {"type": "photo"}}],
     "there is no photo in the request"),
    ("photo caption without text", [{"type": "photo", "photo": {"type": "photo", "media": PHOTO},
                                     "caption": {"credit": "x"}}], 'Can\'t find field "text"'),
    ("list without items", [{"type": "list", "items": []}], "list items must be non-empty"),
    ("list item without blocks", [{"type": "list", "items": [{"value": 1}]}],
     'Can\'t find field "blocks"'),
    ("details without summary", [{"type": "details", "blocks": [para()]}],
     'Can\'t find field "summary"'),
    ("no buttons", [_buttons(0)], "a button block must have 1-8 buttons"),
    ("nine buttons", [_buttons(9)], "a button block must have 1-8 buttons"),
    ("button without action", [{"type": "buttons", "buttons": [{"text": "x"}]}],
     "a rich message button must have exactly one action"),
    ("button with two actions", [_buttons(1, callback_data="x")],
     "a rich message button must have exactly one action"),
    ("button url of another scheme", [_buttons(1, url="ftp://e.org/f")], "BUTTON_URL_INVALID"),
    ("callback data over 64 bytes",
     [{"type": "buttons", "buttons": [{"text": "x", "callback_data": "ب" * 33}]}],
     "BUTTON_DATA_INVALID"),
    ("link style on a url button", [_buttons(1, style="link")],
     'button style "link" is allowed only for callback buttons'),
    ("empty button label", [{"type": "buttons", "buttons": [{"text": " ", "url": "https://e.org"}]}],
     "text must be non-empty"),
    ("bold button label", [{"type": "buttons", "buttons": [
        {"text": {"type": "bold", "text": "x"}, "url": "https://e.org"}]}],
     "button text can hold only plain text, custom emoji and dates"),
    ("unknown alignment", [{**_buttons(1), "align": "justify"}], "unsupported button alignment"),
    ("is_rtl as a string", {"blocks": [para()], "is_rtl": "yes"},
     'Field "is_rtl" must be of type Boolean'),
    ("lone surrogate", [para("\ud800x")], "strings must be encoded in UTF-8"),
]


@pytest.mark.parametrize(("case", "rich", "description"), REFUSED, ids=[c[0] for c in REFUSED])
async def test_block_rules(tg: FakeTelegram, bot: Bot, case: str, rich: Any,
                           description: str) -> None:
    """Each rule of the InputRichMessage is enforced with a 400 and its own description."""
    message = rich if isinstance(rich, dict) else {"blocks": rich}
    if case == "lone surrogate":  # PTB cannot encode it; a raw JSON body can carry it
        body = ('{"chat_id": ' + str(CHANNEL) + ', "rich_message": {"blocks": '
                '[{"type": "paragraph", "text": "\\ud800x"}]}}')
        async with aiohttp.ClientSession() as http, http.post(
                f"{tg.base_url}{TOKEN}/sendRichMessage", data=body,
                headers={"Content-Type": "application/json"}) as response:
            answer = await response.json()
        assert answer["description"] == f"Bad Request: {description}"
        return
    assert await refused(bot, tg, rich=message) == f"Bad Request: {description}"
    assert not tg.messages


# --- limits: accepted at the limit, refused past it ---------------------------------------------


async def test_text_limit_counts_code_points_of_all_text(tg: FakeTelegram, bot: Bot) -> None:
    """32,768 code points of text (button labels included) pass; one more is refused."""
    label = "اقرأ"
    button = {"type": "buttons", "buttons": [{"text": label, "url": "https://e.org/x"}]}
    await send(bot, [para("ب" * (MAX_TEXT - len(label))), button])
    assert await refused(bot, tg, [para("ب" * (MAX_TEXT - len(label) + 1)), button]) == \
        "Bad Request: rich message text is too long"
    # The unit is the code point: 32,768 emoji (65,536 UTF-16 units) still fit.
    await send(bot, [para("😀" * MAX_TEXT)])
    assert len(tg.messages) == 2


async def test_block_limit_counts_nested_blocks_and_list_items(tg: FakeTelegram,
                                                               bot: Bot) -> None:
    """500 blocks pass, counting each list item and its paragraph; 501 are refused."""
    items = (MAX_BLOCKS - 2) // 2   # the list, its items and their paragraphs: 1 + 2n
    listing = {"type": "list", "items": [{"blocks": [para(f"بند {i}")]} for i in range(items)]}
    await send(bot, [listing, para()])          # 1 + 2*249 + 1 = 500
    assert await refused(bot, tg, [listing, para(), para()]) == \
        "Bad Request: too many blocks in the rich message"
    await send(bot, [para(f"فقرة {i}") for i in range(MAX_BLOCKS)])
    assert await refused(bot, tg, [para(f"فقرة {i}") for i in range(MAX_BLOCKS + 1)]) == \
        "Bad Request: too many blocks in the rich message"


def _nested_quotes(levels: int) -> JSON:
    block: JSON = para()
    for _ in range(levels):
        block = {"type": "blockquote", "blocks": [block]}
    return block


def _nested_bold(levels: int) -> Any:
    text: Any = "غامق"
    for _ in range(levels):
        text = {"type": "bold", "text": text}
    return text


async def test_nesting_limit_counts_blocks_and_formatting(tg: FakeTelegram, bot: Bot) -> None:
    """16 levels of blocks and formatting together pass; 17 are refused."""
    await send(bot, [_nested_quotes(MAX_DEPTH - 1)])         # paragraph at level 16
    assert await refused(bot, tg, [_nested_quotes(MAX_DEPTH)]) == \
        "Bad Request: rich message is nested too deeply"
    await send(bot, [para(_nested_bold(MAX_DEPTH - 1))])     # paragraph 1 + 15 bold
    assert await refused(bot, tg, [para(_nested_bold(MAX_DEPTH))]) == \
        "Bad Request: rich message is nested too deeply"
    assert len(tg.messages) == 2


async def test_media_limit(tg: FakeTelegram, bot: Bot) -> None:
    """50 photos pass; 51 are refused."""
    photo = {"type": "photo", "photo": {"type": "photo", "media": PHOTO}}
    await send(bot, [photo] * MAX_MEDIA)
    assert await refused(bot, tg, [photo] * (MAX_MEDIA + 1)) == \
        "Bad Request: too many media in the rich message"


async def test_eight_buttons_pass(tg: FakeTelegram, bot: Bot) -> None:
    """A button block holds up to eight buttons (nine: see the block rules)."""
    await send(bot, [_buttons(8)])
    assert len(tg.messages) == 1


# --- chats, rights, media, older servers --------------------------------------------------------


async def test_media_right_refused_for_a_chat(tg: FakeTelegram, bot: Bot) -> None:
    """With refuse_media, a rich message with a photo (and sendPhoto) gets Telegram's rights
    error; text-only rich messages still go."""
    tg.refuse_media(CHANNEL)
    photo = {"type": "photo", "photo": {"type": "photo", "media": PHOTO}}
    assert await refused(bot, tg, [para(), photo]) == \
        "Bad Request: not enough rights to send photos to the chat"
    with pytest.raises(BadRequest, match="(?i)not enough rights to send photos"):
        await bot.send_photo(CHANNEL, PHOTO)
    await send(bot, [para()])
    tg.refuse_media(CHANNEL, refused=False)
    await send(bot, [photo])
    assert len(tg.messages) == 2


async def test_photo_telegram_cannot_fetch(tg: FakeTelegram, bot: Bot) -> None:
    """A photo URL Telegram cannot fetch, or a file id it does not know, is refused."""
    tg.unreachable_urls.add(PHOTO)
    photo = {"type": "photo", "photo": {"type": "photo", "media": PHOTO}}
    assert await refused(bot, tg, [photo]) == "Bad Request: failed to get HTTP URL content"
    photo["photo"]["media"] = "AgACAgIAAxkBAAInvalid"
    assert await refused(bot, tg, [photo]) == \
        "Bad Request: wrong file identifier/HTTP URL specified"


async def test_buttons_a_chat_cannot_have(tg: FakeTelegram, bot: Bot) -> None:
    """Web app buttons work only in private chats; elsewhere BUTTON_TYPE_INVALID."""
    blocks = [{"type": "buttons", "buttons": [{"text": "تطبيق",
                                               "web_app": {"url": "https://e.org/app"}}]}]
    assert await refused(bot, tg, blocks) == "Bad Request: BUTTON_TYPE_INVALID"
    await send(bot, blocks, chat=USER)


async def test_shape_is_checked_before_the_chat(tg: FakeTelegram, bot: Bot) -> None:
    """As on the server, a malformed message is refused before the chat is looked up; a valid
    one to a chat the bot was kicked from gets Forbidden."""
    assert await refused(bot, tg, [para("")], chat=-100999) == \
        "Bad Request: text must be non-empty"
    assert await refused(bot, tg, [para()], chat=-100999) == "Bad Request: chat not found"
    tg.set_bot_status(CHANNEL, "kicked")
    with pytest.raises(Forbidden, match="(?i)kicked"):
        await send(bot)


async def test_older_server_does_not_know_rich_messages(tg: FakeTelegram, bot: Bot) -> None:
    """With rich_messages off, sendRichMessage gets the 404 of an unknown method (PTB:
    EndPointNotFound) and editMessageText ignores rich_message and asks for a text."""
    sent = await send(bot)
    tg.rich_messages = False
    with pytest.raises(EndPointNotFound):
        await send(bot)
    async with aiohttp.ClientSession() as http, http.post(
            f"{tg.base_url}{TOKEN}/sendRichMessage",
            json={"chat_id": CHANNEL, "rich_message": {"blocks": [para()]}}) as response:
        assert (response.status, await response.json()) == (
            404, {"ok": False, "error_code": 404, "description": "Not Found"})
    with pytest.raises(BadRequest, match="Message text is empty"):
        await edit(bot, sent["message_id"], {"blocks": [para("جديد")]})
    assert len(tg.messages) == 1 and not tg.edits


# --- editing -------------------------------------------------------------------------------------


async def test_edit_replaces_rich_content(tg: FakeTelegram, bot: Bot) -> None:
    """editMessageText with rich_message replaces the blocks; the same content again is "not
    modified"; the keyboard can be edited alone and the content stays."""
    sent = await send(bot, rich={"is_rtl": True, "blocks": [para("الأولى.")]})
    new = {"is_rtl": True, "blocks": [para("الثانية.")]}
    edited = await edit(bot, sent["message_id"], new)
    assert edited.api_kwargs["rich_message"] == {"is_rtl": True, "blocks": [para("الثانية.")]}
    stored = tg.messages_to(CHANNEL)[0]
    assert (stored.rich, stored.edit_count, tg.edits[-1].rich) == (new, 1, new)
    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await edit(bot, sent["message_id"], new)
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("تعليق", url="https://e.org/c")]])
    await bot.edit_message_reply_markup(CHANNEL, sent["message_id"], reply_markup=markup)
    assert stored.api["rich_message"]["blocks"] == [para("الثانية.")]


async def test_edits_across_kinds_are_refused(tg: FakeTelegram, bot: Bot) -> None:
    """A text message cannot get rich content and a rich message has no text or caption to
    edit (an assumption: the documentation is silent); text and rich_message together are
    refused; an invalid new content is refused like a send."""
    text = await bot.send_message(CHANNEL, "نص عادي")
    with pytest.raises(BadRequest, match="(?i)there is no rich content in the message to edit"):
        await edit(bot, text.message_id, {"blocks": [para()]})
    rich = await send(bot)
    with pytest.raises(BadRequest, match="(?i)there is no text in the message to edit"):
        await bot.edit_message_text("نص", chat_id=CHANNEL, message_id=rich["message_id"])
    with pytest.raises(BadRequest, match="(?i)there is no caption in the message to edit"):
        await bot.edit_message_caption(CHANNEL, rich["message_id"], caption="x")
    with pytest.raises(BadRequest, match="(?i)can't be specified together"):
        await bot.edit_message_text("نص", chat_id=CHANNEL, message_id=rich["message_id"],
                                    api_kwargs={"rich_message": {"blocks": [para()]}})
    with pytest.raises(BadRequest, match="(?i)heading size must be between 1 and 6"):
        await edit(bot, rich["message_id"], {"blocks": [{"type": "heading", "size": 9,
                                                          "text": "x"}]})
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await edit(bot, 999, {"blocks": [para()]})
    assert not tg.edits


async def test_rich_message_json_round_trip_keeps_arabic(tg: FakeTelegram, bot: Bot) -> None:
    """PTB sends rich_message as \\u-escaped JSON in a form field; the fake stores the same text."""
    text = "قال ⁦CNN⁩ إن النسبة 45%\u200f"
    await send(bot, [para(text)])
    raw = tg.calls("sendRichMessage")[0].params["rich_message"]
    assert "\\u" in raw and json.loads(raw)["blocks"][0]["text"] == text
    assert tg.messages[0].rich == {"blocks": [para(text)]}
