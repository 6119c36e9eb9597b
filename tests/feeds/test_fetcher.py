"""Tests for feeds.fetcher against a real local HTTP server (tests.fakes.feed_server)."""
from __future__ import annotations

import asyncio
import gzip
import hashlib
import socket
import ssl
import tracemalloc
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import aiohttp
import pytest
import trustme

from feeds.fetcher import Fetcher, FetchLimits, make_session, parse_max_age, parse_retry_after
from feeds.parser import parse_feed
from model.article import FetchResult
from model.errors import FetchError, FetchErrorKind
from tests.fakes.feed_server import FeedItem, FeedServer

LIMITS = FetchLimits(connect_timeout=2, read_timeout=2, total_timeout=5)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """The shared session, as main.py makes it."""
    async with make_session(LIMITS) as s:
        yield s


@pytest.fixture
def fetcher(session: aiohttp.ClientSession) -> Fetcher:
    return Fetcher(session, LIMITS)


async def _error(coro: object) -> FetchError:
    with pytest.raises(FetchError) as err:
        await coro  # type: ignore[misc]
    return err.value


def _items(n: int) -> list[FeedItem]:
    return [FeedItem(guid=f"g{i}", title=f"عنوان {i}", link=f"https://e.org/{i}") for i in range(n)]


# ---------------------------------------------------------------------------- basics and validators


async def test_plain_fetch_returns_body_validators_and_hash(feed_server: FeedServer,
                                                            fetcher: Fetcher) -> None:
    """A 200 gives the body, its sha256, the content type and both validators."""
    feed_server.add_feed("/feed", items=_items(2))
    result = await fetcher.fetch(feed_server.url("/feed"))
    assert result.status == 200 and result.body == feed_server.feed_body("/feed")
    assert result.body_hash == hashlib.sha256(result.body).hexdigest()
    assert result.content_type.startswith("application/rss+xml")
    assert result.etag and result.last_modified
    assert result.permanent_redirect_to is None and not result.not_modified
    assert len(parse_feed(result.body, feed_url=result.url).articles) == 2


async def test_etag_conditional_get_gives_304(feed_server: FeedServer, fetcher: Fetcher) -> None:
    """Sending the stored ETag gets 304 (body None, validators kept) until the feed changes."""
    feed_server.add_feed("/feed", items=_items(1))
    first = await fetcher.fetch(feed_server.url("/feed"))
    second = await fetcher.fetch(feed_server.url("/feed"), etag=first.etag)
    assert second.status == 304 and second.not_modified and second.body_hash is None
    assert second.etag == first.etag
    assert feed_server.requests[-1].headers["If-None-Match"] == first.etag
    feed_server.add_item("/feed", FeedItem(guid="new", title="جديد"))
    third = await fetcher.fetch(feed_server.url("/feed"), etag=first.etag)
    assert third.status == 200 and third.etag != first.etag


async def test_last_modified_conditional_get_gives_304(feed_server: FeedServer,
                                                       fetcher: Fetcher) -> None:
    """Sending only Last-Modified (as If-Modified-Since) also gets 304, and 200 after a change."""
    feed_server.add_feed("/feed", items=_items(1))
    first = await fetcher.fetch(feed_server.url("/feed"))
    second = await fetcher.fetch(feed_server.url("/feed"), last_modified=first.last_modified)
    assert second.not_modified and second.last_modified == first.last_modified
    assert feed_server.requests[-1].headers["If-Modified-Since"] == first.last_modified
    feed_server.add_item("/feed", FeedItem(guid="new", title="جديد"))
    third = await fetcher.fetch(feed_server.url("/feed"), last_modified=first.last_modified)
    assert third.status == 200 and third.last_modified != first.last_modified


async def test_body_hash_is_stable_when_server_ignores_validators(feed_server: FeedServer,
                                                                 fetcher: Fetcher) -> None:
    """A server that ignores validators answers 200 each time, with an equal body_hash until the
    feed changes, so the caller can skip parsing."""
    feed_server.add_feed("/feed", items=_items(3), honour_conditional=False)
    first = await fetcher.fetch(feed_server.url("/feed"))
    second = await fetcher.fetch(feed_server.url("/feed"), etag=first.etag,
                                 last_modified=first.last_modified)
    assert second.status == 200 and second.body_hash == first.body_hash
    feed_server.add_item("/feed", FeedItem(guid="new", title="جديد"))
    third = await fetcher.fetch(feed_server.url("/feed"), etag=first.etag)
    assert third.body_hash != first.body_hash


async def test_no_validators_when_server_sends_none(feed_server: FeedServer,
                                                   fetcher: Fetcher) -> None:
    """Without ETag/Last-Modified from the server the result has none either."""
    feed_server.add_feed("/feed", items=_items(1), send_validators=False)
    result = await fetcher.fetch(feed_server.url("/feed"))
    assert (result.etag, result.last_modified) == (None, None)


async def test_user_agent_names_the_bot_and_can_be_overridden(feed_server: FeedServer,
                                                             fetcher: Fetcher) -> None:
    """The default User-Agent names the bot; a per-feed one and extra headers are sent."""
    feed_server.add_feed("/feed")
    await fetcher.fetch(feed_server.url("/feed"))
    assert feed_server.requests[-1].headers["User-Agent"] == LIMITS.user_agent
    assert "Nashir" in LIMITS.user_agent
    await fetcher.fetch(feed_server.url("/feed"), user_agent="Mozilla/5.0 test",
                        headers={"X-Token": "abc"})
    assert feed_server.requests[-1].headers["User-Agent"] == "Mozilla/5.0 test"
    assert feed_server.requests[-1].headers["X-Token"] == "abc"


async def test_gzip_body_is_decompressed(feed_server: FeedServer, fetcher: Fetcher) -> None:
    """gzip is offered and a gzip body arrives decompressed."""
    feed_server.add_feed("/feed", items=_items(20), gzip=True)
    result = await fetcher.fetch(feed_server.url("/feed"))
    assert "gzip" in feed_server.requests[-1].headers["Accept-Encoding"]
    assert result.body == feed_server.feed_body("/feed")


async def test_cache_control_max_age_is_reported(feed_server: FeedServer, fetcher: Fetcher) -> None:
    """Cache-Control max-age comes back as FetchResult.max_age."""
    feed_server.set_response("/feed", body=b"<rss/>",
                             headers={"Cache-Control": "public, max-age=600"})
    assert (await fetcher.fetch(feed_server.url("/feed"))).max_age == 600


# ---------------------------------------------------------------------------- redirects


async def test_permanent_redirect_chain_reports_new_url(feed_server: FeedServer,
                                                       fetcher: Fetcher) -> None:
    """A chain of only 301/308 sets permanent_redirect_to to the final URL."""
    feed_server.add_feed("/new")
    feed_server.redirect("/old", "/mid", 301)
    feed_server.redirect("/mid", "/new", 308)
    result = await fetcher.fetch(feed_server.url("/old"))
    assert result.url == feed_server.url("/new")
    assert result.permanent_redirect_to == feed_server.url("/new")


@pytest.mark.parametrize("statuses", [(302,), (307,), (303,), (301, 302), (302, 301)])
async def test_temporary_redirect_in_chain_keeps_stored_url(feed_server: FeedServer,
                                                           fetcher: Fetcher,
                                                           statuses: tuple[int, ...]) -> None:
    """Any temporary redirect in the chain means the stored URL must not change."""
    feed_server.add_feed("/final")
    hops = [f"/hop{i}" for i in range(len(statuses))] + ["/final"]
    for i, status in enumerate(statuses):
        feed_server.redirect(hops[i], hops[i + 1], status)
    result = await fetcher.fetch(feed_server.url("/hop0"))
    assert result.status == 200 and result.url == feed_server.url("/final")
    assert result.permanent_redirect_to is None


async def test_redirect_loop_is_reported(feed_server: FeedServer, fetcher: Fetcher) -> None:
    """A redirect cycle stops at once with redirect_loop and a reason."""
    feed_server.redirect("/a", "/b")
    feed_server.redirect("/b", "/a")
    err = await _error(fetcher.fetch(feed_server.url("/a")))
    assert err.kind == FetchErrorKind.REDIRECT_LOOP and "circle" in err.message
    assert feed_server.hits("/a") == 1 and feed_server.hits("/b") == 1


async def test_too_many_redirects(feed_server: FeedServer, fetcher: Fetcher) -> None:
    """max_redirects hops are followed; one more is too_many_redirects."""
    feed_server.add_feed("/end")
    for i in range(7):
        feed_server.redirect(f"/r{i}", f"/r{i + 1}" if i < 6 else "/end", 302)
    assert (await fetcher.fetch(feed_server.url("/r2"))).status == 200  # exactly 5 hops
    err = await _error(fetcher.fetch(feed_server.url("/r0")))  # 7 hops
    assert err.kind == FetchErrorKind.TOO_MANY_REDIRECTS


async def test_redirect_to_file_url_is_refused_even_when_trusted(feed_server: FeedServer,
                                                                fetcher: Fetcher) -> None:
    """A web server cannot make the bot read local files by redirecting to file://."""
    feed_server.redirect("/r", "file:///etc/passwd", 302)
    err = await _error(fetcher.fetch(feed_server.url("/r")))
    assert err.kind == FetchErrorKind.BLOCKED_ADDRESS and "root:" not in err.message


async def test_credentials_do_not_follow_a_redirect_to_another_host(feed_server: FeedServer,
                                                                    fetcher: Fetcher) -> None:
    """Authorization is dropped when a redirect leaves the host; cookies set in the chain are
    sent back to their own host."""
    feed_server.add_feed("/feed")
    feed_server.set_response("/login", status=302, headers={
        "Location": "/hop", "Set-Cookie": "session=xyz; Path=/"})
    feed_server.redirect("/hop", f"http://localhost:{feed_server.port}/feed", 302)
    await fetcher.fetch(feed_server.url("/login"), headers={"Authorization": "Bearer s3cret"})
    login, hop, final = feed_server.requests[-3:]
    assert login.headers["Authorization"] == "Bearer s3cret"
    assert hop.headers["Cookie"] == "session=xyz" and hop.headers["Authorization"]
    assert "Authorization" not in final.headers and "Cookie" not in final.headers


# ---------------------------------------------------------------------------- size and time bounds


async def test_oversized_body_is_refused_by_content_length(feed_server: FeedServer,
                                                          session: aiohttp.ClientSession) -> None:
    """A body larger than max_body_bytes is refused (from Content-Length, without reading it)."""
    fetcher = Fetcher(session, FetchLimits(max_body_bytes=1_000_000))
    feed_server.set_response("/big", body=b"x" * 50_000_000)
    err = await _error(fetcher.fetch(feed_server.url("/big")))
    assert err.kind == FetchErrorKind.TOO_LARGE and "MB" in err.message


async def test_endless_body_is_cut_off(feed_server: FeedServer,
                                       session: aiohttp.ClientSession) -> None:
    """An endless body (no Content-Length) is cut off at the limit, quickly."""
    fetcher = Fetcher(session, FetchLimits(max_body_bytes=2_000_000))
    feed_server.endless("/endless")
    err = await _error(fetcher.fetch(feed_server.url("/endless")))
    assert err.kind == FetchErrorKind.TOO_LARGE


async def test_gzip_bomb_is_cut_off_after_decompression(feed_server: FeedServer,
                                                        session: aiohttp.ClientSession) -> None:
    """A small gzip body that inflates past the limit is refused: decompressed bytes count."""
    fetcher = Fetcher(session, FetchLimits(max_body_bytes=1_000_000))
    bomb = gzip.compress(b"\0" * 30_000_000)
    assert len(bomb) < 1_000_000
    feed_server.set_response("/bomb", body=bomb, headers={"Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        err = await _error(fetcher.fetch(feed_server.url("/bomb")))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.kind == FetchErrorKind.TOO_LARGE
    assert peak < 15_000_000, peak  # never the 30 MB the bomb inflates to


async def test_trickling_body_hits_the_total_timeout(feed_server: FeedServer,
                                                     session: aiohttp.ClientSession) -> None:
    """A server trickling bytes (never idle long enough for the read timeout) is stopped by the
    total timeout."""
    fetcher = Fetcher(session, FetchLimits(read_timeout=1, total_timeout=0.5))
    feed_server.trickle("/slow", chunk=b"<", interval=0.02, total=10_000_000)
    err = await _error(fetcher.fetch(feed_server.url("/slow")))
    assert err.kind == FetchErrorKind.TIMEOUT and "0.5 seconds" in err.message


async def test_silent_server_hits_the_read_timeout(feed_server: FeedServer,
                                                   session: aiohttp.ClientSession) -> None:
    """A server that does not answer within read_timeout gives a timeout error."""
    fetcher = Fetcher(session, FetchLimits(read_timeout=0.3, total_timeout=10))
    feed_server.add_feed("/feed")
    feed_server.delay("/feed", 5)
    err = await _error(fetcher.fetch(feed_server.url("/feed")))
    assert err.kind == FetchErrorKind.TIMEOUT


# ------------------------------------------------------------------------ statuses, network errors


@pytest.mark.parametrize(("status", "kind"), [
    (404, FetchErrorKind.NOT_FOUND), (410, FetchErrorKind.GONE), (403, FetchErrorKind.FORBIDDEN),
    (500, FetchErrorKind.HTTP_ERROR), (502, FetchErrorKind.HTTP_ERROR),
    (400, FetchErrorKind.HTTP_ERROR),
])
async def test_error_statuses_map_to_kinds(feed_server: FeedServer, fetcher: Fetcher,
                                           status: int, kind: FetchErrorKind) -> None:
    """404, 410, 403 and other 4xx/5xx become typed errors carrying the status."""
    feed_server.set_response("/x", status=status, body=b"nope")
    err = await _error(fetcher.fetch(feed_server.url("/x")))
    assert (err.kind, err.status) == (kind, status)
    assert err.message and str(status) in err.message


async def test_429_with_retry_after_seconds(feed_server: FeedServer, fetcher: Fetcher) -> None:
    """429 is rate_limited with Retry-After given in seconds."""
    feed_server.set_response("/x", status=429, headers={"Retry-After": "120"})
    err = await _error(fetcher.fetch(feed_server.url("/x")))
    assert err.kind == FetchErrorKind.RATE_LIMITED and err.retry_after == 120
    assert "120 seconds" in err.message


async def test_503_with_retry_after_http_date(feed_server: FeedServer, fetcher: Fetcher) -> None:
    """503 is unavailable, with an HTTP-date Retry-After measured against the server's Date."""
    server_now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)  # a skewed server clock does not matter
    feed_server.set_response("/x", status=503, headers={
        "Date": format_datetime(server_now, usegmt=True),
        "Retry-After": format_datetime(server_now + timedelta(minutes=5), usegmt=True)})
    err = await _error(fetcher.fetch(feed_server.url("/x")))
    assert err.kind == FetchErrorKind.UNAVAILABLE and err.retry_after == 300


def test_retry_after_and_max_age_parsing() -> None:
    """Retry-After (seconds, dates, junk) and Cache-Control/Expires parse as documented."""
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_retry_after("30") == 30
    assert parse_retry_after("Wed, 01 Jan 2025 00:01:00 GMT", now=now) == 60
    assert parse_retry_after("Tue, 31 Dec 2024 00:00:00 GMT", now=now) == 0  # past: now
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_max_age("no-cache") == 0
    assert parse_max_age('max-age="90", public') == 90
    assert parse_max_age(None, "Wed, 01 Jan 2025 00:10:00 GMT",
                         "Wed, 01 Jan 2025 00:00:00 GMT") == 600
    assert parse_max_age(None) is None


async def test_connection_refused_and_dropped(feed_server: FeedServer, fetcher: Fetcher) -> None:
    """A closed port and a server that hangs up are connection errors."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        err = await _error(fetcher.fetch(f"http://127.0.0.1:{port}/feed"))
    assert err.kind == FetchErrorKind.CONNECTION and "127.0.0.1" in err.message
    feed_server.drop("/drop")
    err = await _error(fetcher.fetch(feed_server.url("/drop")))
    assert err.kind == FetchErrorKind.CONNECTION


async def test_bad_certificate_is_a_tls_error(fetcher: Fetcher) -> None:
    """A certificate from an unknown authority is a tls error that says 'certificate'."""
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    async with FeedServer(ssl_context=server_ctx) as srv:
        srv.add_feed("/feed")
        err = await _error(fetcher.fetch(srv.url("/feed")))
    assert err.kind == FetchErrorKind.TLS and "certificate" in err.message


async def test_not_a_web_url_is_invalid(fetcher: Fetcher) -> None:
    """ftp:// and friends are refused as invalid URLs."""
    err = await _error(fetcher.fetch("ftp://example.org/feed"))
    assert err.kind == FetchErrorKind.INVALID_URL


# ---------------------------------------------------------------------------- concurrency


async def test_per_host_concurrency_bound_is_honoured(feed_server: FeedServer,
                                                      session: aiohttp.ClientSession) -> None:
    """No more than per_host requests reach one host at once, and the bound is actually used."""
    fetcher = Fetcher(session, FetchLimits(per_host=2))
    for i in range(8):
        feed_server.add_feed(f"/c/{i}")
        feed_server.delay(f"/c/{i}", 0.1)
    await asyncio.gather(*(fetcher.fetch(feed_server.url(f"/c/{i}")) for i in range(8)))
    assert feed_server.max_concurrent("/c/") == 2  # counted at the server across all paths


async def test_overall_concurrency_bound_is_honoured(feed_server: FeedServer,
                                                     session: aiohttp.ClientSession) -> None:
    """The overall bound holds across hosts (127.0.0.1 and localhost count as two hosts)."""
    fetcher = Fetcher(session, FetchLimits(concurrency=3, per_host=10))
    feed_server.add_feed("/c")
    feed_server.delay("/c", 0.1)
    urls = [feed_server.url("/c"), f"http://localhost:{feed_server.port}/c"] * 5
    await asyncio.gather(*(fetcher.fetch(u) for u in urls))
    assert feed_server.max_concurrent("/c") == 3


# ---------------------------------------------------------------------------- files


async def test_file_urls_are_read_only_when_trusted(tmp_path: Path, fetcher: Fetcher) -> None:
    """file:// is read for trusted feeds (status 0, 304-like on an unchanged mtime) and refused
    for untrusted ones."""
    path = tmp_path / "feed.xml"
    path.write_bytes(b"<rss version='2.0'><channel><title>t</title></channel></rss>")
    result = await fetcher.fetch(path.as_uri())
    assert result.status == 0 and result.body == path.read_bytes() and result.last_modified
    again = await fetcher.fetch(path.as_uri(), last_modified=result.last_modified)
    assert again.body is None
    err = await _error(fetcher.fetch(path.as_uri(), trusted=False))
    assert err.kind == FetchErrorKind.BLOCKED_ADDRESS
    err = await _error(fetcher.fetch((tmp_path / "missing.xml").as_uri()))
    assert err.kind == FetchErrorKind.NOT_FOUND


def test_fetch_result_is_a_value() -> None:
    """FetchResult stays a frozen value with the new optional fields defaulting to None."""
    result = FetchResult(url="u", status=304, body=None)
    assert result.not_modified and result.body_hash is None and result.retry_after is None


async def test_user_agent_from_headers_is_kept_when_no_override(feed_server: FeedServer,
                                                                fetcher: Fetcher) -> None:
    """A User-Agent given in `headers` (any case) is sent once, instead of the default."""
    feed_server.add_feed("/feed")
    await fetcher.fetch(feed_server.url("/feed"), headers={"user-agent": "Custom/1"})
    assert feed_server.requests[-1].headers.getall("User-Agent") == ["Custom/1"]


async def test_redirect_chain_shares_one_total_timeout(feed_server: FeedServer,
                                                       session: aiohttp.ClientSession) -> None:
    """Each hop is quicker than total_timeout, the chain is not: the chain is stopped."""
    fetcher = Fetcher(session, FetchLimits(read_timeout=5, total_timeout=0.5))
    feed_server.redirect("/a", "/b", 302)
    feed_server.redirect("/b", "/c", 302)
    feed_server.add_feed("/c")
    for path in ("/a", "/b", "/c"):
        feed_server.delay(path, 0.3)
    err = await _error(fetcher.fetch(feed_server.url("/a")))
    assert err.kind == FetchErrorKind.TIMEOUT and "0.5 seconds" in err.message
    assert feed_server.hits("/a") == 1 and feed_server.hits("/b") == 1
    assert feed_server.hits("/c") == 0  # never asked: the budget was spent on the way


async def test_headers_are_sent_once_whatever_the_session(feed_server: FeedServer) -> None:
    """The bot's User-Agent and Accept reach the server once each, whether the session sends
    them by default (make_session) or not (a plain session); a feed's own Accept replaces ours."""
    feed_server.add_feed("/feed")
    async with make_session(LIMITS) as ours, aiohttp.ClientSession() as plain:
        for session in (ours, plain):
            await Fetcher(session, LIMITS).fetch(feed_server.url("/feed"))
            sent = feed_server.requests[-1].headers
            assert sent.getall("User-Agent") == [LIMITS.user_agent]
            assert len(sent.getall("Accept")) == 1 and "application/rss+xml" in sent["Accept"]
            await Fetcher(session, LIMITS).fetch(feed_server.url("/feed"),
                                                 headers={"accept": "application/json"})
            assert feed_server.requests[-1].headers.getall("Accept") == ["application/json"]
