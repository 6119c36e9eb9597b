"""What a feed server's answer means: Retry-After and freshness headers, the FetchResult of a
200 or a 304, and every failure (HTTP status, aiohttp error) as a typed FetchError in plain words.

Pure functions of the response's headers and status; the fetching itself is `feeds.fetcher`.
"""
from __future__ import annotations

import contextlib
import hashlib
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import aiohttp
from multidict import CIMultiDictProxy

from model.article import FetchResult
from model.errors import FetchError, FetchErrorKind

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
        with contextlib.suppress(TypeError, ValueError, IndexError):
            reference = parsedate_to_datetime(server_date)
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
# results


def not_modified(h: CIMultiDictProxy[str], url: str, permanent: str | None,
                 etag: str | None, last_modified: str | None) -> FetchResult:
    """The result of a 304 answer."""
    # Servers often omit the validators on 304; the ones we sent are still current.
    return FetchResult(url=url, status=304, body=None, content_type=h.get("Content-Type", ""),
                       etag=h.get("ETag") or etag,
                       last_modified=h.get("Last-Modified") or last_modified,
                       permanent_redirect_to=permanent, max_age=max_age_of(h),
                       retry_after=parse_retry_after(h.get("Retry-After"), h.get("Date")))


def full_result(h: CIMultiDictProxy[str], status: int, url: str, permanent: str | None,
                body: bytes) -> FetchResult:
    """The result of a 2xx answer with its body."""
    return FetchResult(
        url=url, status=status, body=body, content_type=h.get("Content-Type", ""),
        etag=h.get("ETag"), last_modified=h.get("Last-Modified"),
        permanent_redirect_to=permanent, body_hash=hashlib.sha256(body).hexdigest(),
        max_age=max_age_of(h), retry_after=parse_retry_after(h.get("Retry-After"), h.get("Date")))


def max_age_of(h: CIMultiDictProxy[str]) -> int | None:
    """Freshness from the response's Cache-Control, Expires and Date."""
    cache_control, expires = h.get("Cache-Control"), h.get("Expires")
    if cache_control is None and expires is None:
        return None
    return parse_max_age(cache_control, expires, h.get("Date"))


# --------------------------------------------------------------------------------------------
# error mapping


def too_large(limit: int) -> FetchError:
    """The body ran over `limit` bytes."""
    return FetchError(FetchErrorKind.TOO_LARGE,
                      f"the feed is larger than {limit / 1_000_000:g} MB; the download was stopped")


def status_error(status: int, url: str, retry_after: float | None) -> FetchError:
    """A non-2xx, non-redirect answer as a typed FetchError."""
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


def client_error(exc: aiohttp.ClientError, url: str, *, connect_timeout: float,
                 read_timeout: float) -> FetchError:
    """An aiohttp failure as a typed FetchError in plain words."""
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
                          f"{connect_timeout:g} seconds")
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return FetchError(FetchErrorKind.TIMEOUT, f"{host} stopped sending data for "
                          f"{read_timeout:g} seconds")
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
