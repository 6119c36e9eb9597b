"""Hundreds of feeds with long Arabic titles, long addresses and long errors: every reply the
editors' and subscribers' commands give stays within Telegram's 4,096 characters (counted in
UTF-16, which is never less than Telegram's own count), cut with "…and N more" where a list is
longer, and keyboards stay within 100 buttons, paged."""
from __future__ import annotations

from typing import Any

from model.article import feed_id_for
from sandbox.telegram_html import utf16_length
from store import keys
from store.subscriptions import subscribe
from tests.bot.conftest import EDITOR, NEWS_CHAT, STRANGER, buttons, plain

FEEDS = 300
# A long Arabic title with a supplementary-plane character (two UTF-16 units) in each word.
TITLE = " ".join(["تحليلات𝐀 اقتصادية"] * 40)
ERROR = "خطأ في القراءة: " + "الخادم لا يستجيب " * 30


def feed_url(n: int) -> str:
    return f"https://example.org/{'مسار/' * 40}feed-{n}.xml?page={n}"


def many_feeds() -> list[dict[str, Any]]:
    return [{"url": feed_url(n), "channels": [NEWS_CHAT, "@nashir_world"]} for n in range(FEEDS)]


async def long_state(bot) -> None:
    async with bot.redis.pipeline(transaction=False) as pipe:
        for n in range(FEEDS):
            pipe.hset(keys.feed_state(feed_id_for(feed_url(n))), mapping={
                "title": f"{n} {TITLE}", "failures": 1, "last_error": ERROR,
                "last_poll": 1.0})
        await pipe.execute()


def within_limit(message) -> str:
    text = message.text or ""
    assert utf16_length(text) <= 4096, utf16_length(text)
    assert sum(len(row) for row in (message.reply_markup or {}).get("inline_keyboard", [])) <= 100
    return text


async def test_feeds_status_and_channels_fit_one_message(start_bot):
    """/feeds (in Arabic and English), /status and /channels with 300 long, failing feeds and
    long audit lines: each reply is accepted and within the limit."""
    async with start_bot(feeds=many_feeds()) as bot:
        await long_state(bot)
        for n in range(12):  # audit lines with long details, made by real commands
            await bot.say(EDITOR, f"/pause {feed_url(n)}")
        for lang in ("ar", "en"):
            [feeds] = await bot.say(EDITOR, "/feeds", lang=lang)
            text = within_limit(feeds)
            assert f"1/{FEEDS // 6}" in plain(feeds.html) and text
            assert "▶" in [label for label, _ in buttons(feeds)]
            [status] = await bot.say(EDITOR, "/status", lang=lang)
            within_limit(status)
            [channels] = await bot.say(EDITOR, "/channels", lang=lang)
            within_limit(channels)
        assert "Feeds: 288 healthy" not in plain(status.html)
        assert "0 healthy, 288 failing, 12 paused" in plain(status.html)


async def test_a_list_of_hundreds_is_cut_with_and_n_more(start_bot):
    """/list of 300 subscriptions with long titles: as many as fit, then "…and N more"."""
    async with start_bot(feeds=many_feeds()) as bot:
        await long_state(bot)
        for n in range(FEEDS):
            await subscribe(bot.redis, str(STRANGER), feed_id_for(feed_url(n)))
        [listing] = await bot.say(STRANGER, "/list")
        text = within_limit(listing)
        shown = text.count("•")
        assert 0 < shown < FEEDS
        assert plain(listing.html).endswith(f"…and {FEEDS - shown} more.")


async def test_subscribe_keyboards_are_paged(start_bot):
    """/subscribe with 300 feeds: ten buttons a page and ◀ ▶; a press on page 3 subscribes and
    keeps page 3; /unsubscribe pages the same way."""
    async with start_bot(feeds=many_feeds()) as bot:
        await long_state(bot)
        [offer] = await bot.say(STRANGER, "/subscribe")
        within_limit(offer)
        assert len(buttons(offer)) == 11 and buttons(offer)[-1][0] == "▶"
        for page in (1, 2):
            await bot.press(STRANGER, offer, buttons(bot.current(offer))[-1][1])
            await bot.tg.wait_for(
                lambda page=page: f":{page}" in buttons(bot.current(offer))[0][1], 10)
        current = bot.current(offer)
        assert [label for label, _ in buttons(current)][-2:] == ["◀", "▶"]
        label, data = buttons(current)[0]
        assert label.startswith("20 ") and len(label) <= 60
        notice = await bot.press(STRANGER, current, data)
        assert notice["text"].startswith("Subscribed to 20 ")
        await bot.tg.wait_for(lambda: buttons(bot.current(offer))[0][0].startswith("✓ 20 "), 10)
        assert data.endswith(":2")
        [out] = await bot.say(STRANGER, "/unsubscribe")
        assert [label[:3] for label, _ in buttons(out)] == ["20 "]
