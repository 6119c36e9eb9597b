"""The sender against the strict fake Bot API with flood limits switched on (scaled down so
tests take seconds): rates, order, every error kind, photos, edits, replicas, shutdown."""
from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from telegram import Bot
from telegram.request import HTTPXRequest

from delivery.photos import PhotoFetcher
from delivery.queue import DeliveryQueue
from delivery.sender import Sender
from delivery.telegram_transport import TelegramTransport
from model.delivery import SendOutcome
from sandbox.telegram_api import FakeTelegram
from sandbox.telegram_api import RateLimits as FakeLimits
from store import keys
from tests.delivery.conftest import (
    TOKEN,
    limits_for,
    make_sender,
    post,
    queue_all,
    running,
    wait_until,
)

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

# Telegram's shapes, faster: 20 messages per second overall, 3 per 0.3 s per chat, 5 per 2 s
# per channel.
FAST = FakeLimits(chat_per_second=10.0, chat_burst=3, group_per_minute=5, group_window=2.0,
                  overall_per_second=20)
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
       b"\x00\x00\x00\x00IEND\xaeB`\x82")


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN, rate_limits=FAST) as fake:
        yield fake


def max_in_window(times: list[float], window: float) -> int:
    """The most messages in any half-open window of this length."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def copies(tg: FakeTelegram) -> Counter[tuple[int, str]]:
    return Counter((m.chat_id, m.html or "") for m in tg.messages)


# -- rates and order ----------------------------------------------------------------------------

async def test_fan_out_reaches_every_chat_once_inside_the_overall_limit(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    """One post to 60 private chats: each gets it once, never more than 20 in any second, and
    Telegram answers no 429."""
    chats = list(range(5001, 5061))
    for chat in chats:
        tg.add_user(chat)
    sender = make_sender(redis, await bot_factory(tg), limits=limits_for(FAST))
    await queue_all(sender.queue, [post(chat, 1) for chat in chats])
    async with running(sender):
        await tg.wait_for_messages(60, timeout=20)
    assert tg.rate_limited == []
    assert sorted(m.chat_id for m in tg.messages) == chats
    assert max_in_window([m.time for m in tg.messages], 1.0) <= 20
    assert sender.stats.sent == 60 and await sender.queue.depth() == 0


async def test_burst_to_one_channel_stays_inside_its_limits_in_article_order(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    """Twelve posts queued in random order to one channel arrive by article date, at most 5
    per 2 s and 3 per 0.3 s, with no 429."""
    tg.add_chat(-1001, "channel")
    sender = make_sender(redis, await bot_factory(tg), limits=limits_for(FAST))
    numbers = list(range(12))
    random.Random(5).shuffle(numbers)
    await queue_all(sender.queue, [post(-1001, n) for n in numbers])
    started = time.monotonic()
    async with running(sender):
        await tg.wait_for_messages(12, timeout=20)
    assert tg.rate_limited == []
    assert [m.html for m in tg.messages] == [post(-1001, n).html for n in range(12)]
    times = [m.time for m in tg.messages]
    assert max_in_window(times, 2.0) <= 5 and max_in_window(times, 0.3) <= 3
    assert time.monotonic() - started >= 4.0   # 5 + 5 + 2: two full windows


async def test_pushes_go_out_before_a_queued_fan_out(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    """An editor's push queued after a 30-chat fan-out is the first message sent."""
    for chat in range(6001, 6032):
        tg.add_user(chat)
    sender = make_sender(redis, await bot_factory(tg), limits=limits_for(FAST), concurrency=2)
    await queue_all(sender.queue, [post(chat, 1) for chat in range(6001, 6031)]
                    + [post(6031, 2, priority=1)])
    async with running(sender):
        await tg.wait_for_messages(31, timeout=20)
    assert [m.chat_id for m in tg.messages].index(6031) < 2


async def test_two_replicas_share_the_limits_and_the_work(
        redis_url: str, redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    """Two senders (separate consumers and connections) deliver a 60-chat fan-out between them,
    each post once, together never over 20 per second and with no 429."""
    chats = list(range(7001, 7061))
    for chat in chats:
        tg.add_user(chat)
    other = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        one = make_sender(redis, await bot_factory(tg), "one", limits=limits_for(FAST))
        two = make_sender(other, await bot_factory(tg), "two", limits=limits_for(FAST))
        await queue_all(one.queue, [post(chat, 1) for chat in chats])
        async with running(one, two):
            await tg.wait_for_messages(60, timeout=20)
    finally:
        await other.aclose()
    assert tg.rate_limited == []
    assert sorted(m.chat_id for m in tg.messages) == chats
    assert max_in_window([m.time for m in tg.messages], 1.0) <= 20
    assert one.stats.sent > 0 and two.stats.sent > 0
    assert one.stats.sent + two.stats.sent == 60


async def test_one_chat_keeps_article_order_across_replicas(
        redis_url: str, redis: aioredis.Redis, bot_factory) -> None:
    """Two senders never send to the same chat at once: ten shuffled posts to one chat arrive
    by article date although both replicas take part."""
    limits = FakeLimits(chat_per_second=50.0, chat_burst=50, group_per_minute=100,
                        group_window=1.0, overall_per_second=100)
    other = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        async with FakeTelegram(token=TOKEN, rate_limits=limits) as tg:
            tg.add_chat(-1002, "channel")
            one = make_sender(redis, await bot_factory(tg), "one", limits=limits_for(limits))
            two = make_sender(other, await bot_factory(tg), "two", limits=limits_for(limits))
            numbers = list(range(10))
            random.Random(9).shuffle(numbers)
            await queue_all(one.queue, [post(-1002, n) for n in numbers])
            async with running(one, two):
                await tg.wait_for_messages(10, timeout=20)
            assert [m.html for m in tg.messages] == [post(-1002, n).html for n in range(10)]
    finally:
        await other.aclose()


# -- flood waits ------------------------------------------------------------------------------

async def test_a_429_pauses_that_chat_for_retry_after_and_not_the_others(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    """Telegram's first answer is a 429 (retry after 1 s): that chat's next attempt comes at
    least a second later, other chats go on meanwhile, and the wait is counted."""
    for chat in range(8001, 8011):
        tg.add_user(chat)
    tg.fail_next("sendMessage", 429, retry_after=1)
    sender = make_sender(redis, await bot_factory(tg), limits=limits_for(FAST))
    await queue_all(sender.queue, [post(chat, 1) for chat in range(8001, 8011)])
    async with running(sender):
        await tg.wait_for_messages(10, timeout=20)
    hit = tg.rate_limited[0]
    retried = next(m for m in tg.messages if m.chat_id == hit.chat_id)
    assert retried.time - hit.time >= 1.0
    assert any(hit.time < m.time < hit.time + 0.9 for m in tg.messages)
    assert len(tg.rate_limited) == 1
    assert (sender.stats.retry_after_waits, sender.stats.global_pauses) == (1, 0)
    assert sum(copies(tg).values()) == 10


async def test_429s_in_several_chats_pause_every_chat(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    """Two chats answered 429 within a second means the bot's overall limit: every chat waits
    retry_after (recorded in Redis, so other replicas would too)."""
    for chat in range(8101, 8111):
        tg.add_user(chat)
    tg.fail_next("sendMessage", 429, count=2, retry_after=1)
    sender = make_sender(redis, await bot_factory(tg), limits=limits_for(FAST))
    await queue_all(sender.queue, [post(chat, 1) for chat in range(8101, 8111)])
    async with running(sender):
        await tg.wait_for_messages(10, timeout=20)
    second = tg.rate_limited[1]
    assert sender.stats.global_pauses == 1 and sender.stats.retry_after_waits == 2
    # Sends already under way may land just after it; then nothing until the pause is over.
    assert not any(second.time + 0.2 < m.time < second.time + 0.95 for m in tg.messages)
    assert sum(copies(tg).values()) == 10


# -- network trouble ------------------------------------------------------------------------

async def test_server_errors_are_retried_with_nothing_lost(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    """500 and 502 answers are retried with backoff; every chat gets its post once (the fake
    refused before recording), and the retries are counted as possible duplicates."""
    for chat in range(8201, 8206):
        tg.add_user(chat)
    tg.fail_next("sendMessage", 502, count=2)
    tg.fail_next("sendMessage", 500, count=1)
    sender = make_sender(redis, await bot_factory(tg), limits=limits_for(FAST))
    await queue_all(sender.queue, [post(chat, 1) for chat in range(8201, 8206)])
    async with running(sender):
        await tg.wait_for_messages(5, timeout=20)
    assert max(copies(tg).values()) == 1
    assert sender.stats.failed_by_reason["maybe_sent"] == 3
    assert 1 <= sender.stats.possible_duplicates <= 3


async def test_connections_dropped_after_telegram_accepted_cost_one_copy_each_counted(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    """Telegram takes three messages but the connection drops before the answer: each is sent
    again (never lost), so exactly those three appear twice, each counted as a possible
    duplicate, and no more than the sends in flight."""
    chats = list(range(8301, 8311))
    for chat in chats:
        tg.add_user(chat)
    tg.drop_after_accept("sendMessage", 3)
    sender = make_sender(redis, await bot_factory(tg), limits=limits_for(FAST), concurrency=4)
    await queue_all(sender.queue, [post(chat, 1) for chat in chats])
    async with running(sender):
        await tg.wait_for(lambda: len(copies(tg)) == 10 and len(tg.messages) == 13, timeout=20)
    doubled = [key for key, n in copies(tg).items() if n > 1]
    assert len(doubled) == 3 and max(copies(tg).values()) == 2
    assert sender.stats.possible_duplicates == 3 <= sender.concurrency
    assert await sender.queue.depth() == 0


async def test_a_timeout_after_telegram_accepted_is_retried_and_counted(
        redis: aioredis.Redis, tg: FakeTelegram) -> None:
    """A client that gives up waiting for a slow answer sends again: one duplicate, counted."""
    tg.add_user(8401)
    request = HTTPXRequest(connection_pool_size=8, read_timeout=0.3, connect_timeout=2)
    bot = Bot(TOKEN, base_url=tg.base_url, request=request)
    await bot.initialize()
    try:
        tg.delay("sendMessage", 1.0, after_accept=True)
        sender = make_sender(redis, bot, limits=limits_for(FAST))
        await queue_all(sender.queue, [post(8401, 1)])
        async with running(sender):
            await tg.wait_for_messages(1, timeout=10)
            tg.delay("sendMessage", 0)
            await tg.wait_for_messages(2, timeout=10)
            await wait_until(lambda: _depth_zero(sender), 10, "the queue to empty")
        assert sender.stats.possible_duplicates == 1
        assert sender.stats.sent == 1
    finally:
        await bot.shutdown()


async def _depth_zero(sender: Sender) -> bool:
    return await sender.queue.depth() == 0


# -- chats that refuse --------------------------------------------------------------------------

async def test_a_channel_that_forbids_the_bot_holds_its_posts_and_tells_owners_once(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    """Kicked from one channel: its posts (and later ones) are kept in Redis, owners are told
    once, the other channel is served; once the bot is back, releasing sends them all."""
    tg.add_chat(-1101, "channel")
    tg.add_chat(-1102, "channel")
    tg.set_bot_status(-1101, "kicked")
    told: list[tuple[str, str]] = []
    sender = make_sender(redis, await bot_factory(tg), limits=limits_for(FAST),
                         on_chat_blocked=lambda chat, reason: told.append((chat, reason)))
    await queue_all(sender.queue, [post(-1101, n) for n in range(3)]
                    + [post(-1102, n) for n in range(2)])
    async with running(sender):
        await tg.wait_for_messages(2, chat=-1102, timeout=20)
        await wait_until(lambda: _held(sender, 3), 10, "three held posts")
        await queue_all(sender.queue, [post(-1101, 3)])
        await wait_until(lambda: _held(sender, 4), 10, "the new post held too")
        assert len(tg.calls("sendMessage")) == 3   # 2 delivered + 1 refused, no more tries
        assert [chat for chat, _ in told] == ["-1101"] and "kicked" in told[0][1]
        tg.set_bot_status(-1101, "administrator")
        assert await sender.queue.release_held("-1101") == 4
        await tg.wait_for_messages(4, chat=-1101, timeout=20)
    assert [m.html for m in tg.messages_to(-1101)] == [post(-1101, n).html for n in range(4)]
    assert sender.stats.blocked_chats == 1


@pytest.mark.parametrize(("chat_type", "photo"), [("channel", False), ("supergroup", True)])
async def test_a_chat_where_the_bot_may_not_post_is_blocked_like_a_forbidden_one(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory, chat_type: str,
        photo: bool) -> None:
    """No admin rights in a channel, or no right to post in a group (a photo post tries text
    before giving up): the chat is blocked, its post kept, owners told once."""
    tg.add_chat(-1601, chat_type, can_post=False)
    told: list[str] = []
    sender = make_sender(redis, await bot_factory(tg), limits=limits_for(FAST),
                         on_chat_blocked=lambda chat, reason: told.append(reason))
    photo_url = "https://example.org/p.jpg" if photo else None
    await queue_all(sender.queue, [post(-1601, 1, photo_url=photo_url)])
    async with running(sender):
        await wait_until(lambda: _held(sender, 1), 10, "the post held")
    assert len(told) == 1 and "rights" in told[0]
    assert await sender.queue.blocked_chats() == {"-1601": told[0]}
    if photo:
        assert [r.method for r in tg.requests][-1] == "sendMessage"


async def _held(sender: Sender, count: int) -> bool:
    return await sender.queue.held_count() == count


async def test_a_user_who_blocked_the_bot_is_unsubscribed(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    """A private user who blocked the bot triggers the unsubscribe hook once (an async hook
    works too); owners are not bothered; the posts are kept."""
    tg.add_user(9001)
    tg.block_bot(9001)
    unsubscribed: list[str] = []

    async def unsubscribe(chat: str) -> None:
        unsubscribed.append(chat)

    owners: list[str] = []
    sender = make_sender(redis, await bot_factory(tg), limits=limits_for(FAST),
                         on_user_blocked=unsubscribe,
                         on_chat_blocked=lambda chat, reason: owners.append(chat))
    await queue_all(sender.queue, [post(9001, 1), post(9001, 2)])
    async with running(sender):
        await wait_until(lambda: _held(sender, 2), 10, "both posts held")
    assert unsubscribed == ["9001"] and owners == []
    assert tg.messages == []


async def test_a_group_upgraded_to_a_supergroup_gets_its_posts_at_the_new_id(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    """The old group id answers "migrated": the posts go to the new supergroup in order, the
    hook lets the config follow, and later posts for the old id go straight to the new one."""
    tg.add_chat(-555, "group")
    tg.migrate_chat(-555, -1005550000)
    moved: list[tuple[str, str]] = []
    sender = make_sender(redis, await bot_factory(tg), limits=limits_for(FAST),
                         on_chat_migrated=lambda old, new: moved.append((old, new)))
    await queue_all(sender.queue, [post(-555, 1), post(-555, 2)])
    async with running(sender):
        await tg.wait_for_messages(2, chat=-1005550000, timeout=20)
        await queue_all(sender.queue, [post(-555, 3)])
        await tg.wait_for_messages(3, chat=-1005550000, timeout=20)
    assert [m.html for m in tg.messages] == [post(-555, n).html for n in (1, 2, 3)]
    assert moved == [("-555", "-1005550000")]
    assert sum(1 for r in tg.calls("sendMessage") if str(r.params.get("chat_id")) == "-555") == 1
    assert (await sender.queue.sent_record("-555", "article-1")).chat == "-1005550000"


# -- content fallbacks ------------------------------------------------------------------------

async def test_html_telegram_refuses_is_sent_as_plain_text(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    """Bad HTML (an unsupported tag, an unclosed one) is sent as the same text without markup,
    link kept, and counted."""
    tg.add_chat(-1201, "channel")
    outcomes: list[SendOutcome] = []
    sender = make_sender(redis, await bot_factory(tg), limits=limits_for(FAST),
                         on_outcome=outcomes.append)
    html = '<p>تحليل</p> <b>غير مغلق <a href="https://example.org/a/1">اقرأ</a>'
    await queue_all(sender.queue, [post(-1201, 1, html=html)])
    async with running(sender):
        await tg.wait_for_messages(1, timeout=10)
    message = tg.messages[0]
    assert message.parse_mode is None
    assert "تحليل" in message.text and "https://example.org/a/1" in message.text
    assert sender.stats.plain_fallbacks == 1
    assert outcomes[0].status == "sent" and outcomes[0].reason == "plain text"


@pytest.fixture
async def image_server() -> AsyncIterator[str]:
    async def png(request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<html>not an image</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/photo.png", png)
    app.router.add_get("/page.png", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_a_photo_telegram_will_not_fetch_is_downloaded_and_uploaded(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory, image_server: str) -> None:
    """Telegram cannot fetch the photo URL: we download it (an image, under the size limit)
    and upload it, caption intact."""
    tg.add_chat(-1301, "channel")
    url = f"{image_server}/photo.png"
    tg.unreachable_urls.add(url)
    photos = PhotoFetcher(allow_networks=["127.0.0.0/8"])
    sender = Sender(DeliveryQueue(redis, "photo"),
                    TelegramTransport(await bot_factory(tg), photos=photos),
                    limits=limits_for(FAST), retry_base=0.05)
    try:
        await queue_all(sender.queue, [post(-1301, 1, photo_url=url)])
        async with running(sender):
            await tg.wait_for_messages(1, timeout=10)
    finally:
        await photos.aclose()
    message = tg.messages[0]
    assert message.method == "sendPhoto" and message.photo == PNG
    assert message.html == post(-1301, 1).html
    assert sender.stats.photo_uploads == 1
    assert (await sender.queue.sent_record("-1301", "article-1")).media == "photo"


@pytest.mark.parametrize("path", ["/page.png", "/missing.png", "/photo.png"])
async def test_a_photo_that_cannot_be_had_at_all_leaves_the_post_without_it(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory, image_server: str,
        path: str) -> None:
    """Not an image, not found, or (the last case) on a private address our downloader may not
    reach: the post goes out as text, without the photo, never dropped."""
    tg.add_chat(-1302, "channel")
    url = f"{image_server}{path}"
    tg.unreachable_urls.add(url)
    allowed = [] if path == "/photo.png" else ["127.0.0.0/8"]
    photos = PhotoFetcher(allow_networks=allowed)
    sender = Sender(DeliveryQueue(redis, "photo"),
                    TelegramTransport(await bot_factory(tg), photos=photos),
                    limits=limits_for(FAST), retry_base=0.05)
    try:
        await queue_all(sender.queue, [post(-1302, 1, photo_url=url)])
        async with running(sender):
            await tg.wait_for_messages(1, timeout=10)
    finally:
        await photos.aclose()
    assert tg.messages[0].method == "sendMessage"
    assert tg.messages[0].html == post(-1302, 1).html
    assert sender.stats.photos_dropped == 1


# -- edits -------------------------------------------------------------------------------------

async def test_a_changed_article_edits_the_posted_message(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    """After a post went out, queue_edit changes that message (text, or the caption of a photo
    post) instead of posting again; an edit to the same content is taken as done."""
    tg.add_chat(-1401, "channel")
    outcomes: list[SendOutcome] = []
    sender = make_sender(redis, await bot_factory(tg), limits=limits_for(FAST),
                         on_outcome=outcomes.append)
    await queue_all(sender.queue, [post(-1401, 1),
                                   post(-1401, 2, photo_url="https://example.org/p.jpg")])
    async with running(sender):
        await tg.wait_for_messages(2, timeout=10)
        assert await sender.queue.queue_edit("-1401", "article-1", "<b>مُحدَّث</b> 1")
        assert await sender.queue.queue_edit("-1401", "article-2", "<i>تعليق جديد</i>")
        await tg.wait_for(lambda: len(tg.edits) == 2, timeout=10)
        assert await sender.queue.queue_edit("-1401", "article-1", "<b>مُحدَّث</b> 1")
        await wait_until(lambda: _edited(outcomes, 3), 10, "three edits done")
    text, photo = tg.messages
    assert text.html == "<b>مُحدَّث</b> 1" and text.edit_count == 1
    assert photo.caption == "تعليق جديد" and photo.edit_count == 1
    assert {e.method for e in tg.edits} == {"editMessageText", "editMessageCaption"}
    assert len(tg.messages) == 2 and sender.stats.edited == 3


async def _edited(outcomes: list[SendOutcome], count: int) -> bool:
    return sum(o.status == "edited" for o in outcomes) == count


# -- shutdown ----------------------------------------------------------------------------------

async def test_stop_finishes_sends_in_flight_and_claims_nothing_more(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    """On stop, sends under way finish within the grace period, nothing new is claimed, no
    lease is left behind, and a later sender delivers the rest exactly once."""
    chats = list(range(9101, 9121))
    for chat in chats:
        tg.add_user(chat)
    tg.delay("sendMessage", 0.3)
    bot = await bot_factory(tg)
    sender = make_sender(redis, bot, limits=limits_for(FAST), concurrency=4, grace=5.0)
    await queue_all(sender.queue, [post(chat, 1) for chat in chats])
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop, block_ms=100))
    await tg.wait_for_messages(1, timeout=10)
    stop.set()
    started = time.monotonic()
    await asyncio.wait_for(task, 10)
    assert time.monotonic() - started < 2.0
    sent_now = len(tg.messages)
    assert sent_now < 20
    assert await redis.hlen(keys.delivery_owners()) == 0
    assert await sender.queue.depth() == 20 - sent_now
    tg.delay("sendMessage", 0)
    again = make_sender(redis, bot, "again", limits=limits_for(FAST))
    async with running(again):
        await tg.wait_for_messages(20, timeout=20)
    assert max(copies(tg).values()) == 1


async def test_stop_returns_sends_still_stuck_after_the_grace_period(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    """Sends that outlast the grace period are cancelled and their chats returned at once, not
    at the end of the lease; their resends count as possible duplicates."""
    chats = list(range(9201, 9205))
    for chat in chats:
        tg.add_user(chat)
    tg.delay("sendMessage", 3.0)
    bot = await bot_factory(tg)
    sender = make_sender(redis, bot, limits=limits_for(FAST), concurrency=4, grace=0.3,
                         lease_ms=60_000)
    await queue_all(sender.queue, [post(chat, 1) for chat in chats])
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop, block_ms=100))
    await wait_until(lambda: _leased(redis, 4), 10, "four sends under way")
    stop.set()
    started = time.monotonic()
    await asyncio.wait_for(task, 10)
    assert time.monotonic() - started < 1.5
    assert await redis.hlen(keys.delivery_owners()) == 0
    assert await sender.queue.depth() == 4


async def _leased(redis: aioredis.Redis, count: int) -> bool:
    return await redis.hlen(keys.delivery_owners()) == count


async def test_drain_sends_everything_queued_and_returns(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    """`drain` (the `once` command) delivers what is queued and returns 0 remaining."""
    tg.add_chat(-1501, "channel")
    tg.add_user(9301)
    sender = make_sender(redis, await bot_factory(tg), limits=limits_for(FAST))
    await queue_all(sender.queue, [post(-1501, 1), post(-1501, 2), post(9301, 3)])
    assert await asyncio.wait_for(sender.drain(timeout=20), 25) == 0
    assert len(tg.messages) == 3
