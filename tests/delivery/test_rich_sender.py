"""Rich deliveries through the real sender and PTB against the strict fake Bot API: one
sendRichMessage per article (is_rtl, blocks in order), edits with editMessageText +
rich_message, the HTML summary when Telegram refuses (older server, a limit), owners told once,
the chat remembered, and no loss or second copy across a worker restart."""
from __future__ import annotations

import html
import io
import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
import redis.asyncio as aioredis

from bot.why import why
from config.schema import BotConfig
from delivery.preview import PreviewTransport
from delivery.queue import DeliveryQueue
from delivery.rich_transport import RichTransport
from delivery.sender import Sender
from delivery.telegram_transport import TelegramTransport
from formatters.post import render_post
from formatters.rich import CONTINUE_LABEL, READ_LABEL, build_rich
from model.delivery import EDIT_RICH, Delivery
from ops.notices import ChatNotifier
from ops.status_data import RedisStatusSource
from ops.status_page import render_status_page
from pipeline.render import rich_json
from sandbox.telegram_api import FakeTelegram
from store import fates, keys, rich_memory
from store.fates import Fate, Fates
from store.redis_store import Store
from tests.delivery.conftest import TOKEN, queue_all, running, wait_until
from tests.formatters.conftest import FIRST_SEEN, article, channel, seed_html, strip_marks

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

CHANNEL = -1001555555555
ENGLISH = -1001666666666
OWNER = 7001
SERVER = "http://fake-bot-api"
CONFIG = BotConfig.model_validate({
    "owners": [OWNER],
    "channels": [{"chat": str(CHANNEL), "format": "rich"},
                 {"chat": str(ENGLISH), "language": "en", "format": "rich"}]})


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        fake.add_chat(CHANNEL, "channel", username="nashir_rich_ar")
        fake.add_chat(ENGLISH, "channel", username="nashir_rich_en")
        fake.add_user(OWNER)
        yield fake


def rich_delivery(chat: int, n: int, **changes: object) -> Delivery:
    """The seed article (n-th copy) for a rich channel, as the pipeline queues it."""
    language = "en" if chat == ENGLISH else "ar"
    values: dict[str, object] = {"content_html": seed_html(), "image_url": None, **changes}
    item = article(uid=f"rich-{n}", url=f"https://example.org/analysis/{n}", **values)
    options = channel(language=language, format="rich")
    post = render_post(item, options, timezone="Asia/Riyadh", first_seen=FIRST_SEEN)
    rich = build_rich(item, options, timezone="Asia/Riyadh", first_seen=FIRST_SEEN)
    return Delivery(chat=str(chat), uid=item.uid, url=item.url, html=post.html,
                    language=language, article_time=1_758_186_000.0 + n,
                    queued_at=time.time(), rich=rich_json(rich))


async def sender_for(redis: aioredis.Redis, tg: FakeTelegram, bot_factory,
                     consumer: str = "rich") -> Sender:
    transport = RichTransport(TelegramTransport(await bot_factory(tg)), redis, server=SERVER)
    transport.on_fallback = ChatNotifier(CONFIG, Store(redis)).rich_refused
    return Sender(DeliveryQueue(redis, consumer), transport, retry_base=0.05, retry_cap=0.5,
                  lease_ms=5_000)


def rich_sends(tg: FakeTelegram) -> list[object]:
    return [r for r in tg.requests if r.method == "sendRichMessage"]


async def test_rich_channel_gets_one_rich_message_right_to_left_in_order(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    arabic, english = rich_delivery(CHANNEL, 1), rich_delivery(ENGLISH, 2)
    sender = await sender_for(redis, tg, bot_factory)
    await queue_all(sender.queue, [arabic, english])
    async with running(sender):
        await tg.wait_for_messages(2)
    by_chat = {m.chat_id: m for m in tg.messages}
    assert len(tg.messages) == 2 and all(m.method == "sendRichMessage" for m in tg.messages)
    sent_ar = by_chat[CHANNEL].rich
    assert sent_ar is not None and sent_ar["is_rtl"] is True
    assert sent_ar["blocks"] == json.loads(arabic.rich)["blocks"]   # every block, in order
    kinds = [b["type"] for b in sent_ar["blocks"]]
    assert kinds[:2] == ["heading", "footer"] and kinds[-1] == "buttons"
    assert "paragraph" in kinds and "pullquote" in kinds
    assert READ_LABEL["ar"] in sent_ar["blocks"][-1]["buttons"][0]["text"]
    sent_en = by_chat[ENGLISH].rich
    assert sent_en is not None and "is_rtl" not in sent_en
    record = await sender.queue.sent_record(str(CHANNEL), arabic.uid)
    assert record is not None and record.media == "rich"
    assert record.message_id == by_chat[CHANNEL].message_id
    assert sender.transport.stats.sent == 2  # type: ignore[attr-defined]


async def test_changed_article_edits_the_rich_message(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    first = rich_delivery(CHANNEL, 1)
    sender = await sender_for(redis, tg, bot_factory)
    await queue_all(sender.queue, [first])
    async with running(sender):
        [message] = await tg.wait_for_messages(1)
        await wait_until(lambda: _recorded(sender.queue, first), what="the sent record")
        changed = rich_delivery(CHANNEL, 1, title="عنوان معدّل للتحليل")
        assert await sender.queue.queue_edit(str(CHANNEL), first.uid, changed.html,
                                             url=first.url, rich=changed.rich)
        await tg.wait_for(lambda: tg.edits or None, 10, "the edit")
    [edit] = tg.edits
    assert edit.method == "editMessageText" and edit.message_id == message.message_id
    assert edit.rich is not None and edit.text is None
    assert "عنوان معدّل" in json.dumps(edit.rich["blocks"][0], ensure_ascii=False)
    assert [m.method for m in tg.messages] == ["sendRichMessage"]    # edited, not re-sent
    assert sender.transport.stats.edited == 1  # type: ignore[attr-defined]


async def test_older_server_gets_the_summary_owners_told_once_next_goes_straight(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    tg.rich_messages = False      # a Bot API server before 10.1: sendRichMessage is a 404
    first, second = rich_delivery(CHANNEL, 1), rich_delivery(CHANNEL, 2)
    sender = await sender_for(redis, tg, bot_factory)
    await queue_all(sender.queue, [first])
    async with running(sender):
        await tg.wait_for_messages(1, chat=CHANNEL)
        await tg.wait_for_messages(1, chat=OWNER)
        await queue_all(sender.queue, [second])
        await tg.wait_for_messages(2, chat=CHANNEL)
        await wait_until(lambda: _fate_reason(redis, second), what="the second fate")
    posts = tg.messages_to(CHANNEL)
    assert [m.method for m in posts] == ["sendMessage", "sendMessage"]
    assert [m.html for m in posts] == [first.html, second.html]    # the HTML summaries
    assert len(rich_sends(tg)) == 1           # the second article did not try again
    notices = tg.messages_to(OWNER)
    assert len(notices) == 1 and str(CHANNEL) in (notices[0].html or "")
    assert "analysis/1" in html.unescape(notices[0].html or "")
    refusal = await rich_memory.recall(redis, str(CHANNEL), SERVER)
    assert refusal is not None and refusal.kind == "unsupported"
    assert await rich_memory.recall(redis, str(CHANNEL), "http://another-server") is None
    for delivery in (first, second):
        [record] = await Fates(redis).of_article(delivery.url, delivery.uid)
        assert (record.fate, record.reason) == (Fate.POSTED, fates.RICH_FALLBACK)
        assert "unsupported" in record.detail
    stats = sender.transport.stats  # type: ignore[attr-defined]
    assert (stats.fallbacks["unsupported"], stats.fallbacks["remembered"]) == (1, 1)
    for lang, words in (("en", "as the HTML summary: Telegram refused the rich message"),
                        ("ar", "ملخصاً بصيغة HTML: رفض تيليجرام الرسالة الغنية")):
        answer = await why(redis, CONFIG, second.url, lang)
        lines = [strip_marks(line) for line in answer.lines]
        assert any(words in line and "unsupported" in line for line in lines), lines
    # The summary went as an ordinary post: a later change edits it as text.
    record = await sender.queue.sent_record(str(CHANNEL), first.uid)
    assert record is not None and record.media == "text"


async def _fate_reason(redis: aioredis.Redis, delivery: Delivery) -> str:
    records = await Fates(redis).of_article(delivery.url, delivery.uid)
    return records[0].reason if records else ""


async def test_limit_refusal_sends_the_summary(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    tg.fail_next("sendRichMessage", 400, description="Bad Request: rich message text is too "
                                                      "long")
    delivery = rich_delivery(CHANNEL, 1)
    sender = await sender_for(redis, tg, bot_factory)
    await queue_all(sender.queue, [delivery])
    async with running(sender):
        [message] = await tg.wait_for_messages(1, chat=CHANNEL)
        await tg.wait_for_messages(1, chat=OWNER)
    assert message.method == "sendMessage" and message.html == delivery.html
    refusal = await rich_memory.recall(redis, str(CHANNEL), SERVER)
    assert refusal is not None and refusal.kind == "refused"
    assert "too long" in refusal.reason
    # Switching the channel to summaries and back forgets it (the poller does this on load).
    await rich_memory.forget_unless_rich(redis, [], [str(CHANNEL)])
    assert await redis.exists(keys.rich_off(str(CHANNEL))) == 0


async def test_too_long_article_is_cut_at_a_block_with_a_continue_button(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    """A piece far over Telegram's 32,768 characters: the sender's message is accepted by the
    fake (which enforces the limit), ends on a whole paragraph and says "continue"."""
    paragraph = ("يرى محللون أن التحولات الإقليمية الأخيرة تفرض على الأطراف مراجعة حساباتها "
                 "بعمق، وأن كلفة الانتظار باتت أعلى من كلفة المبادرة. ") * 4
    body = "".join(f"<p>{n}. {paragraph}</p>" for n in range(150))
    delivery = rich_delivery(CHANNEL, 1, content_html=body)
    blocks = json.loads(delivery.rich)["blocks"]
    sender = await sender_for(redis, tg, bot_factory)
    await queue_all(sender.queue, [delivery])
    async with running(sender):
        [message] = await tg.wait_for_messages(1, chat=CHANNEL)
    assert message.method == "sendRichMessage" and message.rich is not None
    sent = message.rich["blocks"]
    assert sent == blocks
    assert CONTINUE_LABEL["ar"] in sent[-1]["buttons"][0]["text"]
    paragraphs = [b["text"] for b in sent if b["type"] == "paragraph"]
    assert 10 < len(paragraphs) < 150
    assert all(p.rstrip().endswith(paragraph.rstrip()[-20:]) for p in paragraphs)  # whole


async def test_no_loss_and_no_second_copy_across_a_worker_restart(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory) -> None:
    deliveries = [rich_delivery(CHANNEL, n) for n in range(1, 7)]
    first = await sender_for(redis, tg, bot_factory, consumer="one")
    await queue_all(first.queue, deliveries)
    async with running(first):
        await tg.wait_for_messages(2, chat=CHANNEL)
    # A new worker (as after a restart) takes over what is left, and only that.
    second = await sender_for(redis, tg, bot_factory, consumer="two")
    async with running(second):
        await tg.wait_for_messages(6, chat=CHANNEL)
        await wait_until(lambda: _queue_empty(second.queue), what="an empty queue")
    posts = tg.messages_to(CHANNEL)
    assert len(posts) == 6 and all(m.method == "sendRichMessage" for m in posts)
    links = [m.rich["blocks"][-1]["buttons"][0]["url"] for m in posts if m.rich]
    assert sorted(links) == sorted(d.url for d in deliveries)


async def _recorded(queue: DeliveryQueue, delivery: Delivery) -> bool:
    return await queue.sent_record(delivery.chat, delivery.uid) is not None


async def _queue_empty(queue: DeliveryQueue) -> bool:
    return await queue.depth() == 0


async def test_edit_queued_for_a_rich_message_is_an_edit_rich(redis: aioredis.Redis) -> None:
    """queue_edit picks the kind from the sent record: a rich message is edited as one."""
    queue = DeliveryQueue(redis, "edits")
    await redis.set(keys.sent(str(CHANNEL), "rich-1"),
                    json.dumps({"message_id": 5, "chat": str(CHANNEL), "media": "rich"}))
    assert await queue.queue_edit(str(CHANNEL), "rich-1", "<b>x</b>", rich='{"blocks":[]}')
    [(_, [(_, fields)])] = await redis.xread({keys.deliveries(): "0"})
    queued = Delivery.from_fields(fields)
    assert (queued.kind, queued.message_id, queued.rich) == (EDIT_RICH, 5, '{"blocks":[]}')
    assert replace(queued, rich="").is_edit


async def test_status_page_and_dry_run_preview_draw_the_rich_message(
        redis: aioredis.Redis, tg: FakeTelegram, bot_factory, tmp_path) -> None:
    """The status page's last posts show the rich message as sent (right to left, heading,
    pull quote, footer, button); the dry-run preview page draws a rich delivery the same way;
    a summary that fell back is shown as the summary."""
    delivery = rich_delivery(CHANNEL, 1)
    sender = await sender_for(redis, tg, bot_factory)
    await queue_all(sender.queue, [delivery])
    async with running(sender):
        await tg.wait_for_messages(1, chat=CHANNEL)
        await wait_until(lambda: _recorded(sender.queue, delivery), what="the sent record")
    snap = await RedisStatusSource(redis, CONFIG, dry_run=False).snapshot()
    [post] = snap.posts
    assert post.rich is not None and post.rich["blocks"] == json.loads(delivery.rich)["blocks"]
    page = render_status_page(snap)
    preview = PreviewTransport(tmp_path, io.StringIO())
    await preview.send(delivery)
    await preview.send(replace(delivery, rich="", uid="summary"))
    await preview.aclose()
    drawn = (tmp_path / "index.html").read_text(encoding="utf-8")
    for shown in (page, drawn):
        article_html = shown[shown.index('<article class="rich" dir="rtl">'):]
        assert "<h1>" in article_html and '<aside class="pullquote">' in article_html
        assert "<footer>" in article_html and '<nav class="buttons">' in article_html
        assert 'href="https://example.org/analysis/1"' in article_html
    assert drawn.count('<article class="rich"') == 1     # the summary is drawn as a post
    record = json.loads((tmp_path / "posts.jsonl").read_text().splitlines()[0])
    assert record["html"] == delivery.html and record["rich"]["is_rtl"] is True
