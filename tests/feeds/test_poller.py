"""The poller against the local feed server and a real Redis: requests, parses, schedule,
health, first runs, deduplication, filters and order. Nothing is patched: the parse function is
injected to count parses, and the clock is injected to move time."""
from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis

from feeds.parser import parse_feed
from feeds.schedule import HealthEvent, SchedulePolicy
from model.article import feed_id_for
from model.delivery import EDIT_TEXT, Delivery, SentRecord
from model.errors import FetchErrorKind
from ops.notices import HealthNotifier
from store import keys
from tests.feeds.conftest import CHAT_A, CHAT_B, Rig, item

OWNER = 111


# -- requests and parses ------------------------------------------------------------------------

async def test_not_modified_costs_one_request_and_no_parse(rig: Rig) -> None:
    """A feed answering 304 costs one request, no parse and queues nothing."""
    rig.server.add_feed("/a.xml", items=[item(1), item(2)])
    poller = rig.poller(rig.config([rig.feed("/a.xml")]))
    first = await poller.poll_all()
    assert first[0].status == "new" and rig.parse.calls == 1
    second = await poller.poll_all()
    assert second[0].status == "unchanged"
    assert rig.server.hits("/a.xml") == 2 and rig.parse.calls == 1
    assert rig.server.requests_for("/a.xml")[-1].headers.get("If-None-Match")


async def test_same_body_without_validators_is_not_parsed(rig: Rig) -> None:
    """A server that ignores conditional GET sends the same body: one request, no parse."""
    rig.server.add_feed("/a.xml", items=[item(1)], send_validators=False)
    poller = rig.poller(rig.config([rig.feed("/a.xml")]))
    await poller.poll_all()
    outcome = (await poller.poll_all())[0]
    assert outcome.status == "unchanged" and outcome.parsed == ""
    assert rig.server.hits("/a.xml") == 2 and rig.parse.calls == 1


async def test_new_body_with_only_known_items_is_not_parsed(rig: Rig) -> None:
    """Items reordered (a new body, the same items) cost no parse and queue nothing."""
    rig.server.add_feed("/a.xml", items=[item(1), item(2), item(3)], send_validators=False)
    poller = rig.poller(rig.config([rig.feed("/a.xml", first_run="all")]))
    await poller.poll_all()
    rig.server.set_items("/a.xml", [item(2), item(3), item(1)])
    outcome = (await poller.poll_all())[0]
    assert outcome.status == "unchanged" and rig.parse.calls == 1
    assert len(await rig.posted(CHAT_A)) == 3


async def test_only_new_items_are_parsed(rig: Rig) -> None:
    """A new item is parsed from a small document of the feed's header and that item alone."""
    rig.server.add_feed("/a.xml", items=[item(n) for n in range(10, 0, -1)])
    poller = rig.poller(rig.config([rig.feed("/a.xml")]))
    await poller.poll_all()
    rig.server.add_item("/a.xml", item(11))
    outcome = (await poller.poll_all())[0]
    assert outcome.parsed == "partial" and outcome.new_articles == 1 and outcome.queued == 1
    small = rig.parse.bodies[-1]
    assert small.count(b"<item>") == 1 and b"item-11" in small
    assert (await rig.deliveries())[-1].url == "https://example.org/analysis/11"


async def test_shared_links_force_a_whole_parse(rig: Rig) -> None:
    """When items share one link (the home page), new items are parsed with the whole feed,
    so that link never becomes an identity: two new items with it are both posted."""
    home = "https://example.org/"
    rig.server.add_feed("/a.xml", items=[item(2, link=home), item(1, link=home)])
    poller = rig.poller(rig.config([rig.feed("/a.xml")]))
    await poller.poll_all()
    rig.server.add_item("/a.xml", item(3, link=home))
    first = (await poller.poll_all())[0]
    rig.server.add_item("/a.xml", item(4, link=home))
    second = (await poller.poll_all())[0]
    assert (first.parsed, second.parsed) == ("full", "full")
    assert len(await rig.posted(CHAT_A)) == 3


async def test_feeds_can_be_parsed_in_worker_processes(rig: Rig) -> None:
    """With parse_workers, whole and partial parses run in another process, with the same
    result; close() stops that process."""
    rig.server.add_feed("/a.xml", items=[item(2), item(1)])
    poller = rig.poller(rig.config([rig.feed("/a.xml", first_run="all")]), parse=parse_feed,
                        parse_workers=1)
    try:
        first = (await poller.poll_all())[0]
        rig.server.add_item("/a.xml", item(3))
        second = (await poller.poll_all())[0]
    finally:
        await poller.close()
    assert (first.parsed, first.queued, second.parsed, second.queued) == ("full", 2, "partial", 1)
    assert [d.url[-1] for d in await rig.deliveries()] == ["1", "2", "3"]


# -- redirects, errors, schedule, health --------------------------------------------------------

async def test_permanent_redirect_moves_the_feed_and_temporary_does_not(rig: Rig) -> None:
    """After a 301 the feed is fetched at its new address; after a 302, at the old one."""
    rig.server.add_feed("/new.xml", items=[item(1)])
    rig.server.redirect("/old.xml", "/new.xml", status=301)
    rig.server.add_feed("/b.xml", items=[item(2)])
    rig.server.redirect("/moving.xml", "/b.xml", status=302)
    poller = rig.poller(rig.config([rig.feed("/old.xml"), rig.feed("/moving.xml")]))
    await poller.poll_all()
    assert (await rig.state(rig.server.url("/old.xml")))["current_url"] == rig.server.url(
        "/new.xml")
    assert "current_url" not in await rig.state(rig.server.url("/moving.xml"))
    await poller.poll_all()
    assert rig.server.hits("/old.xml") == 1 and rig.server.hits("/new.xml") == 2
    assert rig.server.hits("/moving.xml") == 2 and rig.server.hits("/b.xml") == 2


@pytest.mark.parametrize(("status", "kind"), [
    (404, FetchErrorKind.NOT_FOUND), (410, FetchErrorKind.GONE),
    (500, FetchErrorKind.HTTP_ERROR)])
async def test_error_statuses_back_off(rig: Rig, status: int, kind: FetchErrorKind) -> None:
    """An error status is recorded with its reason; the next attempt backs off exponentially."""
    rig.server.set_response("/a.xml", status=status, body="no")
    url = rig.server.url("/a.xml")
    poller = rig.poller(rig.config([rig.feed("/a.xml", interval="10m")]))
    outcome = (await poller.poll_all())[0]
    assert outcome.status == "error" and outcome.error_kind == kind
    state = await rig.state(url)
    assert state["failures"] == "1" and state["health"] == "failing" and state["last_error"]
    assert await rig.due(url) == pytest.approx(rig.clock.now + 600)
    rig.clock.now += 600
    await poller.poll_all()
    assert 600 <= await rig.due(url) - rig.clock.now <= 1200  # twice the interval, with jitter


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_moves_the_next_attempt(rig: Rig, status: int) -> None:
    """429 and 503 with Retry-After are not asked again before the server's time."""
    rig.server.set_response("/a.xml", status=status, headers={"Retry-After": "7200"})
    url = rig.server.url("/a.xml")
    poller = rig.poller(rig.config([rig.feed("/a.xml", interval="10m")]))
    outcome = (await poller.poll_all())[0]
    assert outcome.retry_after == 7200
    assert await rig.due(url) - rig.clock.now >= 7200


async def test_max_age_and_ttl_stretch_the_interval(rig: Rig) -> None:
    """A feed's <ttl> (here two hours) is honoured over a shorter configured interval."""
    rig.server.add_feed("/a.xml", items=[item(1)], ttl_minutes=120)
    url = rig.server.url("/a.xml")
    poller = rig.poller(rig.config([rig.feed("/a.xml", interval="10m")]))
    await poller.poll_all()
    assert await rig.due(url) - rig.clock.now >= 7200 * 0.95


async def test_broken_feed_is_announced_once_and_recovery_once(rig: Rig) -> None:
    """Owners hear once that a feed broke (not on every failed poll) and once that it is back."""
    rig.server.set_response("/a.xml", status=500)
    config = rig.config([rig.feed("/a.xml")], owners=[OWNER])
    events: list[HealthEvent] = []
    notifier = HealthNotifier(config, rig.store)

    async def on_health(feed: Any, event: HealthEvent, reason: str) -> None:
        events.append(event)
        await notifier(feed, event, reason)

    poller = rig.poller(config, on_health=on_health,
                        policy=SchedulePolicy(broken_after_s=3600))
    for _ in range(5):
        await poller.poll_all()
        rig.clock.now += 1800
    assert events == [HealthEvent.BROKEN]
    rig.server.add_feed("/a.xml", items=[item(1)])
    await poller.poll_all()
    await poller.poll_all()
    assert events == [HealthEvent.BROKEN, HealthEvent.RECOVERED]
    notices = [d for d in await rig.deliveries() if d.chat == str(OWNER)]
    assert len(notices) == 2 and "500" in notices[0].html


# -- first runs ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("first_run", "posted"), [("none", 0), ("latest", 1), ("all", 5)])
async def test_new_feed_does_not_flood(rig: Rig, first_run: str, posted: int) -> None:
    """A new feed posts nothing, its newest item, or everything, as configured; after that,
    every new item is posted."""
    rig.server.add_feed("/a.xml", items=[item(n) for n in range(5, 0, -1)])
    poller = rig.poller(rig.config([rig.feed("/a.xml", first_run=first_run)]))
    await poller.poll_all()
    uids = await rig.posted(CHAT_A)
    assert len(uids) == posted
    if first_run == "latest":
        assert (await rig.deliveries())[0].url.endswith("/5")
    rig.server.add_item("/a.xml", item(6))
    await poller.poll_all()
    assert len(await rig.posted(CHAT_A)) == posted + 1


# -- deduplication ------------------------------------------------------------------------------

async def test_an_item_that_comes_back_is_not_posted_again(rig: Rig) -> None:
    """An item removed from the feed and published again later is not posted twice."""
    rig.server.add_feed("/a.xml", items=[item(2), item(1)])
    poller = rig.poller(rig.config([rig.feed("/a.xml", first_run="all")]))
    await poller.poll_all()
    rig.server.remove_item("/a.xml", "item-2")
    await poller.poll_all()
    rig.server.add_item("/a.xml", item(2))
    await poller.poll_all()
    assert len(await rig.posted(CHAT_A)) == 2


async def test_the_same_item_in_another_feed_is_posted_once_per_chat(rig: Rig) -> None:
    """Two feeds carrying one article post it once to a shared chat, and still to a chat only
    the second feed serves."""
    rig.server.add_feed("/a.xml", items=[item(1)])
    tracked = "https://example.org/analysis/1?utm_source=x"
    rig.server.add_feed("/b.xml", items=[item(1, link=tracked)])
    poller = rig.poller(rig.config([rig.feed("/a.xml", first_run="all"),
                                    rig.feed("/b.xml", (CHAT_A, CHAT_B), first_run="all")]),
                        concurrency=1)
    await poller.poll_all()
    assert len(await rig.posted(CHAT_A)) == 1 and len(await rig.posted(CHAT_B)) == 1


async def test_changed_guid_with_the_same_link_is_a_duplicate(rig: Rig) -> None:
    """An item republished under a new guid but the same link is not posted again."""
    rig.server.add_feed("/a.xml", items=[item(1)])
    poller = rig.poller(rig.config([rig.feed("/a.xml", first_run="all")]))
    await poller.poll_all()
    rig.server.set_items("/a.xml", [item(1, guid="new-guid-1")])
    outcome = (await poller.poll_all())[0]
    assert outcome.new_articles == 0 and len(await rig.posted(CHAT_A)) == 1


async def test_an_editors_push_is_not_posted_again_by_the_feed(rig: Rig) -> None:
    """An article an editor pushed to a chat is not posted there again when its feed lists it."""
    from feeds.parser import link_key

    rig.server.add_feed("/a.xml", items=[item(1)])
    link = "https://example.org/analysis/2"
    pushed = Delivery(chat=CHAT_A, uid="pushed", url=link, html="<b>push</b>", priority=1)
    await rig.store.queue_article(None, ["pushed", link_key(link)], [pushed])
    poller = rig.poller(rig.config([rig.feed("/a.xml", (CHAT_A, CHAT_B), first_run="none")]))
    await poller.poll_all()
    rig.server.add_item("/a.xml", item(2, guid="feed-guid-2"))
    await poller.poll_all()
    assert await rig.posted(CHAT_A) == ["pushed"]
    assert len(await rig.posted(CHAT_B)) == 1


WIRE = ("<p>قالت مصادر اقتصادية في دمشق إن الحكومة تدرس حزمة إجراءات جديدة لتخفيف أثر "
        "العقوبات على قطاع الطاقة، تشمل تسهيلات للاستيراد وإعفاءات ضريبية مؤقتة للمستثمرين، "
        "في ظل تراجع الإنتاج المحلي وارتفاع الأسعار خلال الأشهر الماضية.</p>")


async def test_a_mirror_with_another_link_is_caught_by_its_title_and_text(rig: Rig) -> None:
    """The same story on a mirror (other guid and link, title with diacritics, other hamza and
    a site suffix, the same text with a line added) is not posted to a chat that had it within
    the window, and is after it."""
    title = "الاقتصاد السوري بين العقوبات وإعادة الإعمار"
    mirror = "الاقْتِصاد السوري بين العقوبات وإعادة الإعمار - مرآة"
    rig.server.add_feed("/a.xml", items=[item(1, title=title, summary=WIRE)])
    rig.server.add_feed("/b.xml", items=[])
    poller = rig.poller(rig.config([rig.feed("/a.xml", first_run="all"),
                                    rig.feed("/b.xml", first_run="all")]))
    await poller.poll_all()
    mirrored = WIRE + "<p>تابعوا مرآة الأخبار.</p>"
    rig.server.add_item("/b.xml", item(1, guid="m1", link="https://mirror.example/1",
                                       title=mirror, summary=mirrored))
    await poller.poll_all()
    assert len(await rig.posted(CHAT_A)) == 1
    rig.clock.now += keys.FINGERPRINT_WINDOW_S + 60
    rig.server.add_item("/b.xml", item(2, guid="m2", link="https://mirror.example/2",
                                       title=mirror, summary=mirrored))
    await poller.poll_all()
    assert len(await rig.posted(CHAT_A)) == 2


async def test_short_titles_and_the_same_feed_do_not_use_fingerprints(rig: Rig) -> None:
    """Different articles titled only "افتتاحية" in two feeds, and a feed repeating one of its
    own titles for a new article, are all posted."""
    rig.server.add_feed("/a.xml", items=[item(1, title="افتتاحية")])
    rig.server.add_feed("/b.xml", items=[item(2, title="افتتاحية")])
    column = "النشرة الاقتصادية اليومية من دمشق"
    rig.server.add_feed("/c.xml", items=[item(3, title=column)])
    poller = rig.poller(rig.config([rig.feed(p, first_run="all")
                                    for p in ("/a.xml", "/b.xml", "/c.xml")]))
    await poller.poll_all()
    rig.server.add_item("/c.xml", item(4, title=column))
    await poller.poll_all()
    assert len(await rig.posted(CHAT_A)) == 4


@pytest.mark.parametrize(("link", "parsed"), [(None, "partial"),
                                              ("https://example.org/", "full")])
async def test_changed_article_is_edited_not_posted_again(rig: Rig, link: str | None,
                                                          parsed: str) -> None:
    """A posted article whose text changes is not posted again; a channel with edit_on_change
    gets an edit of its message, a channel without it gets nothing (whether the feed's new
    items are parsed alone or, when they share a link, with the whole feed)."""
    rig.server.add_feed("/a.xml", items=[item(2, link=link), item(1, link=link)])
    channels = [{"chat": CHAT_A, "edit_on_change": True}, {"chat": CHAT_B}]
    poller = rig.poller(rig.config([rig.feed("/a.xml", (CHAT_A, CHAT_B), first_run="all")],
                                   channels=channels))
    await poller.poll_all()
    uid = next(d.uid for d in await rig.deliveries() if d.url.endswith(link or "/1"))
    for chat, message_id in ((CHAT_A, 41), (CHAT_B, 42)):   # what the sender records
        await rig.redis.set(keys.sent(chat, uid), SentRecord(message_id, chat).to_json())
    rig.server.set_items("/a.xml", [item(2, link=link),
                                    item(1, link=link, summary="<p>فقرة مصحّحة بعد النشر.</p>")])
    outcome = (await poller.poll_all())[0]
    assert outcome.parsed == parsed
    assert outcome.changed == 1 and outcome.edits == 1 and outcome.queued == 0
    deliveries = await rig.deliveries()
    edits = [d for d in deliveries if d.kind == EDIT_TEXT]
    assert len(deliveries) == 5 and len(edits) == 1
    assert edits[0].message_id == 41 and "مصحّحة" in edits[0].html
    again = (await poller.poll_all())[0]  # the change is reported once
    assert again.changed == 0 and len(await rig.deliveries()) == 5


# -- filters and order --------------------------------------------------------------------------

async def test_arabic_include_and_exclude_filters(rig: Rig) -> None:
    """Keywords match regardless of diacritics, hamza forms and ta marbuta; excluded and
    unmatched items are never posted, not even later."""
    rig.server.add_feed("/a.xml", items=[])
    poller = rig.poller(rig.config([rig.feed("/a.xml", first_run="all",
                                             include=["الإقتصاد", "طاقة"],
                                             exclude=["رياضه"])]))
    await poller.poll_all()
    for n, title in enumerate(["قراءة في الاقْتِصاد السوري اليوم",        # include, diacritics
                               "أسعار الطاقة في الشتاء المقبل",            # include, ة
                               "الاقتصاد والرِّياضة في الموسم الجديد",      # excluded
                               "جولة في المعارض الفنية بدمشق"], start=1):  # no keyword
        rig.server.add_item("/a.xml", item(n, title=title))
    await poller.poll_all()
    posted = [d.url for d in await rig.deliveries()]
    assert posted == ["https://example.org/analysis/1", "https://example.org/analysis/2"]
    await poller.poll_all()
    assert len(await rig.deliveries()) == 2


async def test_items_of_a_feed_are_queued_oldest_first(rig: Rig) -> None:
    """Whatever order the feed lists them in, its items are queued by date, oldest first."""
    rig.server.add_feed("/a.xml", items=[item(2), item(5), item(1), item(4), item(3)])
    poller = rig.poller(rig.config([rig.feed("/a.xml", first_run="all")]))
    await poller.poll_all()
    times = [d.article_time for d in await rig.deliveries()]
    assert len(times) == 5 and times == sorted(times)


# -- memory -------------------------------------------------------------------------------------

async def test_seen_set_follows_the_feed_size_and_stays_compact(rig: Rig) -> None:
    """A ten-item feed keeps a small seen window (trimmed as items come and go) in Redis'
    compact encoding, with short members, and it expires."""
    rig.server.add_feed("/a.xml", items=[item(n) for n in range(10, 0, -1)])
    url = rig.server.url("/a.xml")
    poller = rig.poller(rig.config([rig.feed("/a.xml", first_run="none")]))
    await poller.poll_all()
    for n in range(11, 111):
        rig.server.set_items("/a.xml", [item(k) for k in range(n, n - 10, -1)])
        rig.clock.now += 60
        await poller.poll_all()
    seen = keys.feed_seen(feed_id_for(url))
    assert await rig.redis.zcard(seen) == keys.SEEN_MIN_WINDOW
    assert await rig.redis.object("encoding", seen) in ("ziplist", "listpack")
    assert all(len(m) == 12 for m in await rig.redis.zrange(seen, 0, -1))
    assert 0 < await rig.redis.ttl(seen) <= keys.SEEN_TTL_S
    assert await rig.redis.hlen(keys.feed_content(feed_id_for(url))) <= keys.SEEN_MIN_WINDOW
    assert len(await rig.posted(CHAT_A)) == 100


# -- review mode: the card before marking seen -------------------------------------------------

class CrashOnceAfterSubmit:
    """The real inbox, but the first submit 'crashes' right after the card is made: the moment
    between handing a piece to the editors and marking it seen."""

    def __init__(self, redis: aioredis.Redis) -> None:
        from store.review_inbox import RedisReviewInbox

        self.inner = RedisReviewInbox(redis)
        self.crashed = False

    async def submit(self, feed: Any, feed_id: str, article: Any) -> bool:
        made = await self.inner.submit(feed, feed_id, article)
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("killed between the card and marking the piece seen")
        return made

    async def withdraw(self, feed_id: str, article: Any) -> None:
        await self.inner.withdraw(feed_id, article)


async def test_a_crash_after_the_review_card_loses_no_piece_and_makes_no_second_card(
        rig: Rig) -> None:
    rig.server.add_feed("/r.xml", items=[item(1)])
    config = rig.config([rig.feed("/r.xml", mode="review", first_run="all")],
                        review_chat="-1009000000000")
    inbox = CrashOnceAfterSubmit(rig.redis)
    poller = rig.poller(config, review=inbox)
    [crashed] = await poller.poll_all()
    assert crashed.status == "error" and inbox.crashed
    [again] = await poller.poll_all()  # the piece was not marked seen: it comes back
    assert again.status == "new"
    cards = await rig.redis.zrange(keys.bot_review_inbox(), 0, -1)
    assert len(cards) == 1
    card = await rig.redis.hget(keys.bot_review(cards[0]), "article") or ""
    assert "https://example.org/analysis/1" in card
    [later] = await poller.poll_all()
    assert later.status == "unchanged"
    assert await rig.redis.zcard(keys.bot_review_inbox()) == 1
    assert await rig.deliveries() == []  # review pieces reach channels only through editors


async def test_a_review_card_for_a_piece_seen_under_another_guid_is_withdrawn(rig: Rig) -> None:
    from store.review_inbox import RedisReviewInbox

    rig.server.add_feed("/r.xml", items=[item(1)])
    config = rig.config([rig.feed("/r.xml", mode="review", first_run="all")],
                        review_chat="-1009000000000")
    poller = rig.poller(config, review=RedisReviewInbox(rig.redis))
    await poller.poll_all()
    [first] = await rig.redis.zrange(keys.bot_review_inbox(), 0, -1)
    rig.server.set_items("/r.xml", [item(1, guid="republished-1")])  # same link, new guid
    await poller.poll_all()
    assert await rig.redis.zrange(keys.bot_review_inbox(), 0, -1) == [first]
    assert set(await rig.redis.keys(keys.bot_review("*"))) == {
        keys.bot_review(first), keys.bot_review_inbox()}  # no card left for the repost
