"""Tests for guards.network and untrusted fetches: no loopback, private or metadata addresses."""
from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from feeds.fetcher import Fetcher, FetchLimits, make_session
from guards.network import GuardedResolver, blocked_reason, check_url_allowed, parse_networks
from model.errors import FetchError, FetchErrorKind
from tests.fakes.feed_server import FeedItem, FeedServer

LIMITS = FetchLimits(connect_timeout=2, read_timeout=2, total_timeout=5)


class ScriptedResolver(AbstractResolver):
    """A DNS stand-in that answers each lookup of a name with the next address in its script
    (the last one repeats): the shape of a DNS-rebinding attack."""

    def __init__(self, script: dict[str, list[str]]) -> None:
        self.script = script
        self.lookups: list[str] = []

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        answers = self.script.get(host)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        self.lookups.append(host)
        address = answers.pop(0) if len(answers) > 1 else answers[0]
        fam = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [ResolveResult(hostname=host, host=address, port=port, family=fam, proto=0,
                              flags=socket.AI_NUMERICHOST)]

    async def close(self) -> None:
        return None


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with make_session(LIMITS) as s:
        yield s


async def _error(coro: object) -> FetchError:
    with pytest.raises(FetchError) as err:
        await coro  # type: ignore[misc]
    return err.value


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.1.10", "169.254.169.254",
    "100.64.0.1", "0.0.0.0", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
    "::1", "::", "fc00::1", "fd12:3456::1", "fe80::1", "ff02::1", "::ffff:127.0.0.1",
    "::ffff:10.0.0.1", "2002:7f00:1::1", "64:ff9b::a9fe:a9fe", "fec0::1",
])
def test_non_public_addresses_are_blocked(address: str) -> None:
    """Loopback, private, ULA, link-local/metadata, multicast, unspecified, reserved and
    IPv6 spellings of private IPv4 addresses are all refused."""
    assert blocked_reason(address) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111",
                                     "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    """Public IPv4 and IPv6 addresses are allowed."""
    assert blocked_reason(address) is None


def test_allow_networks_lets_listed_private_addresses_through() -> None:
    """An address inside allow_networks is allowed; one outside it is still refused."""
    allowed = parse_networks(["10.0.0.0/8", "::1/128"])
    assert blocked_reason("10.20.30.40", allowed) is None
    assert blocked_reason("::1", allowed) is None
    assert blocked_reason("192.168.0.1", allowed) is not None
    with pytest.raises(ValueError, match="not-a-cidr"):
        parse_networks(["not-a-cidr"])


async def test_check_url_allowed_explains_refusals() -> None:
    """check_url_allowed refuses IP literals, non-web schemes and bad URLs in plain words."""
    err = await _error(check_url_allowed("http://169.254.169.254/latest/meta-data/"))
    assert err.kind == FetchErrorKind.BLOCKED_ADDRESS and "metadata" in err.message
    err = await _error(check_url_allowed("http://[::1]:8080/"))
    assert err.kind == FetchErrorKind.BLOCKED_ADDRESS and "this machine" in err.message
    err = await _error(check_url_allowed("file:///etc/passwd"))
    assert err.kind == FetchErrorKind.BLOCKED_ADDRESS
    err = await _error(check_url_allowed("http:///nohost"))
    assert err.kind == FetchErrorKind.INVALID_URL
    await check_url_allowed("http://93.184.216.34/feed")  # public literal: fine, no DNS needed
    await check_url_allowed("http://10.0.0.5/feed", ["10.0.0.0/24"])


async def test_every_resolved_address_is_checked() -> None:
    """A name with one public and one private address is refused."""
    class Both(ScriptedResolver):
        async def resolve(self, host: str, port: int = 0,
                          family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
            return [ResolveResult(hostname=host, host=a, port=port, family=socket.AF_INET,
                                  proto=0, flags=0) for a in ("93.184.216.34", "10.0.0.7")]

    err = await _error(check_url_allowed("http://mixed.example/", resolver=Both({})))
    assert err.kind == FetchErrorKind.BLOCKED_ADDRESS and "10.0.0.7" in err.message


async def test_untrusted_fetch_to_loopback_is_refused_unless_allowed(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    """An untrusted fetch of 127.0.0.1 or localhost is refused before any request, and works
    once allow_networks lists loopback."""
    fetcher = Fetcher(session, LIMITS)
    feed_server.add_feed("/feed", items=[FeedItem(guid="1", title="t")])
    for url in (feed_server.url("/feed"), f"http://localhost:{feed_server.port}/feed"):
        err = await _error(fetcher.fetch(url, trusted=False))
        assert err.kind == FetchErrorKind.BLOCKED_ADDRESS
    assert feed_server.hits("/feed") == 0
    ok = await fetcher.fetch(feed_server.url("/feed"), trusted=False,
                             allow_networks=["127.0.0.0/8"])
    assert ok.status == 200
    ok = await fetcher.fetch(f"http://localhost:{feed_server.port}/feed", trusted=False,
                             allow_networks=["127.0.0.0/8", "::1/128"])
    assert ok.status == 200


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/",
                                    "http://10.0.0.1/admin", "http://127.0.0.2:{port}/feed",
                                    "http://[::1]:{port}/feed"])
async def test_redirect_from_allowed_host_to_private_address_is_refused(
    feed_server: FeedServer, session: aiohttp.ClientSession, target: str
) -> None:
    """Each redirect hop is checked again: an allowed host cannot bounce the bot to a private or
    metadata address."""
    fetcher = Fetcher(session, LIMITS)
    feed_server.redirect("/jump", target.format(port=feed_server.port), 302)
    err = await _error(fetcher.fetch(feed_server.url("/jump"), trusted=False,
                                     allow_networks=["127.0.0.1/32"]))
    assert err.kind == FetchErrorKind.BLOCKED_ADDRESS
    assert feed_server.hits("/jump") == 1


async def test_dns_rebinding_between_check_and_connect_is_refused(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    """A name that answers a public address to the check and 127.0.0.1 to the connect never
    reaches 127.0.0.1: the connector's resolver checks the addresses it connects to."""
    feed_server.add_feed("/feed")
    resolver = ScriptedResolver({"rebind.example": ["93.184.216.34", "127.0.0.1"]})
    fetcher = Fetcher(session, LIMITS, resolver=resolver)
    url = f"http://rebind.example:{feed_server.port}/feed"
    err = await _error(fetcher.fetch(url, trusted=False))
    assert err.kind == FetchErrorKind.BLOCKED_ADDRESS and "127.0.0.1" in err.message
    assert resolver.lookups == ["rebind.example", "rebind.example"]  # check, then connect
    assert feed_server.hits("/feed") == 0
    # Control: with loopback allowed the same scripted name does reach the server, so the
    # refusal above came from the guard, not from the stand-in DNS.
    resolver.script["rebind.example"] = ["93.184.216.34", "127.0.0.1"]
    ok = await fetcher.fetch(url, trusted=False,
                             allow_networks=["127.0.0.0/8"])
    assert ok.status == 200 and feed_server.hits("/feed") == 1


async def test_unknown_host_is_a_dns_error(session: aiohttp.ClientSession) -> None:
    """A name that does not resolve is a dns error naming the host."""
    fetcher = Fetcher(session, LIMITS, resolver=ScriptedResolver({}))
    err = await _error(fetcher.fetch("http://no-such-host.example/feed", trusted=False))
    assert err.kind == FetchErrorKind.DNS and "no-such-host.example" in err.message


async def test_guarded_resolver_refuses_private_answers() -> None:
    """GuardedResolver raises blocked_address when its DNS answer is private."""
    guard = GuardedResolver((), inner=ScriptedResolver({"intranet.example": ["192.168.5.5"]}))
    err = await _error(guard.resolve("intranet.example", 80))
    assert err.kind == FetchErrorKind.BLOCKED_ADDRESS
    allowed = GuardedResolver(["192.168.0.0/16"],
                              inner=ScriptedResolver({"intranet.example": ["192.168.5.5"]}))
    assert [r["host"] for r in await allowed.resolve("intranet.example", 80)] == ["192.168.5.5"]
