"""OPML through the bot: a file sent by an editor is imported (each feed checked, progress in
one edited message); `/feeds export` sends the feeds back as a file."""
from __future__ import annotations

from bot.opml import parse_opml
from store.registry import dynamic_feeds
from tests.bot.conftest import EDITOR, NEWS_CHAT, STRANGER, plain
from tests.fakes.feed_server import FeedItem


def opml(*urls: str) -> bytes:
    outlines = "".join(f'<outline type="rss" text="f{n}" xmlUrl="{u}"/>'
                       for n, u in enumerate(urls))
    return (f'<?xml version="1.0"?><opml version="2.0"><head><title>x</title></head>'
            f"<body><outline text='group'>{outlines}</outline></body></opml>").encode()


async def test_import_checks_each_feed(bot):
    """Good feeds are added, a broken one is reported, progress is one message edited."""
    bot.pages.add_feed("/one.xml", title="One", items=[FeedItem(guid="1", title="a")])
    bot.pages.add_feed("/two.xml", title="Two", items=[FeedItem(guid="2", title="b")])
    data = opml(bot.pages.url("/one.xml"), bot.pages.url("/two.xml"), bot.pages.url("/gone.xml"),
                "not a url")
    before = len(bot.tg.messages_to(EDITOR))
    bot.tg.inject_document(EDITOR, "feeds.opml", data, "text/x-opml", caption=NEWS_CHAT)
    [progress] = await bot.tg.wait_for(lambda: bot.tg.messages_to(EDITOR)[before:] or None)
    final = await bot.wait_edit(progress, "Import finished")
    text = plain(final.html)
    assert "2 added, 0 already followed, 2 failed" in text
    assert "gone.xml" in text and "not a url" in text
    assert sorted(f.url for f in await dynamic_feeds(bot.redis)) == [
        bot.pages.url("/one.xml"), bot.pages.url("/two.xml")]
    # Imported feeds post only what they publish after the import (as the CLI import).
    assert all(f.first_run == "none" for f in await dynamic_feeds(bot.redis))
    [entry] = await bot.app.bot_data.audit.latest(1)
    assert entry.action == "opml.import"


async def test_import_needs_channel_and_editor(bot):
    """Without a channel caption the editor is told how; a stranger's file is refused."""
    before = len(bot.tg.messages_to(EDITOR))
    bot.tg.inject_document(EDITOR, "feeds.opml", opml("https://example.org/f.xml"))
    [answer] = await bot.tg.wait_for(lambda: bot.tg.messages_to(EDITOR)[before:] or None)
    assert "caption" in plain(answer.html)
    before = len(bot.tg.messages_to(STRANGER))
    bot.tg.inject_document(STRANGER, "feeds.opml", opml("https://example.org/f.xml"),
                           caption=NEWS_CHAT)
    [refusal] = await bot.tg.wait_for(lambda: bot.tg.messages_to(STRANGER)[before:] or None)
    assert plain(refusal.html).startswith("Sorry,")
    before = len(bot.tg.messages_to(EDITOR))
    bot.tg.inject_document(EDITOR, "feeds.opml", b"<html>not opml</html>", caption=NEWS_CHAT)
    [bad] = await bot.tg.wait_for(lambda: bot.tg.messages_to(EDITOR)[before:] or None)
    assert "cannot be used" in plain(bad.html)
    assert await dynamic_feeds(bot.redis) == []


async def test_export(start_bot):
    """/feeds export sends an OPML file listing every feed."""
    feeds = [{"url": "https://example.org/a.xml", "channels": [NEWS_CHAT]}]
    async with start_bot(feeds=feeds) as bot:
        [document] = await bot.say(EDITOR, "/feeds export")
        assert document.method == "sendDocument"
        assert isinstance(document.document, bytes)
        assert parse_opml(document.document) == [("https://example.org/a.xml",
                                                  "https://example.org/a.xml")]
