"""Delivery's fates and the held posts' way out, black-box: the real sender (PTB client) against
the strict fake Bot API, a real Redis, articles queued through the pipeline's own queue step,
and `why` reading what was recorded."""
from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from bot.why import why
from config.schema import parse_config
from delivery.held import HeldPolicy
from delivery.sender import Sender
from model.delivery import Delivery
from ops.notices import ChatNotifier
from sandbox.telegram_api import FakeTelegram
from store import keys
from store.fates import Fates
from store.redis_store import ArticleToQueue, Store
from tests.delivery.conftest import TOKEN, make_sender, running, wait_until

OWNER = 5001
OPEN, SHUT, QUIET = -1201, -1202, -1203
CONFIG = parse_config({
    "timezone": "Asia/Damascus", "owners": [OWNER],
    "channels": [{"chat": str(c), "language": "en"} for c in (OPEN, SHUT, QUIET)],
    "feeds": []})
FAST_PROBE = HeldPolicy(probe_first_s=0.2, probe_max_s=0.4)


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        for chat in (OPEN, SHUT, QUIET):
            fake.add_chat(chat, "channel")
        fake.add_user(OWNER, "Owner", "en")
        yield fake


def article(chat: int, n: int, html: str | None = None) -> Delivery:
    return Delivery(chat=str(chat), uid=f"held-{chat}-{n}", url=f"https://example.org/a/{chat}/{n}",
                    html=html or f"<b>Analysis {n}</b>\nThe text of piece {n}.",
                    article_time=1_758_186_000.0 + n, queued_at=time.time())


async def queue(redis: aioredis.Redis, *deliveries: Delivery, paused: bool = False) -> None:
    """Queue articles the way the pipeline does (fate: queued, or held while paused)."""
    await Store(redis).queue_articles(None, [
        ArticleToQueue((d.uid,), (d,), url=d.url,
                       paused=frozenset({d.chat}) if paused else frozenset())
        for d in deliveries])


async def answer(redis: aioredis.Redis, url: str) -> str:
    return "\n".join((await why(redis, CONFIG, url, "en")).lines)


async def held(redis: aioredis.Redis) -> int:
    return int(await redis.xlen(keys.held()))


async def test_a_posted_article_says_its_message_through_why(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    """Once sent, `why` says posted at which time, with Telegram's message id; the hour's
    counts have it."""
    sender = make_sender(redis, await bot_factory(tg))
    first, second = article(OPEN, 1), article(OPEN, 2)
    await queue(redis, first, second)
    async with running(sender):
        await tg.wait_for_messages(2, chat=OPEN, timeout=20)
        await wait_until(lambda: _fate_is(redis, second.url, "posted"), 10, "posted fate")
    message = tg.messages_to(OPEN)[1]
    text = await answer(redis, second.url)
    assert f"{OPEN}: posted at " in text and f"(message {message.message_id})" in text
    counts = await Fates(redis).counts_since(time.time() - 60)
    assert counts[("posted", "")] == 2 and counts[("queued", "")] == 2


async def test_blocked_and_refused_posts_are_recorded_with_telegrams_words(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    """A kicked channel's post is held (blocked) with Telegram's words, how it gets out, and
    counted; a post Telegram refuses is failed (refused) with its words."""
    tg.set_bot_status(SHUT, "kicked")
    sender = make_sender(redis, await bot_factory(tg))
    shut, bad = article(SHUT, 1), article(OPEN, 9, html="<b>" + "x" * 5000 + "</b>")
    await queue(redis, shut, bad)
    async with running(sender):
        await wait_until(lambda: _fate_is(redis, shut.url, "held"), 10, "held fate")
        await wait_until(lambda: _fate_is(redis, bad.url, "failed"), 10, "failed fate")
    held_text = await answer(redis, shut.url)
    assert "held since" in held_text and "bot was kicked" in held_text
    assert "/release" in held_text and "added back" in held_text
    refused = await answer(redis, bad.url)
    assert "Telegram refused the post" in refused and "too long" in refused.lower()
    counts = await Fates(redis).counts_since(time.time() - 60)
    assert counts[("held", "blocked")] == 1 and counts[("failed", "refused")] == 1
    assert sender.stats.fates[("held", "blocked")] == 1


async def test_the_probe_releases_a_chat_that_can_take_posts_again(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    """A kicked channel is probed on a short schedule and stays held while it refuses; once
    the bot is an admin again the next probe releases it: every post arrives once, in order,
    and `why` says released, then posted."""
    tg.set_bot_status(SHUT, "kicked")
    sender = make_sender(redis, await bot_factory(tg), held=FAST_PROBE)
    posts = [article(SHUT, n) for n in (3, 1, 2)]
    await queue(redis, *posts)
    async with running(sender):
        await wait_until(lambda: _probes(sender, "closed", 2), 10, "two refused probes")
        assert tg.messages_to(SHUT) == [] and await held(redis) == 3
        tg.set_bot_status(SHUT, "administrator")
        await tg.wait_for_messages(3, chat=SHUT, timeout=20)
        await wait_until(lambda: _fate_is(redis, posts[0].url, "posted"), 10, "posted")
    assert [m.html for m in tg.messages_to(SHUT)] == [article(SHUT, n).html for n in (1, 2, 3)]
    assert await held(redis) == 0 and await sender.queue.blocked_chats() == {}
    assert sender.stats.probes["released"] == 1
    counts = await Fates(redis).counts_since(time.time() - 60)
    assert counts[("queued", "released")] == 3 and counts[("posted", "")] == 3
    assert len(tg.calls("sendChatAction")) >= 3


async def test_a_paused_channel_is_not_probed_and_its_posts_stay_held(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    """Posts held because their channel is paused are not the probe's: while another, blocked,
    chat is probed again and again, the paused one gets no probe and keeps its posts."""
    tg.set_bot_status(SHUT, "kicked")
    sender = make_sender(redis, await bot_factory(tg), held=FAST_PROBE)
    await queue(redis, article(QUIET, 1), article(QUIET, 2), paused=True)
    await queue(redis, article(SHUT, 1))
    async with running(sender):
        await wait_until(lambda: _probes(sender, "closed", 3), 10, "three probes of SHUT")
    probed = {str(call.params.get("chat_id")) for call in tg.calls("sendChatAction")}
    assert probed == {str(SHUT)}
    assert [p.reason for p in await sender.queue.held_posts(str(QUIET))] == ["paused", "paused"]
    assert tg.messages_to(QUIET) == []
    assert "channel is paused" in await answer(redis, article(QUIET, 1).url)


async def test_past_the_cap_the_oldest_are_dropped_recorded_and_owners_told_once(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    """With a cap of 3, a blocked chat's oldest posts beyond it are dropped: each fate is failed
    (held_overflow), counted, and the owners get one notice for the crossing however many
    are dropped after it."""
    tg.set_bot_status(SHUT, "kicked")
    notices = ChatNotifier(CONFIG, Store(redis))
    sender = make_sender(redis, await bot_factory(tg), held=HeldPolicy(cap=3),
                         on_chat_blocked=notices.blocked, on_held_overflow=notices.held_overflow)
    await queue(redis, *[article(SHUT, n) for n in range(1, 6)])
    async with running(sender):
        await wait_until(lambda: _dropped(sender, 2), 10, "two dropped")
        await queue(redis, article(SHUT, 6), article(SHUT, 7))
        await wait_until(lambda: _dropped(sender, 4), 10, "four dropped")
        await tg.wait_for(lambda: len(tg.messages_to(OWNER)) >= 2, 10, "owners' notices")
    assert await held(redis) == 3
    kept = [p.delivery.uid for p in await sender.queue.held_posts() if p.delivery]
    assert kept == [f"held-{SHUT}-{n}" for n in (5, 6, 7)]
    told = [m.html for m in tg.messages_to(OWNER)]
    assert sum("cap of 3" in html for html in told) == 1
    assert sum("/release" in html and "kept until it can" in html for html in told) == 1
    dropped = await answer(redis, article(SHUT, 1).url)
    assert "dropped" in dropped and "cap" in dropped and "bot was kicked" in dropped
    counts = await Fates(redis).counts_since(time.time() - 60)
    assert counts[("failed", "held_overflow")] == 4


async def _fate_is(redis: aioredis.Redis, url: str, fate: str) -> bool:
    return any(r.fate.value == fate for r in await Fates(redis).of_article(url))


async def _probes(sender: Sender, result: str, count: int) -> bool:
    return sender.stats.probes[result] >= count


async def _dropped(sender: Sender, count: int) -> bool:
    return sender.stats.held_dropped >= count


async def test_a_chat_blocked_by_an_earlier_version_is_probed_and_released(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    """A chat left blocked, with held posts in the old format (no kind, no probe scheduled),
    gets a probe when the sender starts and its posts arrive in order."""
    await redis.hset(keys.delivery_blocked(), str(SHUT), "Forbidden: bot was kicked")
    for n in (2, 1):
        post = article(SHUT, n)
        await redis.xadd(keys.held(), {"d": post.to_json(), "reason": "Forbidden: bot was kicked",
                                       "chat": str(SHUT), "entry": f"0-{n}", "held_at": "1"})
    sender = make_sender(redis, await bot_factory(tg), held=FAST_PROBE)
    async with running(sender):
        await tg.wait_for_messages(2, chat=SHUT, timeout=20)
    assert [m.html for m in tg.messages_to(SHUT)] == [article(SHUT, n).html for n in (1, 2)]
    assert await sender.queue.blocked_chats() == {}
