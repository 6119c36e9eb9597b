"""A feed's own headers (`headers:` in the config: API keys, tokens) reach only the site they
were written for: a redirect to another origin (scheme, host, port) or from https to http gets
the bot's ordinary headers only, on that poll and after a permanent move; the origin itself
gets them on every hop."""
from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest
import redis.asyncio as aioredis
import trustme
from yarl import URL

from config.schema import parse_config
from feeds.fetcher import Fetcher, FetchLimits
from feeds.redirects import HopHeaders, origin_of
from model.article import feed_id_for
from pipeline.poller import Poller
from store import keys
from store.redis_store import Store
from tests.fakes.feed_server import FeedItem, FeedServer, RecordedRequest

SECRET = {"X-Api-Key": "k3y-for-origin", "Authorization": "Bearer origin-only"}
LIMITS = FetchLimits(connect_timeout=3, read_timeout=3, total_timeout=8)
CHAT = "@nashir_a"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def origin() -> AsyncIterator[FeedServer]:
    async with FeedServer() as srv:
        yield srv


@pytest.fixture
async def elsewhere() -> AsyncIterator[FeedServer]:
    async with FeedServer() as srv:
        srv.add_feed("/feed.xml", title="elsewhere", items=[
            FeedItem(guid="e1", title="بعيد", link="https://example.org/e1",
                     published=datetime(2025, 9, 1, tzinfo=UTC))])
        yield srv


@pytest.fixture
async def session(ca: trustme.CA) -> AsyncIterator[aiohttp.ClientSession]:
    """The bot's kind of session, trusting the tests' certificate authority."""
    client = ssl.create_default_context()
    ca.configure_trust(client)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client),
                                     cookie_jar=aiohttp.DummyCookieJar()) as s:
        yield s


def poller(redis: aioredis.Redis, session: aiohttp.ClientSession, url: str) -> Poller:
    config = parse_config({"timezone": "UTC", "channels": [{"chat": CHAT}], "feeds": [
        {"url": url, "channels": [CHAT], "headers": SECRET, "first_run": "all"}]})
    return Poller(config, Store(redis), Fetcher(session, LIMITS))


def carries_secret(request: RecordedRequest) -> bool:
    return any(name in request.headers for name in SECRET)


async def test_headers_stay_with_their_origin_across_redirects_and_moves(
        redis: aioredis.Redis, session: aiohttp.ClientSession, origin: FeedServer,
        elsewhere: FeedServer) -> None:
    """origin /a 302→ origin /b 301→ another port's feed: /a and /b get the feed's headers,
    the other origin none; after the move is stored, polls go straight there, still without
    them."""
    origin.redirect("/a", "/b", 301)
    origin.redirect("/b", elsewhere.url("/feed.xml"), 301)
    url = origin.url("/a")
    first = await poller(redis, session, url).poll_all()
    assert [o.status for o in first] == ["new"]
    for path in ("/a", "/b"):
        [request] = origin.requests_for(path)
        assert request.headers["X-Api-Key"] == SECRET["X-Api-Key"]
        assert request.headers["Authorization"] == SECRET["Authorization"]
    [away] = elsewhere.requests_for("/feed.xml")
    assert not carries_secret(away), dict(away.headers)
    assert away.headers["User-Agent"] == LIMITS.user_agent   # the bot's own headers still go

    state = await redis.hgetall(keys.feed_state(feed_id_for(url)))
    assert state["current_url"] == elsewhere.url("/feed.xml")
    await poller(redis, session, url).poll_all()
    assert len(elsewhere.requests_for("/feed.xml")) == 2
    assert not any(carries_secret(r) for r in elsewhere.requests_for("/feed.xml"))
    assert len(origin.requests) == 2          # the moved feed is not asked for at /a again


async def test_headers_never_go_from_https_to_plain_http(
        redis: aioredis.Redis, session: aiohttp.ClientSession, ca: trustme.CA,
        elsewhere: FeedServer) -> None:
    """An https feed redirecting to http on the same host: the plain-http hop gets no feed
    headers (they would travel in the clear)."""
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    async with FeedServer(ssl_context=server) as secure:
        secure.redirect("/feed.xml", elsewhere.url("/feed.xml"), 302)
        url = secure.url("/feed.xml")
        assert url.startswith("https://127.0.0.1:")
        [outcome] = await poller(redis, session, url).poll_all()
        assert outcome.status == "new", outcome.error
        [hop] = secure.requests_for("/feed.xml")
    assert hop.headers["X-Api-Key"] == SECRET["X-Api-Key"]
    [plain] = elsewhere.requests_for("/feed.xml")
    assert plain.headers.get("X-Api-Key") is None and "Authorization" not in plain.headers


def test_the_https_upgrade_of_the_same_site_keeps_them_a_downgrade_does_not() -> None:
    """Default ports only (no local server can listen on 80 and 443): http://site → https://site
    keeps the feed's headers; back to http:// after https, and any other site, do not."""
    policy = HopHeaders({}, SECRET, origin_of(URL("http://news.example.org/feed")), {})
    assert policy.first(URL("http://news.example.org/feed")) == SECRET
    assert policy.for_hop(URL("https://news.example.org/feed")) == SECRET
    assert policy.for_hop(URL("http://news.example.org/feed")) == {}
    other = HopHeaders({}, SECRET, origin_of(URL("https://news.example.org/feed")), {})
    assert other.first(URL("https://news.example.org/feed")) == SECRET
    assert other.for_hop(URL("https://news.example.org:8443/feed")) == {}
    assert other.for_hop(URL("https://cdn.example.org/feed")) == {}
