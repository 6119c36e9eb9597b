"""/push: preview exactly as posted, publish through the shared queue with dedup, publish
anyway, cancel, stale buttons, and the bad inputs."""
from __future__ import annotations

from tests.bot.conftest import (
    EDITOR,
    NEWS_CHAT,
    OWNER,
    STRANGER,
    WORLD_CHAT,
    article_page,
    button,
    buttons,
    plain,
)

TITLE = "اقتصاد الظل في المدن الساحلية"


def serve_article(bot, path: str = "/analysis/shadow-economy", title: str = TITLE) -> str:
    url = bot.pages.url(path)
    bot.pages.set_response(path, body=article_page(url, title),
                           headers={"Content-Type": "text/html; charset=utf-8"})
    return url


async def test_push_preview_publish_dedup_anyway(bot):
    """The preview is the post as the channel will get it; publishing queues it with editors'
    priority; a second push of the same article warns and offers "publish anyway"."""
    url = serve_article(bot)
    [preview] = await bot.say(EDITOR, f"/push {url} {NEWS_CHAT}")
    assert TITLE in plain(preview.html)
    labels = [label for label, _ in buttons(preview)]
    assert labels == [f"Publish to {NEWS_CHAT}", "Cancel"]
    # The preview is exactly what the channel will receive.
    notice = await bot.press(EDITOR, preview, button(preview, "Publish to"))
    assert notice["text"] == "Published."
    edited = await bot.wait_edit(preview, f"Published to {NEWS_CHAT}")
    assert "by @eddie" in plain(edited.html)
    assert buttons(edited) == []
    [queued] = await bot.queued()
    assert queued.chat == NEWS_CHAT and queued.priority == 1 and queued.feed_id == ""
    assert queued.url == url
    assert queued.html in edited.html  # the post below the status line is the queued post

    # Same article again, to the same channel: already posted there.
    [again] = await bot.say(EDITOR, f"/push {url} {NEWS_CHAT}")
    notice = await bot.press(EDITOR, again, button(again, "Publish to"))
    assert notice["text"] == "Already posted there."
    warned = await bot.wait_edit(again, "Already posted in")
    assert NEWS_CHAT in plain(warned.html)
    assert [label for label, _ in buttons(warned)] == ["Publish anyway", "Cancel"]
    assert len(await bot.queued()) == 1  # nothing new was queued

    notice = await bot.press(EDITOR, warned, button(warned, "Publish anyway"))
    assert notice["text"] == "Published."
    await bot.wait_edit(again, "Published again to")
    deliveries = await bot.queued()
    assert len(deliveries) == 2
    assert deliveries[1].chat == NEWS_CHAT and deliveries[1].uid != deliveries[0].uid

    # The audit log has who did what.
    actions = [e.action for e in await bot.app.bot_data.audit.latest(10)]
    assert actions[:5] == ["push.publish_anyway", "push.publish", "push.preview", "push.publish",
                           "push.preview"]


async def test_push_to_all_channels_and_stale_buttons(bot):
    """Without a channel the preview offers every channel and "all"; after publishing, the old
    buttons answer politely and do nothing."""
    url = serve_article(bot)
    [preview] = await bot.say(EDITOR, f"/push {url}")
    labels = [label for label, _ in buttons(preview)]
    assert labels == [f"Publish to {NEWS_CHAT}", f"Publish to {WORLD_CHAT}", "Publish to all",
                      "Cancel"]
    publish_one = button(preview, WORLD_CHAT)
    await bot.press(EDITOR, preview, button(preview, "Publish to all"))
    await bot.wait_edit(preview, "Published to")
    assert sorted(d.chat for d in await bot.queued()) == [NEWS_CHAT, WORLD_CHAT]
    # The channels get their own rendering (language of each channel).
    by_chat = {d.chat: d for d in await bot.queued()}
    assert by_chat[NEWS_CHAT].language == "ar" and by_chat[WORLD_CHAT].language == "en"

    notice = await bot.press(OWNER, preview, publish_one)
    assert "already published" in notice["text"] or "من قبل" in notice["text"]
    assert len(await bot.queued()) == 2

    # A button whose preview expired from Redis.
    await bot.redis.flushdb()
    [other] = await bot.say(EDITOR, "/help")
    notice = await bot.press(EDITOR, preview, "p:0123456789:a")
    assert notice["text"] == "This preview has expired. Send /push again."
    # Forged callback data never becomes a Redis key.
    notice = await bot.press(EDITOR, preview, "p:*}:x:{*:a")
    assert notice["text"] == "This button no longer works."
    assert await bot.redis.keys("*}:x:{*") == []
    assert other is not None


async def test_push_cancel(bot):
    """Cancel edits the preview to say who cancelled, and nothing is queued."""
    url = serve_article(bot)
    [preview] = await bot.say(EDITOR, f"/push {url} {WORLD_CHAT}")
    publish = button(preview, "Publish to")
    notice = await bot.press(EDITOR, preview, button(preview, "Cancel"))
    assert notice["text"] == "Cancelled."
    edited = await bot.wait_edit(preview, "Cancelled by @eddie")
    assert buttons(edited) == []
    assert await bot.queued() == []
    # Publishing after cancelling is refused.
    notice = await bot.press(EDITOR, preview, publish)
    assert notice["text"] == "This preview was cancelled."
    assert await bot.queued() == []


async def test_push_bad_inputs(bot):
    """Malformed URL, private address, not an article, unknown channel: a clear short answer
    each, and nothing queued."""
    [usage] = await bot.say(EDITOR, "/push")
    assert plain(usage.html) == "Usage: /push URL [CHANNEL]"
    [bad] = await bot.say(EDITOR, "/push ftp://example.org/file")
    assert "must start with http:// or https://" in plain(bad.html)
    [bad] = await bot.say(EDITOR, "/push http://")
    assert "must start with http:// or https://" in plain(bad.html)
    [private] = await bot.say(EDITOR, "/push http://10.1.2.3/secret")
    assert "private or local network" in plain(private.html)
    [private] = await bot.say(EDITOR, "/push http://169.254.169.254/latest/meta-data/")
    assert "private or local network" in plain(private.html)
    bot.pages.set_response("/empty", body="<html><body><nav>home</nav></body></html>",
                           headers={"Content-Type": "text/html"})
    [nothing] = await bot.say(EDITOR, f"/push {bot.pages.url('/empty')}")
    assert plain(nothing.html) == "I found no article on that page."
    bot.pages.set_response("/image.png", body=b"\x89PNG\r\n\x1a\n" + b"0" * 100,
                           headers={"Content-Type": "image/png"})
    [image] = await bot.say(EDITOR, f"/push {bot.pages.url('/image.png')}")
    assert "not a web page" in plain(image.html)
    [missing] = await bot.say(EDITOR, f"/push {bot.pages.url('/nope')}")
    assert "not found" in plain(missing.html)
    url = serve_article(bot)
    [unknown] = await bot.say(EDITOR, f"/push {url} @no_such_channel")
    assert "I do not know the channel @no_such_channel" in plain(unknown.html)
    assert await bot.queued() == []


async def test_push_refuses_private_addresses_without_allow_networks(start_bot):
    """With allow_networks empty, even the local page server is refused."""
    async with start_bot(allow_networks=[]) as bot:
        url = serve_article(bot)
        [reply] = await bot.say(EDITOR, f"/push {url}")
        assert "private or local network" in plain(reply.html)
        assert bot.pages.hits("/analysis/shadow-economy") == 0


async def test_push_refused_to_non_editor(bot):
    """A stranger's /push gets a polite refusal; the page is never fetched."""
    url = serve_article(bot)
    [reply] = await bot.say(STRANGER, f"/push {url}")
    assert "for the publication's editors" in plain(reply.html)
    assert bot.pages.hits("/analysis/shadow-economy") == 0
    assert await bot.queued() == []


async def test_push_buttons_refused_to_non_editor(bot):
    """A stranger pressing a preview's button (e.g. in a shared group) changes nothing."""
    url = serve_article(bot)
    [preview] = await bot.say(EDITOR, f"/push {url} {NEWS_CHAT}")
    notice = await bot.press(STRANGER, preview, button(preview, "Publish to"))
    assert "for the publication's editors" in notice["text"]
    assert notice.get("show_alert") in (True, "true", "True")
    assert await bot.queued() == []


async def test_published_post_reaches_the_channel_as_previewed(bot):
    """Through the real sender, the channel receives exactly the previewed post."""
    from delivery.queue import DeliveryQueue
    from delivery.sender import Sender
    from delivery.telegram_transport import TelegramTransport

    url = serve_article(bot)
    [preview] = await bot.say(EDITOR, f"/push {url} {NEWS_CHAT}")
    previewed = preview.html
    await bot.press(EDITOR, preview, button(preview, "Publish to"))
    await bot.wait_edit(preview, "Published to")
    sender = Sender(DeliveryQueue(bot.redis, "test-sender"), TelegramTransport(bot.app.bot))
    assert await sender.drain(timeout=15) == 0
    [posted] = bot.tg.messages_to(NEWS_CHAT)
    assert posted.html == previewed
    assert posted.link_preview_options == preview.link_preview_options


async def test_push_to_a_rich_channel_shows_the_summary_with_a_rich_note(start_bot):
    """A rich channel's preview: the summary the editor can read on every client, a line
    saying the channel gets the whole piece as a rich message; publishing queues the rich
    message (from the page the preview read) with the summary as its fallback."""
    async with start_bot(channels=[{"chat": NEWS_CHAT, "language": "ar", "format": "rich"}]
                         ) as bot:
        url = serve_article(bot)
        [preview] = await bot.say(EDITOR, f"/push {url} {NEWS_CHAT}")
        text = plain(preview.html)
        assert TITLE in text and "the whole piece as a rich message" in text
        await bot.press(EDITOR, preview, button(preview, "Publish to"))
        await bot.wait_edit(preview, f"Published to {NEWS_CHAT}")
        [queued] = await bot.queued()
        assert queued.rich and TITLE in queued.rich
        assert plain(queued.html) in text   # the summary shown is the fallback queued
