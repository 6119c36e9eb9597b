"""/push decisions are one step: Redis refusing writes at the press leaves the preview open with
nothing queued (never "already published" with nothing sent); the chat's fate is recorded with
the queueing; two presses at once publish once and the loser is told."""
from __future__ import annotations

import asyncio

from store import keys
from tests.bot.conftest import EDITOR, NEWS_CHAT, OWNER, button, plain
from tests.bot.test_push import serve_article
from tests.bot.test_review_decisions import press_refused, writes_refused


async def test_push_press_while_redis_refuses_writes_changes_nothing(bot):
    """The press meets a Redis that refuses writes: told something went wrong, the preview is
    still open and nothing is queued; pressed again later, it publishes once."""
    url = serve_article(bot)
    [preview] = await bot.say(EDITOR, f"/push {url} {NEWS_CHAT}")
    publish = button(preview, "Publish to")
    token = publish.split(":")[1]
    async with writes_refused(bot.redis):
        await press_refused(bot, EDITOR, preview, publish)
        assert await bot.redis.hget(keys.bot_pending(token), "state") == "open"
        assert await bot.queued() == []
    notice = await bot.press(EDITOR, preview, publish)
    assert notice["text"] == "Published."
    await bot.wait_edit(preview, f"Published to {NEWS_CHAT}")
    assert [d.chat for d in await bot.queued()] == [NEWS_CHAT]
    [answer] = await bot.say(EDITOR, f"/why {url}", lang="en")
    assert f"{NEWS_CHAT}: queued at" in plain(answer.html)


async def test_two_presses_on_a_push_publish_once(bot):
    """Two editors publish the same preview at once: one post queued, the other press told."""
    url = serve_article(bot)
    [preview] = await bot.say(EDITOR, f"/push {url} {NEWS_CHAT}")
    publish = button(preview, "Publish to")
    answers = await asyncio.gather(bot.press(EDITOR, preview, publish),
                                   bot.press(OWNER, preview, publish, lang="en"))
    texts = sorted(a["text"] for a in answers)
    assert texts == ["Published.", "This preview was already published."]
    assert [d.chat for d in await bot.queued()] == [NEWS_CHAT]
