"""HTTP (and file://) fetching of feeds -> FetchResult, with every failure as a typed FetchError.

Politeness and bounds: one shared aiohttp session; at most `concurrency` fetches at once and
`per_host` per host (semaphores, so the bound holds whatever connector the session has);
connect/read/total timeouts; the body size is enforced while streaming (after decompression),
so an endless or gzip-bomb body is cut off, never buffered. Conditional GET with ETag and
Last-Modified. Redirects are followed by hand so every hop can be checked (address safety,
loops, scheme) and so we know whether the whole chain was permanent.
"""
from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from feeds.http_answers import (
    client_error,
    full_result,
    not_modified,
    parse_max_age,
    parse_retry_after,
    status_error,
    too_large,
)
from feeds.redirects import REDIRECTS, HopHeaders, RedirectChain, origin_of, refused_hop
from guards.network import GuardedResolver, check_url_allowed
from model.article import FetchResult
from model.errors import FetchError, FetchErrorKind

__all__ = ["FetchError", "FetchErrorKind", "FetchLimits", "Fetcher", "make_session",
           "parse_max_age", "parse_retry_after"]

_ACCEPT = ("application/rss+xml, application/atom+xml, application/feed+json, "
           "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8")
_CHUNK = 65_536


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """Bounds for every fetch. Seconds for timeouts, bytes for the body."""

    max_body_bytes: int = 5_000_000
    connect_timeout: float = 10
    read_timeout: float = 20
    total_timeout: float = 45
    max_redirects: int = 5
    concurrency: int = 200
    per_host: int = 6
    user_agent: str = "Nashir/0.1 (+feed distribution bot)"


def _timeout(limits: FetchLimits, total: float | None = None) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=total or limits.total_timeout,
                                 connect=limits.connect_timeout,
                                 sock_connect=limits.connect_timeout,
                                 sock_read=limits.read_timeout)


def _session(limits: FetchLimits, connector: aiohttp.BaseConnector) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=connector,
        timeout=_timeout(limits),
        headers={"User-Agent": limits.user_agent, "Accept": _ACCEPT},
        # Feeds need no cookies, and a shared jar would leak one site's cookies into later
        # fetches; cookies set during one redirect chain are carried by hand.
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        auto_decompress=True,
    )


def make_session(limits: FetchLimits) -> aiohttp.ClientSession:
    """The one session for trusted fetches. Call inside the running loop; close it at shutdown."""
    # No connector limits: Fetcher's semaphores are the bound (a pool limit would only add a
    # second queue whose wait counts against the connect timeout).
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=60)
    return _session(limits, connector)


# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _HostSlot:
    semaphore: asyncio.Semaphore
    users: int = 0


class _HostSlots:
    """One semaphore per host, dropped when no fetch uses it (hosts are unbounded over time).
    Plain acquire/release rather than a context manager: this runs on every request."""

    def __init__(self, per_host: int) -> None:
        self._per_host = per_host
        self._slots: dict[str, _HostSlot] = {}

    async def acquire(self, host: str) -> _HostSlot:
        slot = self._slots.get(host)
        if slot is None:
            slot = self._slots[host] = _HostSlot(asyncio.Semaphore(self._per_host))
        slot.users += 1
        try:
            await slot.semaphore.acquire()
        except BaseException:
            self._leave(host, slot)
            raise
        return slot

    def release(self, host: str, slot: _HostSlot) -> None:
        slot.semaphore.release()
        self._leave(host, slot)

    def _leave(self, host: str, slot: _HostSlot) -> None:
        slot.users -= 1
        if slot.users == 0:
            del self._slots[host]


@dataclass(slots=True)
class _Request:
    """Per-fetch state carried across redirect hops."""

    headers: HopHeaders
    etag: str | None
    last_modified: str | None
    trusted: bool
    allow_networks: Sequence[str]
    proxy: str | None


class Fetcher:
    """Fetches feeds through one shared session. Untrusted fetches (URLs from bot commands) get
    their own short-lived connector whose resolver refuses non-public addresses.

    A poll of an unchanged feed is one conditional GET; this path runs 10,000 times a cycle, so
    it adds as little as it can to aiohttp's own work: headers the session already sends are
    not sent again, the URL is parsed once (yarl, handed on to aiohttp), and the total timeout
    rides on aiohttp's per-request timer rather than a second one of our own."""

    def __init__(self, session: aiohttp.ClientSession, limits: FetchLimits, *,
                 resolver: AbstractResolver | None = None) -> None:
        # `resolver` is the DNS used under the address guard of untrusted fetches (default: the
        # system's); injectable to test DNS rebinding.
        self._session = session
        self._limits = limits
        self._resolver = resolver
        self._all = asyncio.Semaphore(limits.concurrency)
        self._hosts = _HostSlots(limits.per_host)
        self._timeout = _timeout(limits)
        # Only what the session does not already send (make_session's sessions send both).
        self._base_headers = {name: value for name, value in
                              (("User-Agent", limits.user_agent), ("Accept", _ACCEPT))
                              if name not in session.headers}

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        trusted: bool = True,
        allow_networks: Sequence[str] = (),
        user_agent: str | None = None,
        headers: Mapping[str, str] | None = None,
        proxy: str | None = None,
        headers_for: str | None = None,
    ) -> FetchResult:
        """GET `url` (following redirects); FetchResult.body is None on 304 Not Modified.

        Raises FetchError for every failure. `trusted=False` applies address safety on every
        hop (see guards.network); file:// URLs are read only when trusted. `headers` go only
        to the origin of `headers_for` (default: `url`; the feed's configured address when
        `url` is where it moved), see feeds.redirects.
        """
        try:
            target = URL(url)
        except (ValueError, TypeError) as exc:
            raise FetchError(FetchErrorKind.INVALID_URL,
                             f"the address {url!r} is not valid") from exc
        scheme = target.scheme
        if scheme == "file":
            if not trusted:
                raise FetchError(FetchErrorKind.BLOCKED_ADDRESS,
                                 "local files cannot be read for links sent through commands")
            return await self._fetch_file(url, last_modified)
        if scheme not in ("http", "https") or not target.host:
            raise FetchError(FetchErrorKind.INVALID_URL,
                             f"the address {url!r} is not a web address (http or https)")
        overrides: dict[str, str] = {}
        if user_agent:
            overrides["User-Agent"] = user_agent
        if etag:
            overrides["If-None-Match"] = etag
        if last_modified:
            overrides["If-Modified-Since"] = last_modified
        origin = origin_of(target)
        if headers and headers_for is not None and headers_for != url:
            try:
                origin = origin_of(URL(headers_for))
            except (ValueError, TypeError):
                headers = None  # no origin to hold them to: send them nowhere
        hop_headers = HopHeaders(self._base_headers, headers or {}, origin, overrides)
        state = _Request(hop_headers, etag, last_modified, trusted, tuple(allow_networks),
                         proxy)
        async with self._all:
            try:
                if trusted or proxy:
                    # Through a proxy the proxy connects, so a guarded resolver would only
                    # check the (operator-chosen) proxy; each hop is still pre-checked.
                    return await self._follow(self._session, url, target, state)
                # Address checks resolve names outside aiohttp's timers: one clock for all.
                async with asyncio.timeout(self._limits.total_timeout), \
                        self._untrusted_session(allow_networks) as session:
                    return await self._follow(session, url, target, state)
            except TimeoutError as exc:  # the whole chain ran over total_timeout
                raise FetchError(
                    FetchErrorKind.TIMEOUT,
                    f"the feed did not finish downloading within {self._limits.total_timeout:g} "
                    "seconds") from exc

    @asynccontextmanager
    async def _untrusted_session(self, allow_networks: Sequence[str]
                                 ) -> AsyncIterator[aiohttp.ClientSession]:
        # A connector per fetch: its pool only ever holds connections to addresses checked under
        # this fetch's allow_networks. Polls are minutes apart, far beyond keep-alive, so
        # nothing is lost by not sharing it.
        try:
            resolver = GuardedResolver(allow_networks, inner=self._resolver)
        except ValueError as exc:
            raise FetchError(FetchErrorKind.INVALID_URL, str(exc)) from exc
        connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False, limit=0,
                                         force_close=True)
        session = _session(self._limits, connector)
        try:
            yield session
        finally:
            await session.close()
            await resolver.close()

    async def _follow(self, session: aiohttp.ClientSession, url: str, target: URL,
                      state: _Request) -> FetchResult:
        # The request is made here rather than in a helper coroutine: every await layer costs on
        # each of a request's several suspensions, 10,000 times a cycle.
        started = time.monotonic()
        current, timeout = url, self._timeout
        chain: RedirectChain | None = None  # made at the first redirect: most fetches have none
        for hop in range(self._limits.max_redirects + 1):
            if not state.trusted:
                try:
                    await check_url_allowed(current, state.allow_networks,
                                            resolver=self._resolver)
                except FetchError as exc:
                    raise exc if hop == 0 else refused_hop(exc, current) from None
            host = target.host or ""
            if chain is None:
                headers = state.headers.first(target)
            else:
                headers = chain.with_cookies(host, state.headers.for_hop(target))
                timeout = _timeout(self._limits, total=chain.seconds_left())
            slot = await self._hosts.acquire(host)
            try:
                # Timeouts per request: the Fetcher's limits govern whatever session it is given.
                async with session.get(target, headers=headers, allow_redirects=False,
                                       proxy=state.proxy, timeout=timeout) as resp:
                    status = resp.status
                    if status not in REDIRECTS:
                        permanent = current if chain is not None and chain.all_permanent else None
                        if status == 304 and (state.etag or state.last_modified):
                            return not_modified(resp.headers, current, permanent, state.etag,
                                                state.last_modified)
                        if not 200 <= status < 300:
                            h = resp.headers
                            raise status_error(status, current, parse_retry_after(
                                h.get("Retry-After"), h.get("Date")))
                        return full_result(resp.headers, status, current, permanent,
                                           await self._read_body(resp))
                    if chain is None:
                        chain = RedirectChain(url,
                                              deadline=started + self._limits.total_timeout)
                    location = chain.redirected(host, status, resp)
            except FetchError:
                raise
            except aiohttp.ClientError as exc:
                raise client_error(exc, current, connect_timeout=self._limits.connect_timeout,
                                   read_timeout=self._limits.read_timeout) from exc
            except ssl.SSLError as exc:
                raise FetchError(FetchErrorKind.TLS,
                                 f"certificate error for {current}: {exc}") from exc
            finally:
                self._hosts.release(host, slot)
            current, target = chain.next_hop(current, location, status, hop=hop,
                                             max_redirects=self._limits.max_redirects)
        raise AssertionError("unreachable: the loop returns or raises")

    async def _read_body(self, resp: aiohttp.ClientResponse) -> bytes:
        limit = self._limits.max_body_bytes
        declared = resp.content_length
        # Content-Length is the compressed size when gzip is on; refuse early only when even
        # that is over the limit, and count the decompressed bytes while reading.
        if declared is not None and declared > limit:
            raise too_large(limit)
        buf = bytearray()
        async for chunk in resp.content.iter_chunked(_CHUNK):
            buf += chunk
            if len(buf) > limit:
                raise too_large(limit)
        return bytes(buf)

    async def _fetch_file(self, url: str, last_modified: str | None) -> FetchResult:
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise FetchError(FetchErrorKind.INVALID_URL, f"{url!r} names another machine's file")
        path = Path(url2pathname(parts.path))
        limit = self._limits.max_body_bytes

        def read() -> tuple[bytes, float]:
            with path.open("rb") as f:
                mtime = path.stat().st_mtime
                data = f.read(limit + 1)
            return data, mtime

        try:
            data, mtime = await asyncio.to_thread(read)
        except FileNotFoundError as exc:
            raise FetchError(FetchErrorKind.NOT_FOUND, f"the file {path} does not exist") from exc
        except OSError as exc:
            raise FetchError(FetchErrorKind.HTTP_ERROR,
                             f"the file {path} could not be read: {exc.strerror}") from exc
        if len(data) > limit:
            raise too_large(limit)
        stamp = format_datetime(datetime.fromtimestamp(int(mtime), UTC), usegmt=True)
        if last_modified == stamp:
            return FetchResult(url=url, status=0, body=None, last_modified=stamp)
        return FetchResult(url=url, status=0, body=data, last_modified=stamp,
                           body_hash=hashlib.sha256(data).hexdigest())
