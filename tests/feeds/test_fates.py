"""Every article accounted for: each item the poller reads ends in a recorded fate per chat
(queued, held while paused, skipped with its reason), one log line per skip with the link,
`why` answers from it, and duplicates are merged only when they are duplicates. Real poller,
local feed server, real Redis."""
from __future__ import annotations

import logging
import random
from pathlib import Path

import pytest

from bot.why import as_plain, why
from delivery.queue import DeliveryQueue
from feeds.parser import parse_feed
from model.article import Article
from pipeline.identity import sketch_similarity, text_sketch
from store import keys
from store.fates import Fate, Fates
from store.registry import FeedRegistry
from tests.conftest import CORPUS
from tests.fakes.feed_server import FeedItem
from tests.feeds.conftest import BASE, CHAT_A, CHAT_B, Rig, item

WORDS = ["الاقتصاد", "السياسة", "الطاقة", "الموانئ", "التجارة", "النفط", "الغاز", "المياه",
         "الزراعة", "الصناعة", "التعليم", "الصحة", "الإعلام", "الثقافة", "الرياضة", "السياحة",
         "المرأة", "الشباب", "القضاء", "البرلمان", "الانتخابات", "الحدود", "اللاجئون",
         "المساعدات", "الحكومة", "المعارضة", "الجيش", "الأمن", "المدينة", "القرية", "الشمال",
         "الجنوب", "الشرق", "الغرب", "الموازنة", "الضرائب", "الأسعار", "الأجور", "البطالة",
         "الاستثمار", "المصارف", "العملة", "الديون", "الصادرات", "الواردات", "القمح", "الخبز",
         "الكهرباء", "الوقود", "النقل", "الطرق", "المطار", "الجامعة", "المدارس", "المستشفى",
         "الدواء", "الأطباء", "الصحفيون", "الكتاب", "الشعر", "المسرح", "السينما"]


def body(n: int) -> str:
    """A distinct paragraph of twenty words for article `n`: different articles share almost
    no three-word run, as different texts do."""
    rng = random.Random(n)
    return f"<p>تقرير رقم {n}: " + " ".join(rng.choice(WORDS) for _ in range(20)) + ".</p>"


async def fates_of(rig: Rig, url: str) -> dict[str, tuple[Fate, str]]:
    return {r.chat: (r.fate, r.reason) for r in await Fates(rig.redis).of_article(url)}


async def test_every_item_ends_in_a_recorded_fate_per_chat(rig: Rig, caplog) -> None:
    """First poll (first_run: latest): the older items are skipped as before the first run in
    both chats, the newest queued; later a keyword-excluded item is skipped naming the keyword,
    an item with nothing to show is skipped as unrenderable; each skip is one log line with
    the link; counts and the latest-skipped list follow; `why` says it in Arabic and English."""
    rig.server.add_feed("/a.xml", items=[item(3), item(2), item(1)])
    config = rig.config([rig.feed("/a.xml", chats=(CHAT_A, CHAT_B), exclude=["رياضة"])])
    poller = rig.poller(config)
    with caplog.at_level(logging.INFO):
        await poller.poll_all()
    old, newest = "https://example.org/analysis/1", "https://example.org/analysis/3"
    assert await fates_of(rig, old) == {CHAT_A: (Fate.SKIPPED, "first_run"),
                                        CHAT_B: (Fate.SKIPPED, "first_run")}
    assert await fates_of(rig, newest) == {CHAT_A: (Fate.QUEUED, ""), CHAT_B: (Fate.QUEUED, "")}
    assert any("skipped (first_run)" in r.getMessage() and old in r.getMessage()
               for r in caplog.records)

    rig.server.add_item("/a.xml", item(4, title="نتائج الدوري: رياضة وأهداف"))
    rig.server.add_item("/a.xml", FeedItem(guid="empty-5", link="https://example.org/empty/5"))
    caplog.clear()
    with caplog.at_level(logging.INFO):
        outcomes = await poller.poll_all()
    excluded, empty = "https://example.org/analysis/4", "https://example.org/empty/5"
    assert await fates_of(rig, excluded) == {CHAT_A: (Fate.SKIPPED, "filter_exclude"),
                                             CHAT_B: (Fate.SKIPPED, "filter_exclude")}
    assert await fates_of(rig, empty) == {CHAT_A: (Fate.SKIPPED, "unrenderable"),
                                          CHAT_B: (Fate.SKIPPED, "unrenderable")}
    lines = [r.getMessage() for r in caplog.records if "skipped (" in r.getMessage()]
    assert any(excluded in line and "رياضة" in line for line in lines), lines
    assert any(empty in line and "unrenderable" in line for line in lines), lines
    assert outcomes[0].fates[("skipped", "filter_exclude")] == 2
    latest = await Fates(rig.redis).latest_skipped()
    assert {r.url for r in latest} == {excluded, empty}   # first-run skips are no news

    answer = await why(rig.redis, config, excluded + "?utm_source=rss", "en")
    text = as_plain(answer.lines)
    assert answer.found and "exclude keyword «رياضة»" in text and CHAT_A in text
    arabic = as_plain((await why(rig.redis, config, old, "ar")).lines)
    assert "first_run" in arabic and "تُرك" in arabic
    never = await why(rig.redis, config, "https://example.org/never-published", "en")
    assert not never.found and "Never seen" in as_plain(never.lines)


async def test_bare_guids_of_two_feeds_are_two_articles(rig: Rig) -> None:
    """Two feeds both use <guid isPermaLink="false">1001</guid> for different articles into one
    channel: both are posted (the guid is scoped to its feed)."""
    rig.server.add_feed("/a.xml", items=[FeedItem(guid="1001", title="مقال الموقع الأول",
                                                  summary_html=body(1))])
    rig.server.add_feed("/b.xml", items=[FeedItem(guid="1001", title="مقال الموقع الثاني",
                                                  summary_html=body(2))])
    poller = rig.poller(rig.config([rig.feed("/a.xml", first_run="all"),
                                    rig.feed("/b.xml", first_run="all")]))
    await poller.poll_all()
    assert len(await rig.posted(CHAT_A)) == 2


async def test_a_guid_that_is_a_web_address_stays_one_article_across_feeds(rig: Rig) -> None:
    """An absolute-URL guid names the article everywhere: a second feed carrying it (with no
    link of its own) is a duplicate by link, and `why` names the first feed."""
    guid = "https://example.org/analysis/wire-1"
    rig.server.add_feed("/a.xml", items=[FeedItem(guid=guid, title="تقرير", summary_html=body(1))])
    rig.server.add_feed("/b.xml", items=[FeedItem(guid=guid, title="تقرير",
                                                  summary_html=body(9))])
    feeds = [rig.feed("/a.xml", first_run="all"), rig.feed("/b.xml", first_run="all")]
    poller = rig.poller(rig.config(feeds[:1]))
    await poller.poll_all()
    poller = rig.poller(rig.config(feeds))
    await poller.poll_all()
    assert len(await rig.posted(CHAT_A)) == 1


async def test_many_feeds_with_generic_titles_are_all_posted(rig: Rig) -> None:
    """120 feeds into one channel, each publishing a different article under one of five
    generic titles ("افتتاحية العدد", "Weekly briefing"…): all 120 are posted. One wire story
    carried word for word by a second site is merged, and its fate names the first copy."""
    generic = ["افتتاحية العدد", "قراءة في الصحف", "النشرة الصباحية", "Weekly briefing",
               "كلمة العدد"]
    feeds = []
    for n in range(120):
        path = f"/f{n}.xml"
        rig.server.add_feed(path, items=[FeedItem(
            guid=f"g{n}", title=generic[n % 5], link=f"https://site{n}.example/a/{n}",
            summary_html=body(n), published=BASE)])
        feeds.append(rig.feed(path, first_run="all"))
    wire = body(500)
    rig.server.add_feed("/w1.xml", items=[FeedItem(guid="w1", title="عاجل: اتفاق تجاري جديد",
                                                   link="https://one.example/w", summary_html=wire,
                                                   published=BASE)])
    poller = rig.poller(rig.config([*feeds, rig.feed("/w1.xml", first_run="all")]))
    await poller.poll_all(concurrency=20)
    rig.server.add_feed("/w2.xml", items=[FeedItem(guid="w2", title="عاجل - اتفاق تجاري جديد",
                                                   link="https://two.example/w",
                                                   summary_html=wire + "<p>المصدر: وكالات.</p>",
                                                   published=BASE)])
    poller = rig.poller(rig.config([*feeds, rig.feed("/w1.xml", first_run="all"),
                                    rig.feed("/w2.xml", first_run="all")]))
    await poller.poll_all(concurrency=20)
    assert len(await rig.posted(CHAT_A)) == 121
    [record] = await Fates(rig.redis).of_article("https://two.example/w")
    assert (record.fate, record.reason) == (Fate.SKIPPED, "duplicate_story")
    assert record.detail.startswith("https://one.example/w")


async def test_a_paused_channel_defers_its_posts_and_sends_them_on_resume(rig: Rig) -> None:
    """Items for a channel paused by command wait in the held stream (fate: held, paused);
    resuming the channel queues them again, and the feed is polled again at once."""
    rig.server.add_feed("/a.xml", items=[item(1)])
    config = rig.config([rig.feed("/a.xml", first_run="all")])
    registry = FeedRegistry(rig.redis, config)
    from store.registry import RegistrySource

    await registry.set_channel_paused(CHAT_A, True)
    poller = rig.poller(config, config_source=RegistrySource(rig.redis))
    await poller.poll_all()
    url = "https://example.org/analysis/1"
    assert await fates_of(rig, url) == {CHAT_A: (Fate.HELD, "paused")}
    assert await rig.posted(CHAT_A) == []
    queue = DeliveryQueue(rig.redis, "test")
    assert [p.reason for p in await queue.held_posts(CHAT_A)] == ["paused"]
    await registry.set_channel_paused(CHAT_A, False)
    await poller.refresh()
    assert await queue.held_posts(CHAT_A) == []
    assert await rig.redis.zcard(keys.delivery_chat_queue(CHAT_A)) == 1


async def test_resume_of_a_feed_polls_it_now(rig: Rig) -> None:
    """/resume (the registry) puts a paused feed's next poll at once, not an hour away."""
    rig.server.add_feed("/a.xml", items=[item(1)])
    config = rig.config([rig.feed("/a.xml")])
    registry = FeedRegistry(rig.redis, config)
    feed_url = config.feeds[0].url
    await registry.set_feed_paused(feed_url, True)
    await rig.redis.zadd(keys.feeds_due(), {keys_feed_id(feed_url): 9_999_999_999})
    await registry.set_feed_paused(feed_url, False)
    due = await rig.redis.zscore(keys.feeds_due(), keys_feed_id(feed_url))
    assert due is not None and due < 9_999_999_999


def keys_feed_id(url: str) -> str:
    from model.article import feed_id_for

    return feed_id_for(url)


async def test_a_quiet_feed_keeps_its_memory(rig: Rig) -> None:
    """A feed that answers 304 for months keeps its seen set alive (its expiry is renewed by
    each answer), so its old items never come back as new."""
    rig.server.add_feed("/a.xml", items=[item(1)])
    config = rig.config([rig.feed("/a.xml")])
    poller = rig.poller(config)
    await poller.poll_all()
    seen = keys.feed_seen(keys_feed_id(config.feeds[0].url))
    await rig.redis.expire(seen, 5)
    rig.clock.now += 3600
    await poller.poll_all()   # 304
    assert await rig.redis.ttl(seen) > keys.SEEN_TTL_S - 60


async def test_server_hints_that_stretch_the_interval_are_said_once(rig: Rig, caplog) -> None:
    """A server asking (Cache-Control max-age) for 2 hours between polls of a 10-minute feed:
    honoured, logged once with the cause, and the effective interval and cause stored."""
    rig.server.add_feed("/a.xml", items=[item(1)], ttl_minutes=120)
    config = rig.config([rig.feed("/a.xml", interval="10m")])
    poller = rig.poller(config)
    with caplog.at_level(logging.WARNING):
        await poller.poll_all()
        rig.server.add_item("/a.xml", item(2))
        rig.clock.now += 7200
        await poller.poll_all()
    said = [r for r in caplog.records if "less often than configured" in r.getMessage()]
    assert len(said) == 1 and "ttl" in said[0].getMessage()
    state = await rig.state(config.feeds[0].url)
    assert (float(state["interval"]), state["interval_cause"]) == (7200.0, "ttl")


def test_one_story_on_two_sites_is_merged_and_different_texts_are_not() -> None:
    """On real corpus feeds: every article published in two feeds of the same site (the same
    story, two formats) has text sketches at or above the threshold; different articles that
    share a title ("Star City") are far below it; two different real Arabic articles given the
    same generic title ("افتتاحية") are too."""
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not at {CORPUS}; this test reads real feeds from it")
    pairs = [("real/NetNewsWire/DaringFireball.atom", "real/NetNewsWire/DaringFireball.json"),
             ("real/NetNewsWire/allthis.atom", "real/NetNewsWire/allthis.json"),
             ("real/feedjira/json_feed.json", "real/NetNewsWire/inessential.json")]
    same = []
    for first, second in pairs:
        a = {x.title: x for x in _articles(CORPUS / first)}
        b = {x.title: x for x in _articles(CORPUS / second)}
        for title in a.keys() & b.keys():
            sa, sb = text_sketch(a[title]), text_sketch(b[title])
            if sa and sb:
                same.append(sketch_similarity(sa, sb))
    assert len(same) >= 30 and min(same) >= 0.5, (len(same), min(same, default=None))
    star = [x for f in ("real/XML_Feed_Parser/otherlanguage.xml",
                        "real/XML_Feed_Parser/bug12844.xml")
            for x in _articles(CORPUS / f) if x.title == "Star City"]
    if len(star) == 2 and text_sketch(star[0]) and text_sketch(star[1]):
        assert sketch_similarity(text_sketch(star[0]), text_sketch(star[1])) < 0.2
    arabic = [a for f in sorted((CORPUS / "real" / "rtl-feeds").glob("*"))[:6]
              for a in _articles(f)[:3] if text_sketch(a)]
    assert len(arabic) >= 10
    for x, y in zip(arabic, arabic[1:], strict=False):
        assert sketch_similarity(text_sketch(x), text_sketch(y)) < 0.2, (x.url, y.url)


def _articles(path: Path) -> list[Article]:
    try:
        return list(parse_feed(path.read_bytes(), feed_url="https://corpus.example/feed").articles)
    except Exception:   # noqa: BLE001 - a file the parser refuses has no pair to offer
        return []
