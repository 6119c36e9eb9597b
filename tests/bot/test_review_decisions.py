"""Review decisions black-box: the real bot against the strict fake Bot API and a real Redis.
An approved piece reaches the feed's subscribers too; each chat's fate moves from held (review)
to queued, or to skipped (rejected, by whom) in the decision's own step; a decision survives
Redis refusing writes and Telegram refusing the card's edit; only the edit prompt's reply
changes an excerpt; open cards never expire and owners hear once of an old inbox."""
from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from config.schema import ConfigError, parse_config
from delivery.queue import DeliveryQueue
from feeds.fetcher import Fetcher
from model.article import feed_id_for
from pipeline.poller import Poller
from store import keys
from store.redis_store import Store
from store.review_inbox import RedisReviewInbox, submit_for_review
from store.subscriptions import subscribe
from tests.bot.conftest import (
    EDITOR,
    NEWS_CHAT,
    OWNER,
    READER,
    REVIEW,
    WORLD_CHAT,
    base_config,
    button,
    buttons,
    eventually,
    plain,
)
from tests.bot.test_review import FEED, make_article, review_config, submit
from tests.fakes.feed_server import FeedItem, FeedServer


@contextlib.asynccontextmanager
async def writes_refused(redis: aioredis.Redis) -> AsyncIterator[None]:
    """Redis refuses every write that needs memory (a real OOM: maxmemory 1, noeviction),
    as a full or failing server does; restored on the way out."""
    old = await redis.config_get("maxmemory*")
    await redis.config_set("maxmemory-policy", "noeviction")
    await redis.config_set("maxmemory", 1)
    try:
        yield
    finally:
        await redis.config_set("maxmemory", old.get("maxmemory", "0"))
        await redis.config_set("maxmemory-policy", old.get("maxmemory-policy", "noeviction"))


async def press_refused(bot, who: int, message, data: str) -> None:
    """Press while Redis refuses writes: the press is told something went wrong, then wait
    for the press's own handler to meet the refusal too (PTB runs it after the gate's error):
    its error answer is the sign it is done."""
    notice = await bot.press(who, message, data)
    assert "went wrong" in notice["text"]
    query = notice["callback_query_id"]
    await bot.tg.wait_for(lambda: len([
        r for r in bot.tg.calls("answerCallbackQuery")
        if str(r.params.get("callback_query_id")) == str(query)]) >= 2, 10,
        "the handler's error")


async def desk_rounds(bot, more: int) -> None:
    """Wait until the review desk has run `more` further rounds."""
    stats = bot.app.bot_data.review.stats
    target = stats["rounds"] + more

    async def done() -> bool:
        return stats["rounds"] >= target

    await eventually(done, 15, f"{more} rounds of the review desk")


async def why(bot, url: str) -> str:
    [answer] = await bot.say(EDITOR, f"/why {url}", lang="en")
    return plain(answer.html)


def polled_review_config(pages: FeedServer) -> dict[str, object]:
    return base_config(review_chat=REVIEW, feeds=[
        {"url": pages.url("/review.xml"), "channels": [NEWS_CHAT, WORLD_CHAT], "mode": "review",
         "first_run": "all"}])


async def poll_once(bot, config_data: dict[str, object]) -> None:
    """One poll of every feed by the real poller, handing review pieces to the inbox."""
    config = parse_config(config_data)
    fetcher: Fetcher = bot.app.bot_data.fetcher  # type: ignore[assignment]
    poller = Poller(config, Store(bot.redis), fetcher, review=RedisReviewInbox(bot.redis),
                    edits=DeliveryQueue(bot.redis, "test"))
    outcomes = await poller.poll_all()
    assert [o.status for o in outcomes] == ["new"], outcomes


async def test_approved_piece_reaches_subscribers_and_its_fates_move(start_bot, pages):
    """A piece the poller held for review: `why` says it waits for review; approved, it is
    queued for the channels and for the feed's subscriber, and `why` says queued."""
    link = "https://example.org/analysis/review-1"
    pages.add_feed("/review.xml", items=[FeedItem(
        guid=link, title="قراءة في موازنة العام المقبل", link=link,
        summary_html="<p>تتناول هذه القراءة بنود الموازنة الجديدة وأثرها على الأسعار والأجور "
                     "والخدمات العامة خلال العام المقبل.</p>")])
    data = polled_review_config(pages)
    async with start_bot(**data) as bot:
        await subscribe(bot.redis, str(READER), feed_id_for(pages.url("/review.xml")))
        before = len(bot.tg.messages_to(REVIEW))
        await poll_once(bot, data)
        [card] = await bot.tg.wait_for(lambda: bot.tg.messages_to(REVIEW)[before:] or None,
                                       10, "the review card")
        waiting = await why(bot, link)
        assert waiting.count("waiting for an editor's review") == 2
        assert await bot.queued() == []
        notice = await bot.press(EDITOR, card, button(card, "انشر الآن"))
        assert notice["text"] == "Published."
        await bot.wait_edit(card, "نُشر في")
        queued = await bot.queued()
        assert sorted(d.chat for d in queued) == sorted([NEWS_CHAT, WORLD_CHAT, str(READER)])
        [copy] = [d for d in queued if d.chat == str(READER)]
        assert "قراءة في موازنة العام المقبل" in plain(copy.html)
        after = await why(bot, link)
        assert "waiting for an editor's review" not in after
        for chat in (NEWS_CHAT, WORLD_CHAT, str(READER)):
            assert f"{chat}: queued at" in after
        # The review fate was counted once (by the poll), the queued ones by the decision.
        hour = keys.fate_counts(str(int(time.time() // 3600)))
        counts = await bot.redis.hgetall(hour)
        assert counts.get("held:review") == "2" and counts.get("queued:") == "3"


async def test_rejected_piece_says_who_rejected_it(start_bot, pages):
    """Rejected: each channel's fate is skipped (rejected) naming the editor; nothing queued."""
    link = "https://example.org/analysis/review-2"
    pages.add_feed("/review.xml", items=[FeedItem(
        guid=link, title="تحليل مرفوض", link=link,
        summary_html="<p>نص تحليلي يكفي ليكون مقتطفاً صالحاً للنشر في القناة كما ينبغي.</p>")])
    data = polled_review_config(pages)
    async with start_bot(**data) as bot:
        before = len(bot.tg.messages_to(REVIEW))
        await poll_once(bot, data)
        [card] = await bot.tg.wait_for(lambda: bot.tg.messages_to(REVIEW)[before:] or None,
                                       10, "the review card")
        await bot.press(OWNER, card, button(card, "رفض"))
        await bot.wait_edit(card, "رفضه @owner_user")
        answer = await why(bot, link)
        assert answer.count("rejected by an editor (@owner_user)") == 2
        assert await bot.queued() == []


async def test_publish_press_while_redis_refuses_writes_changes_nothing(start_bot):
    """Redis refuses writes when an editor presses: the press is told something went wrong,
    the card stays open with nothing queued (never "published" with nothing sent), and a later
    press works."""
    async with start_bot(**review_config()) as bot:
        card_id, card = await submit(bot)
        publish = button(card, "انشر الآن")
        async with writes_refused(bot.redis):
            await press_refused(bot, EDITOR, card, publish)
            assert await bot.redis.hget(keys.bot_review(card_id), "state") == "open"
            assert await bot.queued() == []
        notice = await bot.press(EDITOR, card, publish)
        assert notice["text"] == "Published."
        await bot.wait_edit(card, "نُشر في")
        assert len(await bot.queued()) == 2


async def test_scheduled_piece_survives_redis_refusing_writes(start_bot):
    """A scheduled piece falls due while Redis refuses writes: it stays scheduled and on the
    schedule (not taken off and stuck), and is published once when Redis accepts writes."""
    async with start_bot(**review_config()) as bot:
        card_id, card = await submit(bot)
        await bot.press(EDITOR, card, button(card, "جدولة"))
        options = await bot.tg.wait_for(
            lambda: "بعد ساعة" in [label for label, _ in buttons(bot.current(card))]
            and bot.current(card))
        await bot.press(EDITOR, card, button(options, "بعد ساعة"))
        await bot.wait_edit(card, "للنشر في")
        errors = bot.app.bot_data.review.stats["redis_errors"]
        # Time passes and, in the same instant, Redis starts refusing writes.
        async with bot.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(keys.bot_review_schedule(), {card_id: 1.0})
            pipe.config_set("maxmemory-policy", "noeviction")
            pipe.config_set("maxmemory", 1)
            await pipe.execute()
        try:
            async def refused() -> bool:
                return bot.app.bot_data.review.stats["redis_errors"] >= errors + 2

            await eventually(refused, 15, "the desk to meet the refusal")
            assert await bot.redis.hget(keys.bot_review(card_id), "state") == "scheduled"
            assert await bot.redis.zscore(keys.bot_review_schedule(), card_id) == 1.0
            assert await bot.queued() == []
        finally:
            await bot.redis.config_set("maxmemory", 0)
        await bot.wait_edit(card, "نُشر حسب الجدولة")
        assert sorted(d.chat for d in await bot.queued()) == [NEWS_CHAT, WORLD_CHAT]
        assert await bot.redis.zscore(keys.bot_review_schedule(), card_id) is None
        await desk_rounds(bot, 3)
        assert len(await bot.queued()) == 2


async def test_card_telegram_would_not_edit_is_updated_later(start_bot):
    """Telegram fails the card's edit after the decision: the piece is published once, a late
    press is told who published it, and the desk updates the card afterwards."""
    async with start_bot(**review_config()) as bot:
        bot.app.bot_data.review.card_lease_s = 0.2
        card_id, card = await submit(bot)
        bot.tg.fail_next("editMessageText", 500)
        notice = await bot.press(EDITOR, card, button(card, "انشر الآن"))
        assert notice["text"] == "Published."
        late = await bot.press(OWNER, card, button(card, "رفض"))
        assert "@eddie" in late["text"]
        edited = await bot.wait_edit(card, "نُشر في")
        assert buttons(edited) == []
        assert len(await bot.queued()) == 2
        assert [r.status for r in bot.tg.calls("editMessageText")][:2] == [500, 200]
        stats = bot.app.bot_data.review.stats

        async def counted() -> bool:
            return stats["cards_updated_late"] == 1 and not await bot.redis.zcard(
                keys.bot_review_unshown())

        await eventually(counted, 10, "the late update to be counted")


async def test_a_reply_to_the_card_is_talk_not_an_excerpt(start_bot):
    """An editor replying to the card itself discusses it: the excerpt and the card stay as
    they were and the bot says nothing; the reply to the edit prompt still changes it."""
    async with start_bot(**review_config()) as bot:
        card_id, card = await submit(bot)
        original = bot.current(card).html
        bot.tg.inject_message(EDITOR, "هل هذا المقال مناسب للنشر اليوم؟", chat_id=REVIEW,
                              reply_to_message_id=card.message_id)
        before = len(bot.tg.messages_to(REVIEW))
        await bot.press(EDITOR, card, button(card, "تعديل المقتطف"))
        [prompt] = await bot.tg.wait_for(lambda: bot.tg.messages_to(REVIEW)[before:] or None)
        # The talk came before the press: by now it has been handled, and changed nothing.
        assert await bot.redis.hget(keys.bot_review(card_id), "excerpt") is None
        assert bot.current(card).html == original
        assert len(bot.tg.messages_to(REVIEW)) == before + 1

        async def prompt_filed() -> bool:  # the desk remembers the prompt after sending it
            return bool(await bot.redis.exists(keys.bot_review_awaiting_edit(
                str(REVIEW), prompt.message_id)))

        await eventually(prompt_filed, 10, "the edit prompt to be filed")
        [done] = await bot.say(EDITOR, "مقتطف جديد من المحرر.", chat_id=REVIEW,
                               reply_to_message_id=prompt.message_id)
        assert "Excerpt updated" in plain(done.html)
        assert await bot.redis.hget(keys.bot_review(card_id), "excerpt") == "مقتطف جديد من المحرر."


async def test_open_cards_do_not_expire_and_decided_ones_do(start_bot):
    """A card waiting for editors (new, open, scheduled) has no expiry; once decided it is kept
    for REVIEW_TTL_S."""
    async with start_bot(**review_config()) as bot:
        bot.tg.set_bot_status(REVIEW, "member", can_post=False)
        config = parse_config(review_config())
        waiting = await submit_for_review(bot.redis, config.feeds[0], feed_id_for(FEED),
                                          make_article(7))
        assert await bot.redis.ttl(keys.bot_review(waiting)) == -1
        bot.tg.set_bot_status(REVIEW, "administrator", can_post=True)
        await bot.redis.zadd(keys.bot_review_inbox(), {waiting: 1.0})  # its lease runs out
        await bot.tg.wait_for(lambda: bot.tg.messages_to(REVIEW) or None, 10, "the late card")

        async def opened() -> bool:
            return await bot.redis.hget(keys.bot_review(waiting), "state") == "open"

        await eventually(opened, 10, "the late card to open")
        assert await bot.redis.ttl(keys.bot_review(waiting)) == -1
        card_id, card = await submit(bot)
        assert await bot.redis.hget(keys.bot_review(card_id), "state") == "open"
        assert await bot.redis.ttl(keys.bot_review(card_id)) == -1
        await bot.press(EDITOR, card, button(card, "رفض"))
        await bot.wait_edit(card, "رفضه")
        ttl = await bot.redis.ttl(keys.bot_review(card_id))
        assert keys.REVIEW_TTL_S - 60 < ttl <= keys.REVIEW_TTL_S
        assert await bot.redis.zscore(keys.bot_review_open(), card_id) is None


async def test_owners_are_told_once_of_an_old_inbox(start_bot):
    """A piece older than review_stale_after: one notice to owners and editors, however many
    rounds pass; decided, the next old piece is told again."""
    data = {**review_config(), "review_stale_after": "1h"}
    async with start_bot(**data) as bot:
        config = parse_config(data)
        old = await submit_for_review(bot.redis, config.feeds[0], feed_id_for(FEED),
                                      make_article(1), now=time.time() - 7200)

        async def told(n: int) -> bool:
            entries = await bot.queued()
            found = [d for d in entries if d.chat == str(OWNER) and "review" in d.html]
            return len(found) >= n

        await eventually(lambda: told(1), 15, "the owners' notice")
        await desk_rounds(bot, 5)
        entries = [d for d in await bot.queued() if d.chat in (str(OWNER), str(EDITOR))]
        assert len(entries) == 2  # one notice, to the owner and the editor
        assert "1h" in plain(entries[0].html) and "مجموعة المراجعة" in plain(entries[0].html)
        card = await bot.tg.wait_for(lambda: bot.tg.messages_to(REVIEW) or None)
        await bot.press(EDITOR, card[0], f"r:{old}:x")
        await eventually(lambda: _cleared(bot.redis), 15, "the notice to be cleared")
        await submit_for_review(bot.redis, config.feeds[0], feed_id_for(FEED), make_article(2),
                                now=time.time() - 7200)
        await eventually(lambda: told(2), 15, "a second notice")


async def _cleared(redis: aioredis.Redis) -> bool:
    return not await redis.exists(keys.bot_review_stale_notice())


@pytest.mark.parametrize("value", ["soon", 0, "-3d"])
def test_review_stale_after_is_refused_when_invalid(value: object) -> None:
    """An unusable review_stale_after stops the config from loading, naming the key."""
    with pytest.raises(ConfigError, match="review_stale_after"):
        parse_config({**review_config(), "review_stale_after": value})
