"""Who may subscribe a group: only its administrators (asked of Telegram), whether by command
or by pressing the buttons; commands posted in a channel are answered, never carried out."""
from __future__ import annotations

from model.article import feed_id_for
from store.subscriptions import subscriptions_of
from tests.bot.conftest import NEWS, NEWS_CHAT, buttons, plain
from tests.hostile.conftest import redis_state

GROUP = -1009000001
ADMIN, MEMBER = 5001, 5002
FEED = "https://example.org/a.xml"
FEEDS = [{"url": FEED, "channels": [NEWS_CHAT]}]
REFUSAL = "Only this group's administrators can change its subscriptions."


def group(tg) -> None:
    tg.add_chat(GROUP, "supergroup", title="Readers", bot_status="member")
    tg.set_member(GROUP, ADMIN, "administrator")
    tg.set_member(GROUP, MEMBER, "member")


async def test_a_member_cannot_subscribe_the_group(start_bot):
    """A plain member's /subscribe and /unsubscribe in a group are refused politely, without
    a keyboard, and no subscription changes; Telegram was asked who they are."""
    async with start_bot(feeds=FEEDS) as bot:
        group(bot.tg)
        before = await redis_state(bot.redis)
        [reply] = await bot.say(MEMBER, "/subscribe", chat_id=GROUP)
        assert plain(reply.html) == REFUSAL and buttons(reply) == []
        [reply] = await bot.say(MEMBER, "/unsubscribe", chat_id=GROUP)
        assert plain(reply.html) == REFUSAL
        assert any(str(MEMBER) == str(call.params.get("user_id"))
                   for call in bot.tg.calls("getChatMember"))
        assert await redis_state(bot.redis) == before


async def test_an_administrator_subscribes_and_a_member_cannot_press(start_bot):
    """An administrator gets the keyboard and subscribes the group; a member pressing the same
    button (or a forged one) is told no and nothing changes; /list stays open to all."""
    async with start_bot(feeds=FEEDS) as bot:
        group(bot.tg)
        [offer] = await bot.say(ADMIN, "/subscribe", chat_id=GROUP)
        [(_, data)] = buttons(offer)
        before = await redis_state(bot.redis)
        for forged in (data, f"s:+:{feed_id_for(FEED)}", "s:n:0"):
            notice = await bot.press(MEMBER, offer, forged)
            assert notice["text"] == REFUSAL and notice.get("show_alert") in (True, "true")
        assert await redis_state(bot.redis) == before
        notice = await bot.press(ADMIN, offer, data)
        assert notice["text"].startswith("Subscribed to")
        assert await subscriptions_of(bot.redis, str(GROUP)) == {feed_id_for(FEED)}
        [listing] = await bot.say(MEMBER, "/list", chat_id=GROUP)
        assert FEED in plain(listing.html)
        [reply] = await bot.say(MEMBER, "/unsubscribe", chat_id=GROUP)
        assert plain(reply.html) == REFUSAL
        assert await subscriptions_of(bot.redis, str(GROUP)) == {feed_id_for(FEED)}


async def test_anonymous_administrator_and_channel_identity(start_bot):
    """An anonymous administrator (writing as the group itself) may subscribe it; a member
    writing as a channel may not."""
    async with start_bot(feeds=FEEDS) as bot:
        group(bot.tg)
        anonymous = {"id": 1087968824, "is_bot": True, "first_name": "Group",
                     "username": "GroupAnonymousBot"}
        as_group = bot.tg.chat(GROUP).to_api()
        [offer] = await bot.say(ADMIN, "/subscribe", chat_id=GROUP, sender_chat=as_group,
                                **{"from": anonymous})
        assert buttons(offer)
        as_channel = bot.tg.chat(NEWS).to_api()
        [reply] = await bot.say(MEMBER, "/subscribe", chat_id=GROUP, sender_chat=as_channel)
        assert plain(reply.html) == REFUSAL


async def test_a_command_posted_in_a_channel_is_answered_not_run(start_bot):
    """/subscribe (or an editor's command) posted in a channel: the bot says, in the channel's
    language, that it takes no commands there; nothing changes; other posts get no answer."""
    async with start_bot(feeds=FEEDS) as bot:
        before = await redis_state(bot.redis)
        count = len(bot.tg.messages_to(NEWS))
        for text in ("/subscribe", "/addeditor 3000", f"/push {FEED}",
                     f"/subscribe@{bot.tg.bot_username}"):
            bot.tg.inject_channel_post(NEWS, text)
            replies = await bot.tg.wait_for(
                lambda seen=count: bot.tg.messages_to(NEWS)[seen:] or None, 10, "the answer")
            assert len(replies) == 1
            assert plain(replies[0].html).startswith("لا أتلقى الأوامر في القنوات.")
            count += 1
        bot.tg.inject_channel_post(NEWS, "/usr/bin is a path, not a command")
        bot.tg.inject_channel_post(NEWS, "/subscribe@another_bot")
        bot.tg.inject_channel_post(NEWS, "/start")  # answered: the two before were read, unanswered
        await bot.tg.wait_for(lambda: len(bot.tg.messages_to(NEWS)) == count + 1, 10)
        assert len(bot.tg.messages_to(NEWS)) == count + 1
        assert await redis_state(bot.redis) == before
        assert await bot.app.bot_data.roles.added_editors() == []
