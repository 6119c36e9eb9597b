"""A feed's title is the feed's to choose, so it may try to spoof: bidi overrides, isolates,
zero-width and control characters never reach the buttons and replies that show it."""
from __future__ import annotations

import re

from model.article import feed_id_for
from store import keys
from tests.bot.conftest import EDITOR, NEWS_CHAT, STRANGER, button, buttons, plain

# Every character that can reorder or hide text (formatters.text drops them from posts).
SPOOFING = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b\u2060-\u2064"
                      "\ufeff\u00ad\x00-\x08\x0b-\x1f\x7f-\x9f]")
SPOOFED = "\u202egnp.exe\u202c \u2067تحليلات\u2069\u200b\x07 الأسبوع\u200f"


async def test_a_spoofing_feed_title_is_cleaned_in_buttons_and_replies(bot):
    """A feed added from a server whose title carries overrides, isolates, zero-width and bell
    characters: /subscribe's button, the press notice and /list show it without them."""
    bot.pages.add_feed("/spoof.xml", title=SPOOFED)
    url = bot.pages.url("/spoof.xml")
    [question] = await bot.say(EDITOR, f"/addfeed {url} {NEWS_CHAT}", lang="en")
    await bot.press(EDITOR, question, button(question, "Nothing"))
    await bot.wait_edit(question, "Following")
    # The poller keeps the title it reads in the feed's state: the raw one, as a feed sent it.
    await bot.redis.hset(keys.feed_state(feed_id_for(url)), "title", SPOOFED)

    [offer] = await bot.say(STRANGER, "/subscribe")
    [(label, data)] = buttons(offer)
    assert SPOOFING.search(label) is None, ascii(label)
    assert label == "gnp.exe تحليلات الأسبوع"
    notice = await bot.press(STRANGER, offer, data)
    assert SPOOFING.search(notice["text"]) is None, ascii(notice["text"])
    [listing] = await bot.say(STRANGER, "/list")
    shown = plain(listing.html)  # plain() drops our own marks; none of the feed's may remain
    assert SPOOFING.search(shown) is None and "gnp.exe تحليلات الأسبوع" in shown
    [feeds] = await bot.say(EDITOR, "/feeds", lang="en")
    assert "\u202e" not in (feeds.text or "") and "\u200b" not in (feeds.text or "")


async def test_a_title_of_controls_only_falls_back_to_the_address(start_bot):
    """A title made only of invisible characters would be an empty button, which Telegram
    refuses: the feed's address is shown instead."""
    feed = "https://example.org/empty.xml"
    async with start_bot(feeds=[{"url": feed, "channels": [NEWS_CHAT]}]) as bot:
        await bot.redis.hset(keys.feed_state(feed_id_for(feed)), "title",
                             "\u202e\u200b\u2066\u2069\u200f ")
        [offer] = await bot.say(STRANGER, "/subscribe")
        assert [label for label, _ in buttons(offer)] == [feed]
