"""Review mode: pieces of `mode: review` feeds become cards in the editors' group; publish now,
schedule (kept in Redis across restarts), edit the excerpt, reject; two presses at once: one
wins and the other is told; every decision is audited and the card shows who decided."""
from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime

from config.schema import parse_config
from model.article import Article, feed_id_for
from store import keys
from store.review_inbox import submit_for_review
from tests.bot.conftest import (
    EDITOR,
    NEWS_CHAT,
    OWNER,
    REVIEW,
    STRANGER,
    base_config,
    button,
    buttons,
    eventually,
    plain,
)

FEED = "https://example.org/review.xml"


def review_config() -> dict[str, object]:
    return base_config(review_chat=REVIEW, feeds=[
        {"url": FEED, "channels": [NEWS_CHAT, {"chat": "@nashir_world", "topic": None}],
         "mode": "review"}])


def make_article(n: int = 1) -> Article:
    url = f"https://example.org/analysis/{n}"
    uid = hashlib.sha256(f"link:{url}".encode()).hexdigest()
    return Article(
        uid=uid, feed_url=FEED, url=url, title=f"قراءة في موازنة العام المقبل {n}",
        published_at=datetime(2025, 9, 18, 8, tzinfo=UTC),
        content_html="<p>تتناول هذه القراءة بنود الموازنة الجديدة وأثرها على الأسعار والأجور "
                     "والخدمات العامة خلال العام المقبل.</p>",
        identity_keys=(uid,), source_name="تحليلات")


async def submit(bot, n: int = 1):
    """Hand a piece over as the poller does, and wait for its card in the review group."""
    config = parse_config(review_config())
    before = len(bot.tg.messages_to(REVIEW))
    card_id = await submit_for_review(bot.redis, config.feeds[0], feed_id_for(FEED),
                                      make_article(n))
    messages = await bot.tg.wait_for(
        lambda: bot.tg.messages_to(REVIEW)[before:] or None, 10, "the review card")

    async def opened() -> bool:
        return await bot.redis.hget(keys.bot_review(card_id), "state") == "open"

    await eventually(opened, 10, "the desk to open the card")
    return card_id, messages[0]


async def test_card_publish_now(start_bot):
    """The card shows the post as it will look and four buttons; "publish now" queues it for
    the feed's channels and the card says who published it, without buttons."""
    async with start_bot(**review_config()) as bot:
        card_id, card = await submit(bot)
        text = plain(card.html)
        assert "قراءة في موازنة العام المقبل 1" in text and "للمراجعة" in text
        assert [label for label, _ in buttons(card)] == [
            "انشر الآن", "جدولة", "تعديل المقتطف", "رفض"]
        notice = await bot.press(EDITOR, card, button(card, "انشر الآن"))
        assert notice["text"] == "Published."
        edited = await bot.wait_edit(card, "نُشر في")
        assert "@eddie" in plain(edited.html) and buttons(edited) == []
        queued = await bot.queued()
        assert sorted(d.chat for d in queued) == [NEWS_CHAT, "@nashir_world"]
        assert all(d.feed_id == feed_id_for(FEED) and d.priority == 1 for d in queued)
        [entry] = await bot.app.bot_data.audit.latest(1)
        assert entry.action == "review.publish" and entry.user_id == EDITOR
        # A late press on the decided card is told who decided.
        notice = await bot.press(OWNER, card, "r:" + card_id + ":x")
        assert "@eddie" in notice["text"]
        assert len(await bot.queued()) == 2


async def test_two_editors_press_at_once(start_bot):
    """Publish and reject pressed at the same moment: exactly one wins (either may), and the
    other is told who decided, in the same step that refused the press."""
    async with start_bot(**review_config()) as bot:
        card_id, card = await submit(bot)
        publish, reject = button(card, "انشر الآن"), button(card, "رفض")
        by_editor, by_owner = await asyncio.gather(bot.press(EDITOR, card, publish),
                                                   bot.press(OWNER, card, reject))
        record = await bot.redis.hgetall(keys.bot_review(card_id))
        # What each outcome must look like; which one happened is the race's business.
        outcomes = {
            "published": {"winner": EDITOR, "label": "@eddie", "won": "Published.",
                          "queued": 2, "action": "review.publish"},
            "rejected": {"winner": OWNER, "label": "@owner_user", "won": "رُفض.",
                         "queued": 0, "action": "review.reject"},
        }
        expected = outcomes[record["state"]]
        notices = {EDITOR: by_editor, OWNER: by_owner}
        loser = OWNER if expected["winner"] == EDITOR else EDITOR
        assert int(record["decided_by"]) == expected["winner"]
        assert notices[expected["winner"]]["text"] == expected["won"]
        assert expected["label"] in notices[loser]["text"]
        assert notices[loser].get("show_alert") in (True, "true")
        assert len(await bot.queued()) == expected["queued"]
        actions = [e.action for e in await bot.app.bot_data.audit.latest(5)]
        assert [a for a in actions if a in ("review.publish", "review.reject")] == [
            expected["action"]]


async def test_reject_stays_rejected(start_bot):
    """A rejected piece is marked on the card and never published."""
    async with start_bot(**review_config()) as bot:
        card_id, card = await submit(bot)
        publish = button(card, "انشر الآن")
        notice = await bot.press(OWNER, card, button(card, "رفض"))
        assert notice["text"] == "رُفض."
        await bot.wait_edit(card, "رفضه @owner_user")
        notice = await bot.press(EDITOR, card, publish)
        assert "rejected" in notice["text"]
        assert await bot.queued() == []


async def test_schedule_survives_restart(start_bot):
    """A scheduled piece waits in Redis; a bot started later publishes it when it is due and
    updates the card."""
    async with start_bot(**review_config()) as bot:
        card_id, card = await submit(bot)
        await bot.press(EDITOR, card, button(card, "جدولة"))
        options = await bot.tg.wait_for(
            lambda: "بعد ساعة" in [label for label, _ in buttons(bot.current(card))]
            and bot.current(card))
        notice = await bot.press(EDITOR, card, button(options, "بعد ساعة"))
        assert notice["text"] == "Scheduled."
        await bot.wait_edit(card, "للنشر في")
        due = await bot.redis.zscore(keys.bot_review_schedule(), card_id)
        assert due is not None and due > datetime.now(UTC).timestamp() + 3000
        assert await bot.queued() == []
    # The bot is gone; the schedule is in Redis. Time passes: the piece is now due.
    await bot.redis.zadd(keys.bot_review_schedule(), {card_id: 1.0})
    async with start_bot(**review_config()) as later:
        await later.wait_edit(card, "نُشر حسب الجدولة")
        assert sorted(d.chat for d in await later.queued()) == [NEWS_CHAT, "@nashir_world"]
        assert await later.redis.zscore(keys.bot_review_schedule(), card_id) is None
        [entry] = await later.app.bot_data.audit.latest(1)
        assert entry.action == "review.published_scheduled" and entry.user_id == EDITOR


async def test_edit_excerpt_by_reply(start_bot):
    """"Edit excerpt" asks for a reply; the reply replaces the excerpt on the card and in the
    published post; a non-editor's reply changes nothing."""
    async with start_bot(**review_config()) as bot:
        card_id, card = await submit(bot)
        before = len(bot.tg.messages_to(REVIEW))
        await bot.press(EDITOR, card, button(card, "تعديل المقتطف"))
        prompts = await bot.tg.wait_for(lambda: bot.tg.messages_to(REVIEW)[before:] or None)
        prompt = prompts[0]
        assert prompt.reply_markup and prompt.reply_markup.get("force_reply")
        [refused] = await bot.say(STRANGER, "نص دخيل", chat_id=REVIEW,
                                  reply_to_message_id=prompt.message_id)
        assert "للمحررين" in plain(refused.html) or "editors" in plain(refused.html)
        [done] = await bot.say(EDITOR, "مقتطف جديد كتبه المحرر <بعناية> & دقة.", chat_id=REVIEW,
                               reply_to_message_id=prompt.message_id)
        assert "Excerpt updated" in plain(done.html)
        edited = await bot.wait_edit(card, "مقتطف جديد كتبه المحرر <بعناية> & دقة.")
        assert "&lt;بعناية&gt; &amp; دقة" in edited.html
        await bot.press(EDITOR, card, button(card, "انشر الآن"))
        await bot.wait_edit(card, "نُشر في")
        queued = await bot.queued()
        assert all("مقتطف جديد كتبه المحرر" in plain(d.html) for d in queued)
        actions = [e.action for e in await bot.app.bot_data.audit.latest(3)]
        assert actions[:2] == ["review.publish", "review.edit_excerpt"]


async def test_non_editor_cannot_decide(start_bot):
    """A group member who is not an editor presses a card button: refused, nothing changes."""
    async with start_bot(**review_config()) as bot:
        card_id, card = await submit(bot)
        notice = await bot.press(STRANGER, card, button(card, "انشر الآن"))
        assert "editors" in notice["text"]
        assert await bot.redis.hget(keys.bot_review(card_id), "state") == "open"
        assert await bot.queued() == []


async def test_card_waits_without_review_chat_and_retries(start_bot, redis):
    """If the card cannot be posted (the group refuses), the piece stays in the inbox and a
    card appears once the group accepts messages again."""
    async with start_bot(**review_config()) as bot:
        bot.tg.set_bot_status(REVIEW, "member", can_post=False)
        config = parse_config(review_config())
        card_id = await submit_for_review(redis, config.feeds[0], feed_id_for(FEED),
                                          make_article(2))

        async def tried() -> bool:
            return bool([r for r in bot.tg.calls("sendMessage") if r.status == 400])

        await eventually(tried, 10, "a refused card")
        assert await redis.zscore(keys.bot_review_inbox(), card_id) is not None
        bot.tg.set_bot_status(REVIEW, "administrator", can_post=True)
        await redis.zadd(keys.bot_review_inbox(), {card_id: 1.0})  # the lease runs out
        await bot.tg.wait_for(lambda: bot.tg.messages_to(REVIEW), 10, "the card")


async def test_submitting_a_piece_again_makes_no_second_card_and_reopens_none(redis) -> None:
    """The poller may submit a piece twice (a crash before it was marked seen): one card, one
    inbox entry, and a card already decided on stays decided."""
    config = parse_config(review_config())
    article = make_article()
    first = await submit_for_review(redis, config.feeds[0], feed_id_for(FEED), article)
    assert await submit_for_review(redis, config.feeds[0], feed_id_for(FEED), article) == first
    assert await redis.zrange(keys.bot_review_inbox(), 0, -1) == [first]
    await redis.hset(keys.bot_review(first), "state", "published")
    await redis.zrem(keys.bot_review_inbox(), first)
    await submit_for_review(redis, config.feeds[0], feed_id_for(FEED), article)
    assert await redis.hget(keys.bot_review(first), "state") == "published"
    assert await redis.zcard(keys.bot_review_inbox()) == 0
