"""Feed and channel management: /addfeed (with discovery and the first-run question), /feeds
(paginated, pause buttons), /removefeed, /pause, /resume, /channels (added only after Telegram
confirms the bot may post), /status."""
from __future__ import annotations

import json
from datetime import UTC, datetime

from model.article import feed_id_for
from store import keys
from store.registry import dynamic_feeds, effective_config, registry_version
from tests.bot.conftest import (
    EDITOR,
    NEWS_CHAT,
    OWNER,
    WORLD_CHAT,
    button,
    buttons,
    plain,
)
from tests.fakes.feed_server import FeedItem


def items(count: int) -> list[FeedItem]:
    return [FeedItem(guid=f"g{n}", title=f"مقال رقم {n}", link=f"https://example.org/a/{n}",
                     published=datetime(2025, 9, n + 1, tzinfo=UTC),
                     summary_html="<p>ملخص قصير</p>") for n in range(count, 0, -1)]


async def test_addfeed_direct_feed_with_first_run_choice(bot):
    """A feed URL is fetched and validated; the reply shows its title and newest item and asks
    what to do with existing items; the choice is stored with the feed."""
    bot.pages.add_feed("/feed.xml", title="مدونة التحليل", items=items(3))
    url = bot.pages.url("/feed.xml")
    [question] = await bot.say(EDITOR, f"/addfeed {url} {NEWS_CHAT}")
    text = plain(question.html)
    assert "Feed found: مدونة التحليل" in text
    assert "Newest item: مقال رقم 3" in text
    assert "Items in the feed now: 3" in text
    assert [label for label, _ in buttons(question)] == [
        "Nothing: only new ones", "Post the newest", "Post all 3", "Cancel"]
    assert await dynamic_feeds(bot.redis) == []  # nothing stored before the answer
    version = await registry_version(bot.redis)
    await bot.press(EDITOR, question, button(question, "Post the newest"))
    done = await bot.wait_edit(question, "Following مدونة التحليل")
    assert "the newest item will be posted" in plain(done.html)
    [feed] = await dynamic_feeds(bot.redis)
    assert feed.url == url and feed.first_run == "latest"
    assert [t.chat for t in feed.channels] == [NEWS_CHAT]
    assert await registry_version(bot.redis) > version
    merged = await effective_config(bot.redis, bot.config)
    assert url in [f.url for f in merged.feeds]
    # Adding it again is refused.
    [again] = await bot.say(EDITOR, f"/addfeed {url} {NEWS_CHAT}")
    assert "already followed" in plain(again.html)


async def test_addfeed_discovers_feed_from_page(bot):
    """Given an article page, the feed is found through <link rel="alternate">."""
    bot.pages.add_feed("/blog/rss", title="Long Reads", items=items(2))
    page = bot.pages.url("/blog/article-1")
    bot.pages.set_response("/blog/article-1", headers={"Content-Type": "text/html"}, body=(
        '<html><head><link rel="alternate" type="application/rss+xml" href="/blog/rss">'
        "</head><body><p>text</p></body></html>"))
    [question] = await bot.say(EDITOR, f"/addfeed {page} {WORLD_CHAT}")
    assert "Feed found: Long Reads" in plain(question.html)
    assert bot.pages.url("/blog/rss") in plain(question.html)
    await bot.press(EDITOR, question, button(question, "Nothing"))
    await bot.wait_edit(question, "Following Long Reads")
    [feed] = await dynamic_feeds(bot.redis)
    assert feed.url == bot.pages.url("/blog/rss") and feed.first_run == "none"


async def test_addfeed_discovers_feed_at_common_path(bot):
    """A site's home page without a link: the common paths (/feed, /rss, …) are tried."""
    bot.pages.add_feed("/rss.xml", title="Site Feed", items=items(1))
    bot.pages.set_response("/", headers={"Content-Type": "text/html"},
                           body="<html><body><p>home</p></body></html>")
    [question] = await bot.say(EDITOR, f"/addfeed {bot.pages.url('/')} {NEWS_CHAT}")
    assert "Feed found: Site Feed" in plain(question.html)
    await bot.press(EDITOR, question, button(question, "Cancel"))
    await bot.wait_edit(question, "Not added")
    assert await dynamic_feeds(bot.redis) == []


async def test_addfeed_bad_inputs(bot):
    """No feed anywhere, a private address, an unknown channel, bad usage: short answers."""
    bot.pages.set_response("/nofeed", headers={"Content-Type": "text/html"},
                           body="<html><body>nothing</body></html>")
    [none] = await bot.say(EDITOR, f"/addfeed {bot.pages.url('/nofeed')} {NEWS_CHAT}")
    assert "I found no feed" in plain(none.html)
    [private] = await bot.say(EDITOR, f"/addfeed http://192.168.1.1/feed {NEWS_CHAT}")
    assert "private or local network" in plain(private.html)
    [unknown] = await bot.say(EDITOR, f"/addfeed {bot.pages.url('/x')} @unknown_chan")
    assert "I do not know the channel" in plain(unknown.html)
    [usage] = await bot.say(EDITOR, "/addfeed onlyone")
    assert plain(usage.html) == "Usage: /addfeed URL CHANNEL"
    assert await dynamic_feeds(bot.redis) == []


async def test_feeds_pages_pause_resume_remove(start_bot):
    """/feeds lists declared and added feeds a page at a time; buttons page and pause; /pause
    and /resume take a feed URL; /removefeed removes added feeds only."""
    declared = [{"url": f"https://example.org/feed{n}.xml", "channels": [NEWS_CHAT]}
                for n in range(7)]
    async with start_bot(feeds=declared) as bot:
        [page1] = await bot.say(EDITOR, "/feeds")
        text = plain(page1.html)
        assert "Feeds (1/2)" in text and "feed0.xml" in text and "feed6.xml" not in text
        await bot.press(EDITOR, page1, button(page1, "▶"))
        page2 = await bot.wait_edit(page1, "Feeds (2/2)")
        assert "feed6.xml" in plain(page2.html)
        await bot.press(EDITOR, page2, button(page2, "Pause 7"))
        paused = await bot.wait_edit(page1, "⏸")
        assert [label for label, _ in buttons(paused)][0] == "Resume 7"
        config = await effective_config(bot.redis, bot.config)
        assert [f.paused for f in config.feeds] == [False] * 6 + [True]

        [resumed] = await bot.say(EDITOR, "/resume https://example.org/feed6.xml")
        assert "Feed resumed" in plain(resumed.html)
        [paused_reply] = await bot.say(EDITOR, "/pause https://example.org/feed1.xml")
        assert "Feed paused" in plain(paused_reply.html)
        config = await effective_config(bot.redis, bot.config)
        assert [f.url for f in config.feeds if f.paused] == ["https://example.org/feed1.xml"]

        [refused] = await bot.say(EDITOR, "/removefeed https://example.org/feed1.xml")
        assert "in the config file" in plain(refused.html)
        [unknown] = await bot.say(EDITOR, "/removefeed https://example.org/other.xml")
        assert "not followed" in plain(unknown.html)

        await bot.app.bot_data.registry.add_feed("https://example.org/added.xml", NEWS_CHAT,
                                                 first_run="none", title="Added", user_id=EDITOR)
        [removed] = await bot.say(EDITOR, "/removefeed https://example.org/added.xml")
        assert "Feed removed" in plain(removed.html)
        assert await dynamic_feeds(bot.redis) == []
        actions = [e.action for e in await bot.app.bot_data.audit.latest(10)]
        assert actions[:4] == ["feed.remove", "feed.pause", "feed.resume", "feed.pause"]


async def test_pause_and_resume_channel(bot):
    """A paused channel is marked in the merged config and /push no longer offers it."""
    [reply] = await bot.say(EDITOR, f"/pause {WORLD_CHAT}")
    assert f"Channel {WORLD_CHAT} paused" in plain(reply.html)
    config = await effective_config(bot.redis, bot.config)
    assert {c.chat: c.paused for c in config.channels} == {NEWS_CHAT: False, WORLD_CHAT: True}
    [listing] = await bot.say(EDITOR, "/channels")
    assert f"{WORLD_CHAT} (en): paused" in plain(listing.html)
    [reply] = await bot.say(EDITOR, f"/resume {WORLD_CHAT}")
    assert "resumed" in plain(reply.html)
    [reply] = await bot.say(EDITOR, "/pause @nobody_here")
    assert "I do not know the channel" in plain(reply.html)


async def test_channels_add_checks_rights_with_telegram(bot):
    """A channel is added only when getChat and getChatMember say the bot may post there."""
    tg = bot.tg
    tg.add_chat(-1009, "channel", username="no_rights_chan", can_post=False)
    tg.add_chat(-1010, "channel", username="member_chan", bot_status="member")
    tg.add_chat(-1011, "channel", username="good_chan", title="Good Channel")
    [reply] = await bot.say(EDITOR, "/channels add @missing_chan")
    assert "I cannot see @missing_chan" in plain(reply.html)
    [reply] = await bot.say(EDITOR, "/channels add @no_rights_chan")
    assert "I am not allowed to post in @no_rights_chan" in plain(reply.html)
    [reply] = await bot.say(EDITOR, "/channels add @member_chan")
    assert "I am not allowed to post" in plain(reply.html)
    [reply] = await bot.say(EDITOR, "/channels add not-a-chat")
    assert "@name" in plain(reply.html)
    assert [c.chat for c in (await effective_config(bot.redis, bot.config)).channels] == [
        NEWS_CHAT, WORLD_CHAT]

    [reply] = await bot.say(EDITOR, "/channels add @good_chan de")
    assert "de is not a language channels can have; use one of: ar, en, fa, ur, he" in plain(
        reply.html)
    tg.add_chat(-1012, "channel", username="persian_chan", title="کانال")
    [reply] = await bot.say(EDITOR, "/channels add @persian_chan fa")
    assert "posts in fa" in plain(reply.html)
    [reply] = await bot.say(EDITOR, "/channels remove @persian_chan")
    [reply] = await bot.say(EDITOR, "/channels add @good_chan en")
    assert "Channel added: @good_chan (Good Channel), posts in en" in plain(reply.html)
    assert tg.calls("getChatMember")[-1].status == 200
    config = await effective_config(bot.redis, bot.config)
    assert {c.chat: c.language for c in config.channels}["@good_chan"] == "en"
    [listing] = await bot.say(EDITOR, "/channels")
    assert "@good_chan (en): active, added by command" in plain(listing.html)
    [reply] = await bot.say(EDITOR, f"/channels remove {NEWS_CHAT}")
    assert "in the config file" in plain(reply.html)
    [reply] = await bot.say(EDITOR, "/channels remove @good_chan")
    assert "Channel removed" in plain(reply.html)
    assert len((await effective_config(bot.redis, bot.config)).channels) == 2


async def test_status(bot):
    """/status: queue depth, feed health, posts today, last post time and the last actions."""
    redis = bot.redis
    await bot.app.bot_data.registry.add_feed("https://example.org/a.xml", NEWS_CHAT,
                                             first_run="none", title="Feed A", user_id=EDITOR)
    await bot.app.bot_data.registry.add_feed("https://example.org/b.xml", NEWS_CHAT,
                                             first_run="none", title="Feed B", user_id=EDITOR)
    await redis.hset(keys.feed_state(feed_id_for("https://example.org/a.xml")),
                     mapping={"last_ok": 1, "failures": 0})
    await redis.hset(keys.feed_state(feed_id_for("https://example.org/b.xml")),
                     mapping={"failures": 3, "last_error": "HTTP 503 from the server"})
    await redis.xadd(keys.deliveries(), {"d": "{}"})
    now = datetime.now(UTC).timestamp()
    # As the sender records posts: the capped log of the latest ones, and every post's time.
    # 250 today is more than the log keeps (200): the count must not stop there.
    await redis.lpush(keys.posts_log(), json.dumps({"chat": NEWS_CHAT, "time": now - 5}))
    await redis.lpush(keys.posts_log(), json.dumps({"chat": NEWS_CHAT, "time": now}))
    await redis.zadd(keys.post_times(), {f"today-{i}": now - i / 100 for i in range(250)})
    await redis.zadd(keys.post_times(), {"two-days-ago": now - 2 * 86_400})
    await bot.say(EDITOR, f"/pause {WORLD_CHAT}")
    [status] = await bot.say(OWNER, "/status", lang="en")
    text = plain(status.html)
    # The owner's Telegram language is Arabic by default; lang=en makes this reply English.
    assert "Queue: 1 waiting to be sent" in text
    assert "Feeds: 1 healthy, 1 failing, 0 paused, 0 not polled yet." in text
    assert "Feed B: HTTP 503 from the server" in text
    assert "Posts today: 250." in text
    assert "Last post:" in text
    assert "Last actions" in text and f"channel.pause {WORLD_CHAT}" in text


async def test_added_feed_is_polled_with_the_chosen_first_run(bot):
    """The wiring the poller uses: a Poller built on effective_config() polls the feed added by
    command and posts only the newest existing item, as the editor chose."""
    from feeds.fetcher import Fetcher, FetchLimits, make_session
    from pipeline.poller import Poller
    from store.redis_store import Store

    bot.pages.add_feed("/news.xml", title="أخبار", items=items(3))
    url = bot.pages.url("/news.xml")
    [question] = await bot.say(EDITOR, f"/addfeed {url} {WORLD_CHAT}")
    await bot.press(EDITOR, question, button(question, "Post the newest"))
    await bot.wait_edit(question, "Following")
    merged = await effective_config(bot.redis, bot.config)
    limits = FetchLimits()
    session = make_session(limits)
    try:
        poller = Poller(merged, Store(bot.redis), Fetcher(session, limits))
        [outcome] = await poller.poll_all()
    finally:
        await session.close()
    assert outcome.status == "new" and outcome.queued == 1
    [delivery] = await bot.queued()
    assert delivery.chat == WORLD_CHAT and "مقال رقم 3" in plain(delivery.html)
