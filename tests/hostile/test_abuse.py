"""Every editor's and owner's command, tried by those who may not use it: a stranger, a
subscriber, a member of a group the bot is in, and as a post in a channel; and buttons pressed
by the wrong people, pressed again when old, or with tampered data. Each is refused politely
and nothing changes: Redis (registry, roles, pending questions, cards, the delivery queue) is
the same before and after, and nothing was fetched."""
from __future__ import annotations

from typing import Any

import pytest
from telegram.ext import CommandHandler

from model.article import feed_id_for
from store import keys
from store.subscriptions import subscribe
from tests.bot.conftest import (
    EDITOR,
    NEWS,
    NEWS_CHAT,
    OWNER,
    READER,
    REVIEW,
    STRANGER,
    WORLD_CHAT,
    article_page,
    base_config,
    button,
    buttons,
    eventually,
    plain,
)
from tests.hostile.conftest import redis_state

GROUP = -1009000002
MEMBER = 6001
FEED = "https://example.org/declared.xml"
ARTICLE = "https://example.org/analysis/1"

EDITOR_COMMANDS = [
    "/push {page}", "/push {page} @nashir_news", "/feeds", "/feeds export",
    "/addfeed {feed} @nashir_news", f"/removefeed {FEED}", f"/pause {FEED}",
    f"/pause {NEWS_CHAT}", f"/resume {FEED}", f"/resume {NEWS_CHAT}", "/channels",
    "/channels add @another_channel", f"/channels remove {WORLD_CHAT}", "/status",
]
OWNER_COMMANDS = ["/editors", "/addeditor {me}", f"/addeditor {STRANGER}",
                  f"/removeeditor {EDITOR}", "/removeeditor 7777"]
EDITORS_REFUSAL = "Sorry, this is for the publication's editors. Send /help to see what you can do."
OWNERS_REFUSAL = "Sorry, only the bot's owners can do this."
CHANNEL_ANSWER = "لا أتلقى الأوامر في القنوات."


def config() -> dict[str, Any]:
    return base_config(review_chat=REVIEW, feeds=[
        {"url": FEED, "channels": [NEWS_CHAT]},
        {"url": "https://example.org/review.xml", "channels": [NEWS_CHAT], "mode": "review"}])


def has_command(bot, name: str) -> bool:
    return any(isinstance(h, CommandHandler) and name in h.commands
               for group in bot.app.handlers.values() for h in group)


def commands_for(bot, actor: int) -> list[tuple[str, str]]:
    """(command, the refusal it must get) for every editor's and owner's command."""
    page = bot.pages.url("/article")
    bot.pages.set_response("/article", body=article_page(page),
                           headers={"Content-Type": "text/html; charset=utf-8"})
    feed = bot.pages.url("/feed.xml")
    bot.pages.add_feed("/feed.xml", title="x")
    found = [(c.format(page=page, feed=feed), EDITORS_REFUSAL) for c in EDITOR_COMMANDS]
    found += [(c.format(me=actor), OWNERS_REFUSAL) for c in OWNER_COMMANDS]
    return found


async def prepare(bot) -> None:
    """A subscriber, a group with a plain member, and an open question of each kind."""
    await subscribe(bot.redis, str(READER), feed_id_for(FEED))
    bot.tg.add_chat(GROUP, "supergroup", title="Readers", bot_status="member")
    bot.tg.set_member(GROUP, MEMBER, "member")


async def unchanged_after(bot, attempt) -> None:
    before = await redis_state(bot.redis)
    fetched = len(bot.pages.requests)
    await attempt()
    assert await redis_state(bot.redis) == before
    assert len(bot.pages.requests) == fetched, "a refused command made the bot fetch"


@pytest.mark.parametrize("who", ["stranger", "subscriber", "editor for owner commands"])
async def test_commands_in_private_are_refused(start_bot, who: str):
    """In a private chat, a stranger, a subscriber (and an editor, for the owners' commands)
    gets the polite refusal for each command and nothing changes."""
    actor = {"stranger": STRANGER, "subscriber": READER, "editor for owner commands": EDITOR}[who]
    async with start_bot(**config()) as bot:
        await prepare(bot)
        attempts = commands_for(bot, actor)
        assert len(attempts) >= 18
        if actor == EDITOR:
            attempts = [(c, r) for c, r in attempts if r == OWNERS_REFUSAL]

        async def attempt() -> None:
            for command, refusal in attempts:
                [reply] = await bot.say(actor, command, lang="en")
                assert plain(reply.html) == refusal, command
                assert buttons(reply) == [] and reply.method == "sendMessage", command

        await unchanged_after(bot, attempt)


async def test_why_is_refused_to_others(start_bot):
    """/why (an editor's command) by a stranger, a subscriber, a group member and in a channel:
    refused, nothing changes. Skipped while the bot has no /why."""
    async with start_bot(**config()) as bot:
        if not has_command(bot, "why"):
            pytest.skip("/why is not a command of the bot yet")
        await prepare(bot)
        command = f"/why {ARTICLE}"

        async def attempt() -> None:
            for actor, chat in ((STRANGER, None), (READER, None), (MEMBER, GROUP)):
                [reply] = await bot.say(actor, command, chat_id=chat, lang="en")
                assert plain(reply.html) == EDITORS_REFUSAL
            count = len(bot.tg.messages_to(NEWS))
            bot.tg.inject_channel_post(NEWS, command)
            [answer] = await bot.tg.wait_for(lambda: bot.tg.messages_to(NEWS)[count:] or None)
            assert plain(answer.html).startswith(CHANNEL_ANSWER)

        await unchanged_after(bot, attempt)


async def test_commands_in_a_group_are_refused(start_bot):
    """A group member writing each command in the group gets the refusal there; nothing
    changes; an OPML file sent to the group is ignored."""
    async with start_bot(**config()) as bot:
        await prepare(bot)
        attempts = commands_for(bot, MEMBER)

        async def attempt() -> None:
            for command, refusal in attempts:
                [reply] = await bot.say(MEMBER, command, chat_id=GROUP, lang="en")
                assert plain(reply.html) == refusal, command
            data = b'<opml version="2.0"><body><outline xmlUrl="https://e.org/x"/></body></opml>'
            bot.tg.inject_document(MEMBER, "feeds.opml", data, caption=NEWS_CHAT,
                                   chat_id=GROUP)
            [marker] = await bot.say(MEMBER, "/status", chat_id=GROUP, lang="en")
            assert plain(marker.html) == EDITORS_REFUSAL  # the file before it got no answer

        await unchanged_after(bot, attempt)


async def test_commands_posted_in_a_channel_are_not_run(start_bot):
    """Each command posted in a channel gets the one polite answer and nothing changes."""
    async with start_bot(**config()) as bot:
        await prepare(bot)
        attempts = commands_for(bot, 0)

        async def attempt() -> None:
            for command, _ in attempts:
                count = len(bot.tg.messages_to(NEWS))
                bot.tg.inject_channel_post(NEWS, command)
                [answer] = await bot.tg.wait_for(
                    lambda seen=count: bot.tg.messages_to(NEWS)[seen:] or None, 10, command)
                assert plain(answer.html).startswith(CHANNEL_ANSWER), command

        await unchanged_after(bot, attempt)


async def test_opml_files_from_others_are_refused(start_bot):
    """An OPML file sent privately by a stranger or a subscriber: refused, nothing added."""
    async with start_bot(**config()) as bot:
        await prepare(bot)
        data = opml_of(bot.pages.url("/feed.xml"))
        bot.pages.add_feed("/feed.xml", title="x")

        async def attempt() -> None:
            for actor in (STRANGER, READER):
                before = len(bot.tg.messages_to(actor))
                bot.tg.inject_document(actor, "feeds.opml", data, caption=NEWS_CHAT,
                                       language_code="en")
                [refusal] = await bot.tg.wait_for(
                    lambda a=actor, b=before: bot.tg.messages_to(a)[b:] or None)
                assert plain(refusal.html) == EDITORS_REFUSAL

        await unchanged_after(bot, attempt)


def opml_of(url: str) -> bytes:
    return (f'<?xml version="1.0"?><opml version="2.0"><head/><body>'
            f'<outline type="rss" text="x" xmlUrl="{url}"/></body></opml>').encode()


async def test_buttons_pressed_by_others_forged_replayed_or_tampered(start_bot):
    """An editor's push preview, /feeds page and /addfeed question, and a review card: pressed
    by a stranger or a group member (with the real data or forged), replayed after they were
    decided or expired, or with tampered data. Each press is answered and nothing changes."""
    from config.schema import parse_config
    from store.review_inbox import submit_for_review
    from tests.bot.test_review import make_article

    async with start_bot(**config()) as bot:
        await prepare(bot)
        bot.tg.set_member(REVIEW, MEMBER, "member")
        page = bot.pages.url("/article")
        bot.pages.set_response("/article", body=article_page(page),
                               headers={"Content-Type": "text/html; charset=utf-8"})
        bot.pages.add_feed("/feed.xml", title="x")
        [preview] = await bot.say(EDITOR, f"/push {page} {NEWS_CHAT}", lang="en")
        [listing] = await bot.say(EDITOR, "/feeds", lang="en")
        [question] = await bot.say(EDITOR, f"/addfeed {bot.pages.url('/feed.xml')} {NEWS_CHAT}",
                                   lang="en")
        review = parse_config(config()).feeds[1]
        before_cards = len(bot.tg.messages_to(REVIEW))
        card_id = await submit_for_review(bot.redis, review, feed_id_for(review.url),
                                          make_article(1))
        [card] = await bot.tg.wait_for(lambda: bot.tg.messages_to(REVIEW)[before_cards:] or None)

        async def card_settled() -> bool:  # the desk has finished with the new card
            return not await bot.redis.zcard(keys.bot_review_inbox()) and (
                await bot.redis.hget(keys.bot_review(card_id), "state") == "open")

        await eventually(card_settled, 10, "the review desk to file the card")
        publish = button(preview, "Publish to")
        token = publish.split(":")[1]
        pause = buttons(listing)[0][1]
        add_all = button(question, "Post all")
        add_cancel = button(question, "Cancel")
        card_publish = f"r:{card_id}:p"

        async def refused(who: int, message, data: str, expected: str) -> None:
            notice = await bot.press(who, message, data, lang="en")
            assert notice.get("text") == expected, (who, data, notice)

        async def by_others() -> None:
            for who in (STRANGER, READER, MEMBER):
                for message, data in ((preview, publish), (preview, f"p:{token}:c"),
                                      (listing, pause), (listing, "f:1"),
                                      (question, add_all), (card, card_publish),
                                      (card, f"r:{card_id}:x"), (card, f"r:{card_id}:s:60")):
                    await refused(who, message, data, EDITORS_REFUSAL)
            # A reply to the card is talk (only the edit prompt's reply is an excerpt): it
            # changes nothing (checked below) and the bot says nothing in the group.
            before = len(bot.tg.messages_to(REVIEW))
            bot.tg.inject_message(MEMBER, "مقتطف مزوّر", chat_id=REVIEW, language_code="en",
                                  reply_to_message_id=card.message_id)
            await refused(MEMBER, card, card_publish, EDITORS_REFUSAL)
            assert len(bot.tg.messages_to(REVIEW)) == before

        await unchanged_after(bot, by_others)

        async def tampered() -> None:
            for message, data, expected in (
                    (preview, f"p:{token}:t:9", "This button no longer works."),
                    (preview, f"p:{token}:zz", "This button no longer works."),
                    (preview, f"p:{card_id}:a", "This preview has expired. Send /push again."),
                    (preview, "p:../../x:a", "This button no longer works."),
                    (card, f"r:{token}:p", "This card has expired."),
                    (card, f"r:{card_id}:s:-5", "This button no longer works."),
                    (listing, "f:0:0123456789abcdef:p", "That feed is no longer followed."),
                    (listing, "f:x", "This button no longer works."),
                    (question, f"a:{token}:all",
                     "This question has expired. Send /addfeed again."),
                    (question, "a:zz:all", "This button no longer works."),
                    (preview, "s:+:0123456789abcdef", "That feed is no longer available."),
                    (preview, "lang:xx", "?"),
                    (preview, "nonsense", "This button no longer works.")):
                await refused(EDITOR, message, data, expected)

        await unchanged_after(bot, tampered)
        # Presses with another question's token did not take this question's buttons away.
        assert len(buttons(bot.current(question))) == 4
        assert len(buttons(bot.current(preview))) == 2

        # Decided, then replayed by the editor who decided and by another.
        assert (await bot.press(EDITOR, card, card_publish))["text"] == "Published."
        assert (await bot.press(EDITOR, preview, f"p:{token}:c"))["text"] == "Cancelled."
        assert (await bot.press(EDITOR, question, add_cancel))["text"] == "Cancelled."

        async def replayed() -> None:
            for who in (EDITOR, OWNER):
                await refused(who, card, card_publish, "Already published by @eddie.")
                await refused(who, card, f"r:{card_id}:x", "Already published by @eddie.")
                await refused(who, preview, publish, "This preview was cancelled.")
                await refused(who, question, add_all, "This was already answered.")

        await unchanged_after(bot, replayed)
        await bot.redis.delete(*[k async for k in bot.redis.scan_iter("*pending*")])

        async def expired() -> None:
            await refused(EDITOR, preview, publish, "This preview has expired. Send /push again.")
            await refused(EDITOR, question, add_all,
                          "This question has expired. Send /addfeed again.")

        await unchanged_after(bot, expired)
