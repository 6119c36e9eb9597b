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
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from urllib.request import url2pathname

import aiohttp
from aiohttp.abc import AbstractResolver
from multidict import CIMultiDictProxy
from yarl import URL

from guards.network import GuardedResolver, check_url_allowed
from model.article import FetchResult
from model.errors import FetchError, FetchErrorKind

__all__ = ["FetchError", "FetchErrorKind", "FetchLimits", "Fetcher", "make_session"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})
_ACCEPT = ("application/rss+xml, application/atom+xml, application/feed+json, "
           "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8")
# Credentials given for one host must not travel to another one a redirect points at.
_HOST_BOUND_HEADERS = ("authorization", "cookie", "proxy-authorization")
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
# header helpers


def parse_retry_after(value: str | None, server_date: str | None = None,
                      now: datetime | None = None) -> float | None:
    """Retry-After as seconds from now: a number of seconds or an HTTP date (measured against
    the server's own Date header when present, so clock skew does not matter)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    reference = now or datetime.now(UTC)
    if server_date:
        try:
            reference = parsedate_to_datetime(server_date)
        except (TypeError, ValueError, IndexError):
            pass
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if reference.tzinfo is None:
        reference = reference.replace(tzinfo=UTC)
    return max(0.0, (when - reference).total_seconds())


def parse_max_age(cache_control: str | None, expires: str | None = None,
                  server_date: str | None = None) -> int | None:
    """Freshness in seconds from Cache-Control (max-age; no-store/no-cache -> 0) or Expires."""
    if cache_control:
        for directive in cache_control.split(","):
            name, _, arg = directive.strip().partition("=")
            name = name.lower()
            if name == "max-age":
                try:
                    return max(0, int(arg.strip().strip('"')))
                except ValueError:
                    return None
            if name in ("no-store", "no-cache"):
                return 0
    if expires:
        delta = parse_retry_after(expires, server_date)
        return int(delta) if delta is not None else None
    return None


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

    headers: dict[str, str]
    etag: str | None
    last_modified: str | None
    trusted: bool
    allow_networks: Sequence[str]
    proxy: str | None


class _Chain:
    """What a redirect chain has to remember: where it has been (loops), whether every hop so
    far was permanent, cookies set on the way, and the deadline the hops share."""

    def __init__(self, first: str, *, deadline: float) -> None:
        self.seen = {first.split("#", 1)[0]}
        self.all_permanent = True
        self.cookies: dict[str, dict[str, str]] = {}  # host -> cookies set in this chain
        self.deadline = deadline

    def headers_for(self, host: str, headers: dict[str, str]) -> dict[str, str]:
        jar = self.cookies.get(host)
        if not jar:
            return headers
        return {**headers, "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())}

    def timeout_left(self, limits: FetchLimits) -> aiohttp.ClientTimeout:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        return _timeout(limits, total=remaining)

    def redirected(self, host: str, status: int, resp: aiohttp.ClientResponse) -> str:
        """Record a redirect answer; its Location."""
        if resp.cookies:  # cookies matter only to the next hops of this chain
            jar = self.cookies.setdefault(host, {})
            for name, morsel in resp.cookies.items():
                jar[name] = morsel.value
        self.all_permanent = self.all_permanent and status in _PERMANENT
        location = resp.headers.get("Location")
        if not location:
            raise FetchError(FetchErrorKind.HTTP_ERROR, f"the server answered {status} "
                             "(redirect) without saying where to", status=status)
        return location

    def next_hop(self, current: str, location: str, status: int, *, hop: int,
                 max_redirects: int) -> tuple[str, URL]:
        """The address a redirect leads to, checked: a web address, not seen before in this
        chain, and not one hop too many."""
        target = urljoin(current, location.strip()).split("#", 1)[0]
        if urlsplit(target).scheme.lower() not in ("http", "https"):
            raise FetchError(FetchErrorKind.BLOCKED_ADDRESS,
                             f"the feed redirected to {target!r}, which is not a web address")
        if target in self.seen:
            raise FetchError(
                FetchErrorKind.REDIRECT_LOOP,
                f"the address redirects in a circle (back to {target}); the site is "
                "misconfigured or wants cookies or JavaScript the bot does not run",
                status=status)
        if hop == max_redirects:
            raise FetchError(FetchErrorKind.TOO_MANY_REDIRECTS,
                             f"the address redirected more than {max_redirects} times",
                             status=status)
        self.seen.add(target)
        try:
            return target, URL(target)
        except ValueError as exc:
            raise FetchError(FetchErrorKind.INVALID_URL,
                             f"the feed redirected to {target!r}, which is not valid") from exc


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
    ) -> FetchResult:
        """GET `url` (following redirects); FetchResult.body is None on 304 Not Modified.

        Raises FetchError for every failure. `trusted=False` applies address safety on every
        hop (see guards.network); file:// URLs are read only when trusted.
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
        request_headers = dict(self._base_headers)
        if headers:
            request_headers.update(headers)
        if user_agent:
            request_headers["User-Agent"] = user_agent
        if etag:
            request_headers["If-None-Match"] = etag
        if last_modified:
            request_headers["If-Modified-Since"] = last_modified
        state = _Request(request_headers, etag, last_modified, trusted, tuple(allow_networks),
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
        chain: _Chain | None = None  # made at the first redirect: most fetches have none
        for hop in range(self._limits.max_redirects + 1):
            if not state.trusted:
                await check_url_allowed(current, state.allow_networks, resolver=self._resolver)
            host = target.host or ""
            headers = state.headers if chain is None else chain.headers_for(host, state.headers)
            if chain is not None:
                timeout = chain.timeout_left(self._limits)
            slot = await self._hosts.acquire(host)
            try:
                # Timeouts per request: the Fetcher's limits govern whatever session it is given.
                async with session.get(target, headers=headers, allow_redirects=False,
                                       proxy=state.proxy, timeout=timeout) as resp:
                    status = resp.status
                    if status not in _REDIRECTS:
                        permanent = current if chain is not None and chain.all_permanent else None
                        if status == 304 and (state.etag or state.last_modified):
                            return _not_modified(resp.headers, current, permanent, state)
                        if not 200 <= status < 300:
                            h = resp.headers
                            raise _status_error(status, current, parse_retry_after(
                                h.get("Retry-After"), h.get("Date")))
                        return _full(resp.headers, status, current, permanent,
                                     await self._read_body(resp))
                    if chain is None:
                        chain = _Chain(url, deadline=started + self._limits.total_timeout)
                    location = chain.redirected(host, status, resp)
            except FetchError:
                raise
            except aiohttp.ClientError as exc:
                raise _client_error(exc, current, self._limits) from exc
            except ssl.SSLError as exc:
                raise FetchError(FetchErrorKind.TLS,
                                 f"certificate error for {current}: {exc}") from exc
            finally:
                self._hosts.release(host, slot)
            current, target = chain.next_hop(current, location, status, hop=hop,
                                             max_redirects=self._limits.max_redirects)
            if (target.host or "") != host:
                state.headers = {k: v for k, v in state.headers.items()
                                 if k.lower() not in _HOST_BOUND_HEADERS}
        raise AssertionError("unreachable: the loop returns or raises")

    async def _read_body(self, resp: aiohttp.ClientResponse) -> bytes:
        limit = self._limits.max_body_bytes
        declared = resp.content_length
        # Content-Length is the compressed size when gzip is on; refuse early only when even
        # that is over the limit, and count the decompressed bytes while reading.
        if declared is not None and declared > limit:
            raise _too_large(limit)
        buf = bytearray()
        async for chunk in resp.content.iter_chunked(_CHUNK):
            buf += chunk
            if len(buf) > limit:
                raise _too_large(limit)
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
            raise _too_large(limit)
        stamp = format_datetime(datetime.fromtimestamp(int(mtime), UTC), usegmt=True)
        if last_modified == stamp:
            return FetchResult(url=url, status=0, body=None, last_modified=stamp)
        return FetchResult(url=url, status=0, body=data, last_modified=stamp,
                           body_hash=hashlib.sha256(data).hexdigest())


# --------------------------------------------------------------------------------------------
# results


def _not_modified(h: CIMultiDictProxy[str], url: str, permanent: str | None,
                  state: _Request) -> FetchResult:
    # Servers often omit the validators on 304; the ones we sent are still current.
    return FetchResult(url=url, status=304, body=None, content_type=h.get("Content-Type", ""),
                       etag=h.get("ETag") or state.etag,
                       last_modified=h.get("Last-Modified") or state.last_modified,
                       permanent_redirect_to=permanent, max_age=_max_age(h),
                       retry_after=parse_retry_after(h.get("Retry-After"), h.get("Date")))


def _full(h: CIMultiDictProxy[str], status: int, url: str, permanent: str | None,
          body: bytes) -> FetchResult:
    return FetchResult(
        url=url, status=status, body=body, content_type=h.get("Content-Type", ""),
        etag=h.get("ETag"), last_modified=h.get("Last-Modified"),
        permanent_redirect_to=permanent, body_hash=hashlib.sha256(body).hexdigest(),
        max_age=_max_age(h), retry_after=parse_retry_after(h.get("Retry-After"), h.get("Date")))


def _max_age(h: CIMultiDictProxy[str]) -> int | None:
    cache_control, expires = h.get("Cache-Control"), h.get("Expires")
    if cache_control is None and expires is None:
        return None
    return parse_max_age(cache_control, expires, h.get("Date"))


# --------------------------------------------------------------------------------------------
# error mapping


def _too_large(limit: int) -> FetchError:
    return FetchError(FetchErrorKind.TOO_LARGE,
                      f"the feed is larger than {limit / 1_000_000:g} MB; the download was stopped")


def _status_error(status: int, url: str, retry_after: float | None) -> FetchError:
    wait = f"; it asks to wait {retry_after:.0f} seconds" if retry_after is not None else ""
    if status == 404:
        return FetchError(FetchErrorKind.NOT_FOUND,
                          f"the server says the feed does not exist (404 Not Found) at {url}",
                          status=status, retry_after=retry_after)
    if status == 410:
        return FetchError(FetchErrorKind.GONE,
                          f"the server says the feed was removed for good (410 Gone) at {url}",
                          status=status, retry_after=retry_after)
    if status in (401, 403):
        return FetchError(FetchErrorKind.FORBIDDEN,
                          f"the server refused the bot ({status}); the site may block automated "
                          "readers or need a login", status=status, retry_after=retry_after)
    if status == 429:
        return FetchError(FetchErrorKind.RATE_LIMITED,
                          f"the server says the bot asks too often (429){wait}",
                          status=status, retry_after=retry_after)
    if status == 503:
        return FetchError(FetchErrorKind.UNAVAILABLE,
                          f"the server is temporarily unavailable (503){wait}",
                          status=status, retry_after=retry_after)
    side = "server had an error" if status >= 500 else "server refused the request"
    return FetchError(FetchErrorKind.HTTP_ERROR, f"the {side} (HTTP {status})",
                      status=status, retry_after=retry_after)


def _client_error(exc: aiohttp.ClientError, url: str, limits: FetchLimits) -> FetchError:
    host = urlsplit(url).hostname or url
    # Order matters: the specific aiohttp classes subclass the general ones below them.
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return FetchError(FetchErrorKind.TLS,
                          f"certificate error: {host} did not present a valid certificate "
                          f"({exc.certificate_error})")
    if isinstance(exc, aiohttp.ClientSSLError):
        return FetchError(FetchErrorKind.TLS, f"certificate error: the secure connection to "
                          f"{host} failed ({exc})")
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return FetchError(FetchErrorKind.TIMEOUT, f"{host} did not accept a connection within "
                          f"{limits.connect_timeout:g} seconds")
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return FetchError(FetchErrorKind.TIMEOUT, f"{host} stopped sending data for "
                          f"{limits.read_timeout:g} seconds")
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return FetchError(FetchErrorKind.DNS, f"the host name {host} could not be found (DNS)")
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror or str(exc.os_error)
        return FetchError(FetchErrorKind.CONNECTION, f"could not connect to {host}: {reason}")
    if isinstance(exc, aiohttp.InvalidURL):
        return FetchError(FetchErrorKind.INVALID_URL, f"the address {url!r} is not valid")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return FetchError(FetchErrorKind.CONNECTION, f"the download from {host} was cut off or "
                          "its compression was broken")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return FetchError(FetchErrorKind.CONNECTION,
                          f"{host} closed the connection without answering")
    if isinstance(exc, aiohttp.ClientResponseError):
        return FetchError(FetchErrorKind.HTTP_ERROR,
                          f"{host} sent a response the bot could not understand ({exc.message})")
    return FetchError(FetchErrorKind.CONNECTION, f"the connection to {host} failed ({exc})")
