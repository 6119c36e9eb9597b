"""Redirect chains of a feed fetch, and which headers each hop may carry.

A chain remembers where it has been (loops), whether every hop so far was permanent (only then
is the new address stored), the cookies set on the way, and the deadline its hops share.

Headers a feed's config adds (`headers:`: tokens, API keys, Authorization) are meant for the
site they were written for. They go only to the origin (scheme, host, port) of the configured
address, or to that origin's https upgrade (http://host → https://host, default ports: the same
site over a safer channel), and never to a plain-http hop once the chain has been on https.
Everything else (User-Agent, Accept, validators) goes to every hop.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from urllib.parse import urljoin, urlsplit

import aiohttp
from yarl import URL

from model.errors import FetchError, FetchErrorKind

REDIRECTS = frozenset({301, 302, 303, 307, 308})
PERMANENT = frozenset({301, 308})

Origin = tuple[str, str, int | None]


def origin_of(url: URL) -> Origin:
    """(scheme, host, port) of an absolute URL; the port is the scheme's default when unsaid."""
    return (url.scheme.lower(), (url.host or "").lower().rstrip("."), url.port)


def _may_carry(configured: Origin, hop: Origin) -> bool:
    if hop == configured:
        return True
    # The https upgrade of the same site: many feeds configured as http:// answer with it.
    return (configured[0] == "http" and configured[2] == 80 and hop[0] == "https"
            and hop[2] == 443 and hop[1] == configured[1])


class HopHeaders:
    """The request headers of each hop: the feed's own headers only where they belong."""

    __slots__ = ("_all", "_common", "_origin", "_secure_seen")

    def __init__(self, common: dict[str, str], custom: Mapping[str, str], origin: Origin,
                 overrides: Mapping[str, str]) -> None:
        # Precedence as written: ours < the feed's headers < User-Agent and validators.
        self._common = {**common, **overrides}
        self._all = {**common, **custom, **overrides} if custom else self._common
        self._origin = origin
        self._secure_seen = False

    def first(self, url: URL) -> dict[str, str]:
        """Headers of the first request (the hot path: one comparison when there are none)."""
        if self._all is self._common:
            return self._common
        return self.for_hop(url)

    def for_hop(self, url: URL) -> dict[str, str]:
        """Headers for a request to `url`, this chain's next hop."""
        hop = origin_of(url)
        downgrade = self._secure_seen and hop[0] == "http"
        self._secure_seen = self._secure_seen or hop[0] == "https"
        if self._all is self._common or downgrade or not _may_carry(self._origin, hop):
            return self._common
        return self._all


class RedirectChain:
    """What a redirect chain has to remember: where it has been (loops), whether every hop so
    far was permanent, cookies set on the way, and the deadline the hops share."""

    def __init__(self, first: str, *, deadline: float) -> None:
        self.seen = {first.split("#", 1)[0]}
        self.all_permanent = True
        self.cookies: dict[str, dict[str, str]] = {}  # host -> cookies set in this chain
        self.deadline = deadline

    def with_cookies(self, host: str, headers: dict[str, str]) -> dict[str, str]:
        """`headers` plus the cookies this chain was given by `host`."""
        jar = self.cookies.get(host)
        if not jar:
            return headers
        return {**headers, "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())}

    def seconds_left(self) -> float:
        """Time left of the chain's budget; TimeoutError when it is spent."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        return remaining

    def redirected(self, host: str, status: int, resp: aiohttp.ClientResponse) -> str:
        """Record a redirect answer; its Location."""
        if resp.cookies:  # cookies matter only to the next hops of this chain
            jar = self.cookies.setdefault(host, {})
            for name, morsel in resp.cookies.items():
                jar[name] = morsel.value
        self.all_permanent = self.all_permanent and status in PERMANENT
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


def refused_hop(exc: FetchError, target: str) -> FetchError:
    """A hop the address guard refused, said as the redirect it was (the first hop is the
    feed's own address and keeps the guard's words)."""
    return FetchError(exc.kind, f"the feed redirected to {target}, and {exc.message}",
                      status=exc.status)
