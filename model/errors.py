"""Errors raised while fetching and parsing feeds.

Error tree::

    FeedError                 base: `kind` (FetchErrorKind) and `message` (plain words for editors)
    ├── FetchError            HTTP / network / address-safety failures; `status`, `retry_after`
    └── FeedParseError        the body is not a usable feed (web page, challenge page, unsafe XML…)

Every error carries a `kind` so callers can decide what to do (retry soon, back off, disable the
feed, tell the editor) without matching on message text, and a `message` that can be shown to an
editor as is.
"""
from __future__ import annotations

from enum import StrEnum


class FetchErrorKind(StrEnum):
    """Why a fetch or parse failed. Values are stable: they are stored and shown in /status."""

    # network
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    TLS = "tls"
    DNS = "dns"
    INVALID_URL = "invalid_url"
    # size and redirects
    TOO_LARGE = "too_large"
    REDIRECT_LOOP = "redirect_loop"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    # address safety
    BLOCKED_ADDRESS = "blocked_address"
    # HTTP status
    NOT_FOUND = "not_found"
    GONE = "gone"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    HTTP_ERROR = "http_error"
    # body
    NOT_A_FEED = "not_a_feed"
    CHALLENGE = "challenge"
    EMPTY = "empty"
    UNSAFE_XML = "unsafe_xml"
    PARSE_TIMEOUT = "parse_timeout"   # reading the body took longer than the parse time limit
    PARSE_CRASH = "parse_crash"       # the parse process died while reading the body, twice


class FeedError(Exception):
    """Base of every feed error: a machine-readable `kind` and an editor-readable `message`."""

    def __init__(self, kind: FetchErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kind.value!r}, {self.message!r})"


class FetchError(FeedError):
    """The feed could not be fetched. `status` is the HTTP status when there was one;
    `retry_after` (seconds) is the server's own hint from Retry-After when it gave one."""

    def __init__(
        self,
        kind: FetchErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(kind, message)
        self.status = status
        self.retry_after = retry_after


class FeedParseError(FeedError):
    """The body was fetched but is not a feed we can read. `feed_links` lists feed addresses a
    web page advertised (<link rel="alternate">), so an editor can be told where the feed is."""

    def __init__(
        self,
        message: str,
        *,
        kind: FetchErrorKind = FetchErrorKind.NOT_A_FEED,
        feed_links: tuple[str, ...] = (),
    ) -> None:
        super().__init__(kind, message)
        self.feed_links = feed_links
