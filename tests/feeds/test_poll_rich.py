"""A channel with `format: rich` through the real poller, the local feed server and Redis: its
delivery carries a rich message whose body is the article's page (read as /push reads it),
the feed's content when the page fails (with a note `why` shows), the summary beside it as the
fallback; a summary channel's delivery carries none; an edit of a changed article carries the
new rich message; an invalid `format` is refused at load, naming the key."""
from __future__ import annotations

import html
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from config.schema import ConfigError, parse_config
from feeds.fetcher import Fetcher, FetchLimits, make_session
from model.delivery import EDIT_RICH, Delivery, SentRecord
from pipeline.poller import Poller
from store import keys, rich_memory
from store.redis_store import Store
from tests.fakes.feed_server import FeedItem, FeedServer
from tests.formatters.conftest import seed_text

LIMITS = FetchLimits(connect_timeout=2, read_timeout=2, total_timeout=5)
RICH, SUMMARY = "-1001000000011", "-1001000000012"


def page(title: str, paragraphs: list[str]) -> str:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return (f'<!doctype html><html lang="ar" dir="rtl"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title></head><body><nav><a href='/'>الرئيسية</a>"
            f"</nav><article><h1>{html.escape(title)}</h1>{body}</article>"
            f"<footer>جميع الحقوق محفوظة</footer></body></html>")


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with make_session(LIMITS) as session:
        yield Fetcher(session, LIMITS)


def config(server: FeedServer, **feed: Any) -> Any:
    return parse_config({
        "allow_networks": ["127.0.0.0/8"],
        "channels": [{"chat": RICH, "format": "rich", "edit_on_change": True},
                     {"chat": SUMMARY}],
        "feeds": [{"url": server.url("/feed.xml"), "channels": [RICH, SUMMARY],
                   "first_run": "all", **feed}]})


async def deliveries(redis: aioredis.Redis) -> list[Delivery]:
    return [Delivery.from_fields(f) for _, f in await redis.xrange(keys.deliveries())]


def texts(delivery: Delivery) -> str:
    return json.dumps(json.loads(delivery.rich)["blocks"], ensure_ascii=False)


async def test_rich_body_from_the_page_else_the_feed(
        redis: aioredis.Redis, feed_server: FeedServer, fetcher: Fetcher) -> None:
    paragraphs = [line.strip() for line in seed_text().splitlines() if len(line.strip()) > 80]
    feed_server.set_response("/a/1", body=page("تحليل أول", paragraphs[:8]),
                             headers={"Content-Type": "text/html; charset=utf-8"})
    feed_server.set_response("/a/2", status=404, body="not here")
    feed_server.add_feed("/feed.xml", title="مرصد", items=[
        FeedItem(guid="2", title="تحليل ثان", link=feed_server.url("/a/2"),
                 summary_html=f"<p>{html.escape(paragraphs[0])}</p>"),
        FeedItem(guid="1", title="تحليل أول", link=feed_server.url("/a/1"),
                 summary_html="<p>ملخص قصير من التغذية فقط.</p>")])
    poller = Poller(config(feed_server), Store(redis), fetcher)
    await poller.poll_all()
    queued = {(d.chat, d.url.rsplit("/", 1)[-1]): d for d in await deliveries(redis)}
    whole, from_feed = queued[(RICH, "1")], queued[(RICH, "2")]
    # The page's body: every paragraph of the article, none of its menu or footer.
    assert whole.rich and whole.rich_note == ""
    shown = texts(whole)
    assert all(p[:40] in shown for p in paragraphs[:8]) and "جميع الحقوق" not in shown
    assert "ملخص قصير" not in shown
    assert json.loads(whole.rich)["is_rtl"] is True
    assert whole.html and "<b>" in whole.html          # the summary, as the fallback
    # The page answered 404: the feed's content, and the note says why.
    assert from_feed.rich and paragraphs[0][:40] in texts(from_feed)
    assert from_feed.rich_note.startswith("body from the feed: the page could not be fetched")
    # The summary channel gets summaries.
    assert not queued[(SUMMARY, "1")].rich and not queued[(SUMMARY, "2")].rich
    assert poller.articles.pages is not None
    assert (poller.articles.pages.stats["page"], poller.articles.pages.stats["fetch_failed"]) \
        == (1, 1)


async def test_changed_article_queues_a_rich_edit(
        redis: aioredis.Redis, feed_server: FeedServer, fetcher: Fetcher) -> None:
    feed_server.set_response("/a/1", status=404, body="")
    feed_server.add_feed("/feed.xml", title="مرصد", items=[
        FeedItem(guid="1", title="تحليل أول", link=feed_server.url("/a/1"),
                 summary_html="<p>نص أول للتحليل يكفي ليكون فقرة في الرسالة.</p>")])
    poller = Poller(config(feed_server), Store(redis), fetcher)
    await poller.poll_all()
    [first] = [d for d in await deliveries(redis) if d.chat == RICH]
    await redis.delete(keys.deliveries())
    await redis.set(keys.sent(RICH, first.uid), SentRecord(41, RICH, "rich").to_json())
    feed_server.set_items("/feed.xml", [
        FeedItem(guid="1", title="تحليل أول (محدّث)", link=feed_server.url("/a/1"),
                 summary_html="<p>نص معدّل للتحليل بعد التحديث.</p>")])
    await poller.poll_all()
    [edit] = [d for d in await deliveries(redis) if d.chat == RICH]
    assert (edit.kind, edit.message_id) == (EDIT_RICH, 41)
    assert "نص معدّل" in texts(edit) and "محدّث" in texts(edit)


async def test_turning_the_option_off_forgets_a_refusal(
        redis: aioredis.Redis, feed_server: FeedServer, fetcher: Fetcher) -> None:
    feed_server.add_feed("/feed.xml", title="مرصد", items=[])
    await rich_memory.remember(redis, SUMMARY, rich_memory.refusal_now("refused", "x", "s"))
    await rich_memory.remember(redis, RICH, rich_memory.refusal_now("refused", "x", "s"))
    await Poller(config(feed_server), Store(redis), fetcher).poll_all()
    assert await rich_memory.recall(redis, SUMMARY, "s") is None     # summary now: forgotten
    assert await rich_memory.recall(redis, RICH, "s") is not None    # still rich: kept


def test_invalid_format_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"channels": [{"chat": RICH, "format": "instant_view"}]})
    assert "format" in str(caught.value) and "instant_view" in str(caught.value)
