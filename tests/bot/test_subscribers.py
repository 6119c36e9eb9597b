"""Subscribers and languages: /start and /help in the user's language, /lang, /subscribe with
buttons, /list, /unsubscribe, a user who blocks the bot is unsubscribed, Arabic replies read
right to left."""
from __future__ import annotations

from bidi import get_base_level

from model.article import feed_id_for
from store import keys
from store.subscriptions import subscribers_of, subscriptions_of
from tests.bot.conftest import (
    EDITOR,
    NEWS_CHAT,
    READER,
    STRANGER,
    button,
    buttons,
    eventually,
    plain,
)

FEED_A = "https://example.org/a.xml"
FEED_B = "https://example.org/b.xml"


def feeds_config() -> list[dict[str, object]]:
    return [{"url": FEED_A, "channels": [NEWS_CHAT]}, {"url": FEED_B, "channels": [NEWS_CHAT]}]


def rtl_lines(text: str | None) -> list[int]:
    """Paragraph level of each non-empty line as a client computes it (1 = right to left)."""
    return [get_base_level(line) for line in (text or "").split("\n") if line.strip()]


async def test_start_in_both_languages(bot):
    """/start welcomes in two lines, in Arabic for ar* users and English otherwise, and in a
    private chat tells the user their numeric id (what owners: and editors: take)."""
    [english] = await bot.say(STRANGER, "/start")
    lines = plain(english.html).split("\n")
    assert lines[0] == "Welcome! I bring the publication's long reads to Telegram."
    assert len(lines) == 4 and lines[2] == ""
    assert lines[3] == (f"Your Telegram user id is {STRANGER} (for owners: or editors: in the "
                        "bot's config).")
    [arabic] = await bot.say(READER, "/start")
    assert plain(arabic.html).startswith("أهلاً بك!")
    [gulf] = await bot.say(STRANGER, "/start", lang="ar-SA")
    assert plain(gulf.html).startswith("أهلاً بك!")
    assert str(STRANGER) in plain(gulf.html) and "owners:" in plain(gulf.html)


async def test_start_in_a_group_does_not_show_the_user_id(bot):
    """In a group, /start answers without the sender's id (it would show it to everyone)."""
    group = -1009000000001
    bot.tg.add_chat(group, type="supergroup")
    [reply] = await bot.say(STRANGER, "/start", chat_id=group)
    assert "Welcome" in plain(reply.html) and str(STRANGER) not in plain(reply.html)


async def test_arabic_replies_read_right_to_left(bot):
    """Every line of an Arabic reply is a right-to-left paragraph, also those that start with a
    command, a number or a Latin name (the text as Telegram stored it)."""
    [help_reply] = await bot.say(READER, "/help")
    assert help_reply.text is not None
    assert set(rtl_lines(help_reply.text)) == {1}
    [editor_help] = await bot.say(EDITOR, "/help", lang="ar")
    assert "/push" in editor_help.text
    assert set(rtl_lines(editor_help.text)) == {1}
    [usage] = await bot.say(EDITOR, "/push", lang="ar")
    assert rtl_lines(usage.text) == [1]
    # The Latin run keeps its own order inside the Arabic sentence.
    assert "\u2066/push URL [CHANNEL]\u2069" in usage.text
    [english] = await bot.say(EDITOR, "/help")
    assert set(rtl_lines(english.text)) == {0}


async def test_lang_switches_language(bot):
    """/lang offers both languages; the choice overrides Telegram's language from then on."""
    [question] = await bot.say(READER, "/lang")
    assert [label for label, _ in buttons(question)] == ["العربية", "English"]
    notice = await bot.press(READER, question, button(question, "English"))
    assert notice["text"] == "Language saved."
    await bot.wait_edit(question, "From now on I reply in this language.")
    [reply] = await bot.say(READER, "/start")
    assert plain(reply.html).startswith("Welcome!")
    [question] = await bot.say(READER, "/lang")
    await bot.press(READER, question, button(question, "العربية"))
    await bot.wait_edit(question, "سأرد عليك بالعربية من الآن.")
    [reply] = await bot.say(READER, "/start")
    assert plain(reply.html).startswith("أهلاً بك!")


async def test_subscribe_list_unsubscribe(start_bot):
    """/subscribe shows the feeds as buttons; a press subscribes this chat; /list shows it;
    /unsubscribe removes it; subscribers_of gives the poller the chats to fan out to."""
    async with start_bot(feeds=feeds_config()) as bot:
        await bot.redis.hset(keys.feed_state(feed_id_for(FEED_A)), "title", "تحليلات")
        [offer] = await bot.say(STRANGER, "/subscribe")
        labels = [label for label, _ in buttons(offer)]
        assert labels == ["تحليلات", FEED_B]
        notice = await bot.press(STRANGER, offer, button(offer, "تحليلات"))
        assert notice["text"] == "Subscribed to تحليلات."
        refreshed = await bot.tg.wait_for(
            lambda: "✓ تحليلات" in [label for label, _ in buttons(bot.current(offer))])
        assert refreshed
        assert await subscribers_of(bot.redis, FEED_A) == [str(STRANGER)]
        assert await subscribers_of(bot.redis, FEED_B) == []

        [listing] = await bot.say(STRANGER, "/list")
        assert plain(listing.html).split("\n") == ["Your subscriptions", "• تحليلات"]

        [offer_out] = await bot.say(STRANGER, "/unsubscribe")
        assert [label for label, _ in buttons(offer_out)] == ["تحليلات"]
        notice = await bot.press(STRANGER, offer_out, button(offer_out, "تحليلات"))
        assert notice["text"] == "Unsubscribed from تحليلات."
        assert await subscribers_of(bot.redis, FEED_A) == []
        [listing] = await bot.say(STRANGER, "/list")
        assert "no subscriptions" in plain(listing.html)
        [nothing] = await bot.say(STRANGER, "/unsubscribe")
        assert "no subscriptions" in plain(nothing.html)


async def test_subscribe_without_feeds(bot):
    """No feeds: a short answer instead of an empty keyboard."""
    [reply] = await bot.say(STRANGER, "/subscribe")
    assert plain(reply.html) == "There is nothing to subscribe to yet."


async def test_blocking_the_bot_unsubscribes(start_bot):
    """A user who blocks the bot (Telegram sends my_chat_member 'kicked') is unsubscribed."""
    async with start_bot(feeds=feeds_config()) as bot:
        [offer] = await bot.say(READER, "/subscribe")
        await bot.press(READER, offer, buttons(offer)[1][1])
        assert await subscribers_of(bot.redis, FEED_B) == [str(READER)]
        bot.tg.inject_update({"my_chat_member": {
            "chat": {"id": READER, "type": "private", "first_name": "قارئ"},
            "from": {"id": READER, "is_bot": False, "first_name": "قارئ"},
            "date": 1_700_000_000,
            "old_chat_member": {"status": "member", "user": {"id": 1, "is_bot": True,
                                                              "first_name": "bot"}},
            "new_chat_member": {"status": "kicked", "until_date": 0,
                                "user": {"id": 1, "is_bot": True, "first_name": "bot"}},
        }})

        async def gone() -> bool:
            return await subscribers_of(bot.redis, FEED_B) == []

        await eventually(gone, what="the blocked user's subscription to be dropped")
        assert await subscriptions_of(bot.redis, str(READER)) == set()


async def test_reply_to_blocked_user_unsubscribes(start_bot):
    """When a reply is refused with 403 (blocked), the chat's subscriptions are dropped."""
    async with start_bot(feeds=feeds_config()) as bot:
        [offer] = await bot.say(STRANGER, "/subscribe")
        await bot.press(STRANGER, offer, buttons(offer)[0][1])
        assert await subscribers_of(bot.redis, FEED_A) == [str(STRANGER)]
        bot.tg.block_bot(STRANGER)
        bot.tg.inject_message(STRANGER, "/list")

        async def gone() -> bool:
            return await subscribers_of(bot.redis, FEED_A) == []

        await eventually(gone, what="subscriptions dropped after a 403")


async def test_subscriber_copies_for_the_poller(redis):
    """The poller's fan-out helper: one copy per subscriber, same post, no topic."""
    from model.delivery import Delivery
    from pipeline.subscribers import subscriber_copies
    from store.subscriptions import subscribe

    post = Delivery(chat=NEWS_CHAT, uid="u1", url="https://example.org/1", html="<b>x</b>",
                    feed_id=feed_id_for(FEED_A), topic=7, language="ar")
    assert await subscriber_copies(redis, FEED_A, [post]) == []
    await subscribe(redis, str(READER), feed_id_for(FEED_A))
    await subscribe(redis, str(STRANGER), feed_id_for(FEED_B))
    [copy] = await subscriber_copies(redis, FEED_A, [None, post])
    assert (copy.chat, copy.topic, copy.html, copy.uid) == (str(READER), None, "<b>x</b>", "u1")
    assert await subscriber_copies(redis, FEED_A, [None]) == []


async def test_subscriber_copies_follow_each_readers_language(redis):
    """A reader who chose another language with /lang gets the post rendered in it (once per
    language, however many readers); the others get the channel's post; a language that does
    not render falls back to the channel's post."""
    from model.delivery import Delivery
    from pipeline.subscribers import subscriber_copies
    from store.subscriptions import subscribe

    post = Delivery(chat=NEWS_CHAT, uid="u1", url="https://example.org/1", html="عربي",
                    feed_id=feed_id_for(FEED_A), language="ar")
    asked: list[str] = []

    def render_in(base: Delivery, language: str) -> Delivery | None:
        asked.append(language)
        return Delivery(chat=NEWS_CHAT, uid="u1", url="https://example.org/1",
                        html=f"in {language}", feed_id=feed_id_for(FEED_A), language=language)

    readers = {READER: "en", STRANGER: None, EDITOR: "en", 424242: "ar"}
    for reader, language in readers.items():
        await subscribe(redis, str(reader), feed_id_for(FEED_A))
        if language:
            await redis.hset(keys.bot_user_lang(), str(reader), language)
    copies = {c.chat: c for c in await subscriber_copies(redis, FEED_A, [post], render_in)}
    assert {chat: c.html for chat, c in copies.items()} == {
        str(READER): "in en", str(EDITOR): "in en", str(STRANGER): "عربي", "424242": "عربي"}
    assert asked == ["en"]
    assert copies[str(READER)].language == "en" and copies[str(STRANGER)].language == "ar"

    unrenderable = {c.chat: c.html for c in await subscriber_copies(
        redis, FEED_A, [post], lambda base, language: None)}
    assert unrenderable[str(READER)] == "عربي"
