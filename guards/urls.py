"""URL canonicalisation: one spelling per article address, so identity and dedupe do not depend
on tracking parameters, letter case of the host, default ports or fragments. Pure."""
from __future__ import annotations

import re
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

# Query parameters that only say where a click came from. Dropping them makes the same article
# shared through a newsletter, Facebook or a "ref" link collapse to one identity.
_TRACKING_EXACT = frozenset({"fbclid", "gclid", "mc_cid", "mc_eid", "ref"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters left as they are in paths and queries; everything else (Arabic letters, spaces) is
# percent-encoded so a raw and an encoded spelling of the same link are equal.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"
_PERCENT = re.compile(r"%[0-9a-fA-F]{2}")


def is_tracking_param(name: str) -> bool:
    """True for utm_* and the click identifiers we drop from links."""
    lowered = name.lower()
    return lowered.startswith("utm_") or lowered in _TRACKING_EXACT


def _upper_escapes(text: str) -> str:
    # %d8%a7 and %D8%A7 are the same byte; pick one spelling.
    return _PERCENT.sub(lambda m: m.group(0).upper(), text)


def _clean_query(query: str) -> str:
    kept = []
    for part in query.split("&"):
        if not part:
            continue
        name = unquote(part.split("=", 1)[0].replace("+", " "))
        if not is_tracking_param(name):
            kept.append(part)  # the raw spelling is kept: re-encoding could change meaning
    return "&".join(kept)


def canonical_url(url: str, base: str | None = None) -> str:
    """The canonical spelling of `url`, resolved against `base` when relative.

    Scheme and host are lower-cased, the default port and the fragment dropped, tracking
    parameters (utm_*, fbclid, gclid, mc_cid, mc_eid, ref) removed with the order of the other
    parameters kept, an empty path becomes "/". Returns "" for an empty or unusable URL.
    """
    url = url.strip()
    if base:
        url = urljoin(base.strip(), url)
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # e.g. a port that is not a number: keep what we were given, minus spaces
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal: urlsplit strips the brackets
        host = f"[{host}]"
    netloc = host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{host}:{port}"
    if parts.username is not None:
        userinfo = parts.username + (f":{parts.password}" if parts.password is not None else "")
        netloc = f"{userinfo}@{netloc}"
    path = _upper_escapes(quote(parts.path, safe=_PATH_SAFE))
    if not path and netloc and scheme in _DEFAULT_PORTS:
        path = "/"
    query = _upper_escapes(quote(_clean_query(parts.query), safe=_QUERY_SAFE))
    return urlunsplit((scheme, netloc, path, query, ""))
