"""Address safety for URLs that came through bot commands (/push, /addfeed): they must not make
the bot reach its own machine, the private network or the cloud metadata service (SSRF).

Two layers, because checking a name and then connecting to it separately leaves a gap (DNS
rebinding: the name answers a public address to the check and 127.0.0.1 to the connect):

* `check_url_allowed` resolves the host and refuses the URL if ANY address it resolves to is
  not public (loopback, RFC 1918, ULA, link-local incl. 169.254.169.254, multicast,
  unspecified, reserved, ...), unless the address is inside one of the operator's
  `allow_networks`. It gives an early, clear error and covers IP literals, which aiohttp
  connects to without asking a resolver.
* `GuardedResolver` is the resolver of the connector used for untrusted fetches: the addresses
  aiohttp connects to are exactly the ones it checked, so nothing can change in between.
"""
from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from model.errors import FetchError, FetchErrorKind

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


def parse_networks(allow_networks: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDR strings -> networks; raises ValueError naming the bad entry."""
    networks = []
    for cidr in allow_networks:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"allow_networks: {cidr!r} is not a network (CIDR): {exc}") from exc
    return tuple(networks)


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    # IPv6 spellings of IPv4 addresses: ::ffff:127.0.0.1, 6to4 2002:7f00:1::, NAT64 64:ff9b::7f00:1.
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def _why_not_public(ip: IPAddress) -> str | None:
    if ip.is_unspecified:
        return "an unspecified address (0.0.0.0 or ::)"
    if ip.is_loopback:
        return "this machine (loopback)"
    if ip.is_link_local:
        return "a link-local address (such as the cloud metadata service)"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "a private network address"
    if ip.is_private or ip in _CGNAT:
        return "a private network address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "an address that is not on the public internet"
    return None


def blocked_reason(ip: IPAddress | str, allowed: Sequence[IPNetwork] = ()) -> str | None:
    """Why an untrusted fetch may not connect to `ip` (plain words), or None if it may."""
    if isinstance(ip, str):
        ip = ipaddress.ip_address(ip.split("%", 1)[0])  # drop an IPv6 zone id
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and (v4 := _embedded_v4(ip)) is not None:
        # ::ffff:a.b.c.d IS that IPv4 address (the v6 prefix itself counts as "reserved");
        # 6to4/NAT64 forms must pass as IPv6 and as the IPv4 address they carry.
        candidates = [v4] if ip.ipv4_mapped is not None else [ip, v4]
    for candidate in candidates:
        if any(candidate.version == net.version and candidate in net for net in allowed):
            return None
    for candidate in candidates:
        if reason := _why_not_public(candidate):
            return reason
    return None


def _refusal(host: str, ip: str, reason: str) -> FetchError:
    where = host if host == ip else f"{host} ({ip})"
    return FetchError(
        FetchErrorKind.BLOCKED_ADDRESS,
        f"the address {where} points to {reason}; the bot does not fetch such addresses for "
        "links sent through commands (an owner can allow the network in allow_networks)")


def check_addresses(host: str, addresses: Iterable[str], allowed: Sequence[IPNetwork]) -> None:
    """Raise FetchError(blocked_address) if any of `addresses` is not allowed."""
    for address in addresses:
        if reason := blocked_reason(address, allowed):
            raise _refusal(host, address, reason)


async def check_url_allowed(url: str, allow_networks: Sequence[str] = (), *,
                            resolver: AbstractResolver | None = None) -> None:
    """Refuse (FetchError blocked_address) a URL an untrusted fetch may not reach.

    Only http and https; the host must resolve, and every address it resolves to must be public
    or inside `allow_networks`.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise FetchError(FetchErrorKind.INVALID_URL, f"the address {url!r} is not valid") from exc
    if parts.scheme not in ("http", "https"):
        raise FetchError(FetchErrorKind.BLOCKED_ADDRESS,
                         f"only http and https addresses can be used here, not {parts.scheme}:")
    if not host:
        raise FetchError(FetchErrorKind.INVALID_URL, f"the address {url!r} has no host name")
    allowed = parse_networks(allow_networks)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        literal = None
    if literal is not None:
        check_addresses(host, [host], allowed)
        return
    addresses = await resolve_addresses(host, port, resolver)
    check_addresses(host, addresses, allowed)


async def resolve_addresses(host: str, port: int,
                            resolver: AbstractResolver | None = None) -> list[str]:
    """Every address `host` resolves to; FetchError(dns) when it does not resolve."""
    own = resolver is None
    active = resolver or DefaultResolver()
    try:
        results = await active.resolve(host, port, family=socket.AF_UNSPEC)
    except OSError as exc:
        raise FetchError(FetchErrorKind.DNS,
                         f"the host name {host} could not be found (DNS)") from exc
    finally:
        if own:
            await active.close()
    if not results:
        raise FetchError(FetchErrorKind.DNS, f"the host name {host} could not be found (DNS)")
    return [r["host"] for r in results]


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that refuses hosts with any non-allowed address.

    Used by the connector of untrusted fetches, so the connection goes to an address that was
    checked in the same step (no DNS-rebinding window between check and connect).
    """

    def __init__(self, allow_networks: Sequence[str] = (), *,
                 inner: AbstractResolver | None = None) -> None:
        self._allowed = parse_networks(allow_networks)
        self._inner = inner
        self._own_inner = inner is None

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if self._inner is None:
            self._inner = DefaultResolver()
        results = await self._inner.resolve(host, port, family)
        for result in results:
            if reason := blocked_reason(result["host"], self._allowed):
                # Not an OSError on purpose: aiohttp passes other exceptions through unchanged,
                # so the caller gets this exact error instead of a generic DNS failure.
                raise _refusal(host, result["host"], reason)
        return results

    async def close(self) -> None:
        if self._inner is not None and self._own_inner:
            await self._inner.close()
