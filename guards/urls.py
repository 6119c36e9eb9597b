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


# -- showing URLs: secrets masked -------------------------------------------------------------

MASK = "***"
# Query parameters whose value is a credential: these names (compared with case, "-", "_", "."
# ignored), and names whose last word (snake_case, kebab-case or camelCase) is one of
# _SECRET_WORDS (api_key, accessToken, client_secret, X-Amz-Signature…), but not "monkey".
_SECRET_NAMES = frozenset({
    "key", "apikey", "token", "secret", "password", "passwd", "pwd", "pass", "sig", "signature",
    "auth", "authorization", "session", "sessionid", "sid", "jwt", "bearer", "credential",
    "credentials", "hmac", "otp", "code", "ticket", "hash", "nonce", "accesskeyid",
    "privatekey", "secretkey", "accesstoken", "authtoken", "apitoken", "clientsecret",
})
_SECRET_WORDS = frozenset({"key", "token", "secret", "password", "passwd", "signature", "sig",
                           "credential", "credentials", "auth", "pwd"})
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+")
_NAME_NOISE = re.compile(r"[-_.\s\[\]]")
# A URL inside free text (a log line, an error message, an audit entry): a scheme, "://" and
# everything up to whitespace, a quote or an angle bracket; closing punctuation at its end
# belongs to the sentence.
_URL_IN_TEXT = re.compile(r"""[A-Za-z][A-Za-z0-9+.\-]{0,15}://[^\s<>"'`]+""")
_SENTENCE_END = re.compile(r"[)\]}.,;:!?]+$")
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://)([^/?#]*)@")


def is_secret_param(name: str) -> bool:
    """True for a query parameter whose value is a credential (apikey, token, sig, …)."""
    name = unquote(name)
    if _NAME_NOISE.sub("", name.lower()) in _SECRET_NAMES:
        return True
    words = _WORD.findall(name)
    return bool(words) and words[-1].lower() in _SECRET_WORDS


def _mask_query(query: str) -> str:
    parts = []
    for part in re.split("([&;])", query):
        name, equals, value = part.partition("=")
        if equals and value and is_secret_param(name):
            part = f"{name}={MASK}"
        parts.append(part)
    return "".join(parts)


def display_url(url: str) -> str:
    """`url` as it may be shown (logs, replies, exports, pages): a user:password part and the
    values of credential parameters (apikey=, token=, key=, secret=, password=, sig=, …)
    replaced by ***; everything else exactly as given. The bot fetches with the real URL."""
    if not url:
        return url
    shown = _USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", url, count=1)
    fragment = ""
    if "#" in shown:
        shown, hash_, fragment = shown.partition("#")
        fragment = hash_ + _mask_query(fragment)  # tokens travel in fragments too (OAuth)
    if "?" in shown:
        base, _, query = shown.partition("?")
        shown = f"{base}?{_mask_query(query)}"
    return shown + fragment


def mask_urls_in_text(text: str) -> str:
    """Free text (a log line, an error message) with every URL in it shown by display_url."""
    if "://" not in text:
        return text

    def mask(match: re.Match[str]) -> str:
        url = match.group(0)
        tail = _SENTENCE_END.search(url)
        if tail is None:
            return display_url(url)
        return display_url(url[:tail.start()]) + tail.group(0)

    return _URL_IN_TEXT.sub(mask, text)


def has_masked_secret(url: str) -> bool:
    """True for a URL whose secret was masked by display_url (an exported OPML read back in):
    fetching it cannot work, so an import refuses it and says why."""
    userinfo = _USERINFO.match(url)
    if userinfo is not None and userinfo.group(2) == MASK:
        return True
    address, _, fragment = url.partition("#")
    parts = re.split("[&;]", address.partition("?")[2]) + re.split("[&;]", fragment)
    return any(value == MASK and is_secret_param(name)
               for name, _, value in (part.partition("=") for part in parts))
