"""Hostile feed bodies: cutting and parsing stay linear in the body, and a parse that runs too
long is abandoned without holding up other feeds — through the real poller, fetching from the
local feed server, with parses in a process and in threads."""
from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from config.schema import parse_config
from feeds.fetcher import Fetcher, FetchLimits, make_session
from feeds.html_text import html_to_text
from feeds.items import read_feed
from feeds.parser import parse_feed
from model.errors import FeedParseError, FetchErrorKind
from pipeline.poller import Poller
from store.redis_store import Store
from tests.fakes.feed_server import FeedItem, FeedServer

FEED_URL = "https://example.org/feed.xml"
LIMITS = FetchLimits(connect_timeout=2, read_timeout=5, total_timeout=10)
GOOD_ITEMS = "".join(f"<item><guid>g{i}</guid><title>good {i}</title>"
                     f"<link>https://example.org/{i}</link></item>" for i in range(3))


def unclosed_items(count: int = 200_000) -> bytes:
    """Three good items, then `count` <item> tags that never close (1.2 MB for 200,000)."""
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
            + GOOD_ITEMS + "<item>" * count).encode()


def slow_but_linear(size: int) -> bytes:
    """A body of unclosed <title> tags: linear to parse, but seconds per megabyte."""
    return ('<rss version="2.0"><channel>' + "<title>" * (size // 7)).encode()


def _cpu(work: Callable[[], object]) -> float:
    started = time.process_time()
    with contextlib.suppress(FeedParseError):
        work()
    return time.process_time() - started


# -- linear in the body --------------------------------------------------------------------------

def test_unclosed_items_are_cut_and_refused_in_one_pass() -> None:
    """1.2 MB of <item> tags that never close cost milliseconds, not the quadratic scan of
    the item cutter (20,000 tags took 7.8 s, 200,000 about 13 minutes), and are refused."""
    body = unclosed_items()
    assert len(body) > 1_200_000
    with pytest.raises(FeedParseError) as err:
        read_feed(parse_feed, body, feed_url=FEED_URL)
    assert err.value.kind == FetchErrorKind.TOO_LARGE
    assert _cpu(lambda: read_feed(parse_feed, body, feed_url=FEED_URL)) < 1.0


@pytest.mark.parametrize(("name", "body"), [
    ("unclosed entries", ('<feed xmlns="http://www.w3.org/2005/Atom">'
                          + "<entry>" * 170_000).encode()),
    ("9,000 items that never close", ('<rss version="2.0"><channel><item><title>x</title>'
                                       + "</item>" + "<item><title>a</title>" * 9_000).encode()),
    ("25,000 attributes on one tag", ('<rss version="2.0"><channel><item '
                                      + " ".join(f'a{i}="1"' for i in range(25_000))
                                      + "><title>x</title></item></channel></rss>").encode()),
    ("a run of '<' in an undeclared body", b'<rss version="2.0"><channel><title>\xff'
     + b"<" * 300_000),
    ("one long attribute name on a page", b'<html><head><link rel="alternate" '
     + b"a" * 200_000 + b">"),
    ("unclosed <title> on a page", b"<html><head>" + b"<title>" * 150_000),
    ("JSON content of unclosed <img", ('{"version": "https://jsonfeed.org/version/1.1", '
                                       '"title": "t", "items": [{"id": "1", "content_html": "'
                                       + "<img " * 200_000 + '"}]}').encode()),
    ("entity declarations and uses", (
        '<!DOCTYPE rss [' + "".join(f'<!ENTITY e{i} "v">' for i in range(3_000))
        + ']><rss version="2.0"><channel><title>' + "&e1;" * 200_000
        + "</title></channel></rss>").encode()),
])
def test_hostile_shapes_cost_a_bounded_time_per_megabyte(name: str, body: bytes) -> None:
    """Bodies that made our own code (or the standard library's HTML parser) superlinear are
    read or refused within a few seconds of CPU (before: up to over two minutes)."""
    assert _cpu(lambda: read_feed(parse_feed, body, feed_url=FEED_URL)) < 3.0, name


@pytest.mark.parametrize("html", ["<a" * 200_000, "<!--" * 100_000, "<![" * 100_000,
                                  '<a b="' * 100_000, "<div>" * 100_000])
def test_html_text_is_linear_and_never_raises(html: str) -> None:
    """Malformed HTML of every kind gives text in linear time (the standard HTMLParser took
    7 s for 100 KB of "<a" and raised AssertionError on "<![<![")."""
    started = time.process_time()
    assert isinstance(html_to_text(html), str)
    assert time.process_time() - started < 1.0


# -- the time bound, through the poller ----------------------------------------------------------

@pytest.fixture
async def poller_for(redis: aioredis.Redis, feed_server: FeedServer
                     ) -> AsyncIterator[Callable[..., Poller]]:
    made: list[Poller] = []
    async with make_session(LIMITS) as session:
        fetcher = Fetcher(session, LIMITS)

        def make(*paths: str, **options: object) -> Poller:
            config = parse_config({
                "channels": [{"chat": "@nashir_a"}],
                "feeds": [{"url": feed_server.url(p), "channels": ["@nashir_a"],
                           "first_run": "all"} for p in paths]})
            poller = Poller(config, Store(redis), fetcher, **options)  # type: ignore[arg-type]
            made.append(poller)
            return poller

        try:
            yield make
        finally:
            for poller in made:
                await poller.close()


def _good_feed(server: FeedServer) -> None:
    server.add_feed("/good.xml", items=[FeedItem(guid=f"n{i}", title=f"خبر رقم {i} اليوم",
                                                 link=f"https://example.org/n{i}")
                                        for i in range(3)])


@pytest.mark.parametrize("workers", [1, 0], ids=["process", "thread"])
async def test_unclosed_items_beside_a_good_feed(feed_server: FeedServer,
                                                 poller_for: Callable[..., Poller],
                                                 workers: int) -> None:
    """The 1.2 MB body of unclosed items is refused as too large within seconds, and the
    good feed polled beside it queues its items."""
    _good_feed(feed_server)
    feed_server.set_response("/hostile.xml", body=unclosed_items(),
                             headers={"Content-Type": "application/rss+xml"})
    poller = poller_for("/hostile.xml", "/good.xml", parse_workers=workers)
    started = time.monotonic()
    hostile, good = await poller.poll_all()
    assert time.monotonic() - started < 20.0   # mostly process start-up; the cut is ~10 ms
    assert hostile.status == "error" and hostile.error_kind == FetchErrorKind.TOO_LARGE
    assert good.status == "new" and good.queued == 3


@pytest.mark.parametrize("workers", [1, 0], ids=["process", "thread"])
async def test_a_parse_past_the_limit_is_abandoned_and_the_good_feed_comes_through(
        feed_server: FeedServer, poller_for: Callable[..., Poller], workers: int) -> None:
    """A body that takes seconds to parse fails with PARSE_TIMEOUT once the limit is up; the
    good feed polled beside it queues its items meanwhile."""
    _good_feed(feed_server)
    size = 3_000_000 if workers else 600_000   # an abandoned thread runs on: keep it short
    feed_server.set_response("/slow.xml", body=slow_but_linear(size),
                             headers={"Content-Type": "application/rss+xml"})
    poller = poller_for("/slow.xml", "/good.xml", parse_workers=workers,
                        parse_time_limit_s=0.3 if not workers else 1.0)
    started = time.monotonic()
    slow, good = await poller.poll_all()
    took = time.monotonic() - started
    assert slow.status == "error" and slow.error_kind == FetchErrorKind.PARSE_TIMEOUT
    assert "seconds" in slow.error
    assert good.status == "new" and good.queued == 3
    assert took < 20.0
