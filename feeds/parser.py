"""Feed bytes -> ParsedFeed of normalised Articles. Pure: no I/O, no shared mutable state, so it
is safe to run in worker threads (feedparser is CPU-heavy: callers use asyncio.to_thread).

Steps: decode the bytes ourselves (feedparser guesses undeclared Arabic encodings wrong), refuse
what is not a feed with a message an editor understands, refuse entity declarations that could
expand without bound or reach outside the document, then let feedparser do the format work and
normalise each entry to an Article.
"""
from __future__ import annotations

import calendar
import codecs
import hashlib
import io
import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from html import unescape
from html.parser import HTMLParser
from typing import Any

import charset_normalizer
import feedparser
import feedparser.api

from model.errors import FeedParseError, FetchErrorKind
from model.article import Article
from guards.urls import canonical_url

# feedparser asks xml.sax for the libxml2 driver first; it is not installed, so every parse
# searched sys.path for it again (about 8% of parsing a small feed). Expat alone is also the
# parser the entity defences below are written and tested against.
feedparser.api.PREFERRED_XML_PARSERS = []

__all__ = ["FeedParseError", "ParsedFeed", "decode_body", "html_to_text", "link_key", "parse_feed"]


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed feed: its title and link, its articles in document order, and its <ttl>."""

    title: str
    link: str
    articles: tuple[Article, ...]
    ttl_seconds: int | None


# --------------------------------------------------------------------------------------------
# decoding

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_XML_DECL_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.I)
_TAGS_BYTES = re.compile(rb"<[^>]*>")


def _codec(name: str) -> str | None:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _single_byte(codec: str) -> bool:
    return codec not in {"utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le",
                         "utf-32-be", "utf-8-sig"} and not codec.startswith(
        ("gb", "big5", "shift", "euc", "iso2022", "cp932", "cp949", "cp950", "johab", "hz"))


# Arabic first: these are tried beside the detector's guesses, and win ties, because short
# undeclared Arabic feeds are where general detectors go wrong (they read windows-1256 bytes as
# Hebrew windows-1255). For Latin text the tie is harmless: windows-1256 keeps the French letters
# of windows-1252 at the same bytes.
_PREFERRED_SINGLE_BYTE = ("cp1256", "iso8859-6")


def _script_score(text: str) -> float:
    """How plausible a decoding is: the share of its non-ASCII characters that belong to one
    script (by Unicode name: "ARABIC LETTER…", "ARABIC COMMA" both count for Arabic). Wrong
    code pages scatter the bytes over several scripts and symbols."""
    counts: dict[str, float] = {}
    total = 0.0
    for ch in text:
        if ch.isascii():
            continue
        # Bulk combining marks are suspicious: Arabic read as windows-1255 turns into Hebrew
        # letters and vowel points.
        weight = 0.5 if unicodedata.category(ch).startswith("M") else 1.0
        total += weight
        script = unicodedata.name(ch, "?").split(" ", 1)[0]
        counts[script] = counts.get(script, 0.0) + weight
        if total >= 20_000:
            break
    if not total:
        return 1.0
    return max(counts.values()) / total


def _detect(body: bytes) -> str | None:
    # Markup is ASCII and drowns the signal; detect on the text between tags.
    sample = _TAGS_BYTES.sub(b" ", body[:200_000])
    candidates: list[str] = list(_PREFERRED_SINGLE_BYTE)
    for match in list(charset_normalizer.from_bytes(sample))[:3]:
        codec = _codec(match.encoding)
        if codec and codec not in candidates:
            candidates.append(codec)
    best: tuple[float, int, str] | None = None
    for rank, codec in enumerate(candidates):
        try:
            decoded = sample.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
        key = (_script_score(decoded), -rank, codec)
        if best is None or key > best:
            best = key
    return best[2] if best else None


def decode_body(body: bytes, content_type: str = "") -> tuple[str, str]:
    """Decode feed bytes to text; returns (text, codec name).

    Order: a BOM; then the XML declaration, then the HTTP charset (the declaration travels with
    the file, the header is often a server default); then UTF-8; then detection. A declared
    single-byte charset loses to valid UTF-8 with non-ASCII text in it, because CMS templates
    often declare iso-8859-1 over UTF-8 content, while real single-byte Arabic text is
    practically never valid UTF-8.
    """
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom):].decode(codec, "replace"), codec
    declared: list[str] = []
    if m := _XML_DECL_ENCODING.match(body[:512]):
        declared.append(m.group(1).decode("ascii"))
    if m2 := _CHARSET_PARAM.search(content_type):
        declared.append(m2.group(1))
    utf8_text: str | None
    try:
        utf8_text = body.decode("utf-8")
    except UnicodeDecodeError:
        utf8_text = None
    for name in declared:
        declared_codec = _codec(name)
        if declared_codec is None:
            continue
        if utf8_text is not None and _single_byte(declared_codec) and not body.isascii():
            return utf8_text, "utf-8"
        try:
            return body.decode(declared_codec), declared_codec
        except UnicodeDecodeError:
            continue
    if utf8_text is not None:
        return utf8_text, "utf-8"
    detected = _detect(body)
    if detected is not None:
        try:
            return body.decode(detected), detected
        except UnicodeDecodeError:
            pass
    return body.decode("windows-1252", "replace"), "windows-1252"


# --------------------------------------------------------------------------------------------
# what is this document?

_LEADING_JUNK = re.compile(r"\A(?:\s+|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>)*",
                           re.S | re.I)
_FIRST_ELEMENT = re.compile(r"<([A-Za-z_][\w:.-]*)")
_FEED_ROOTS = frozenset({"rss", "feed", "rdf", "channel"})
# Error pages and fragments often start without <html>.
_HTML_ROOTS = frozenset({"html", "head", "body", "meta", "title", "link", "script", "style",
                         "div", "p", "span", "table", "center", "h1", "h2", "iframe", "noscript"})
_HTML_DOCTYPE = re.compile(r"<!DOCTYPE\s+html", re.I)
# Anti-bot pages. Strong markers only appear on challenge pages; weak ones (captcha widgets,
# Cloudflare's bot-management script) also sit on ordinary article pages, so they count only on
# short pages, and the page title is checked on its own.
_CHALLENGE_STRONG = ("cf-browser-verification", "cf_chl_opt", "cf-challenge-running",
                     "incapsula incident id", "sucuri website firewall", "px-captcha")
_CHALLENGE_WEAK = ("captcha", "challenge-platform", "checking your browser", "verify you are human",
                   "are you a robot", "enable javascript and cookies", "_incapsula_resource",
                   "ddos-guard", "cf-turnstile", "perimeterx")
_CHALLENGE_TITLES = ("just a moment", "attention required", "captcha", "security check",
                     "checking your browser", "are you a robot", "are you human", "access denied",
                     "ddos", "bot verification", "human verification", "please wait")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.S | re.I)
_SHORT_PAGE_TEXT = 1_000   # challenge pages say a sentence or two
_SHORT_PAGE_BYTES = 100_000


def _is_challenge(page: str) -> bool:
    lowered = page[:200_000].lower()
    if any(m in lowered for m in _CHALLENGE_STRONG):
        return True
    title = _TITLE.search(lowered)
    if title and any(m in unescape(title.group(1)) for m in _CHALLENGE_TITLES):
        return True
    return (len(page) < _SHORT_PAGE_BYTES and any(m in lowered for m in _CHALLENGE_WEAK)
            and len(html_to_text(page)) < _SHORT_PAGE_TEXT)


_ALTERNATE_LINK = re.compile(r"<link\b[^>]*>", re.I)
_ATTR = re.compile(r"""([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")


def _attrs(tag: str) -> dict[str, str]:
    return {m.group(1).lower(): unescape(m.group(2) or m.group(3) or m.group(4) or "")
            for m in _ATTR.finditer(tag)}


def _advertised_feeds(page: str, base: str) -> tuple[str, ...]:
    links = []
    for tag in _ALTERNATE_LINK.findall(page[:300_000]):
        a = _attrs(tag)
        if "alternate" in a.get("rel", "").lower().split() and any(
            t in a.get("type", "").lower() for t in ("rss", "atom", "feed+json")
        ) and a.get("href"):
            url = canonical_url(a["href"], base)
            if url.startswith(("http://", "https://")) and url not in links:
                links.append(url)
    return tuple(links)


def _refuse_non_feed(text: str, feed_url: str) -> None:
    """Raise FeedParseError for bodies that are plainly not feeds, with a reason an editor gets."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if not stripped:
        raise FeedParseError("the address returned an empty response, not a feed",
                             kind=FetchErrorKind.EMPTY)
    if stripped[0] in "{[":
        return  # JSON: handled by the JSON Feed reader
    if not stripped.startswith("<"):
        raise FeedParseError(
            "the address returned something that is not a feed (it is not XML: it looks like "
            "plain text or a binary file)")
    head = _LEADING_JUNK.match(stripped)
    rest = stripped[head.end():] if head else stripped
    first = _FIRST_ELEMENT.match(rest)
    root = first.group(1).rsplit(":", 1)[-1].lower() if first else ""
    if root in _FEED_ROOTS:
        return  # an XHTML DOCTYPE on top of <rss> is a CMS template quirk, not a web page
    is_html = root in _HTML_ROOTS or bool(_HTML_DOCTYPE.search(stripped[:2048]))
    if not is_html:
        return
    if _is_challenge(stripped):
        raise FeedParseError(
            "the site answered with an anti-bot check page (\"are you human?\", captcha or "
            "Cloudflare) instead of the feed; the site blocks automated readers",
            kind=FetchErrorKind.CHALLENGE)
    links = _advertised_feeds(stripped, feed_url)
    hint = f"; the page points to a feed at {links[0]}" if links else ""
    raise FeedParseError(f"the address returned a web page, not a feed{hint}", feed_links=links)


# --------------------------------------------------------------------------------------------
# entity safety

_ENTITY_DECL = re.compile(
    r"""<!ENTITY\s+(%\s+)?([^\s"'%]+)\s+(?:"([^"]*)"|'([^']*)'|(SYSTEM|PUBLIC)\b)""")
# A harmless entity value: one character reference, or a short plain text. With at most 32
# characters per reference of at least 3, expansion is bounded at ~11x the body, which is itself
# bounded by the fetcher.
_SAFE_VALUE = re.compile(r"&#(?:[0-9]+|x[0-9a-fA-F]+);|[^&%<]{0,32}")
_MAX_DOCTYPE = 65_536
_UNSAFE = ("the feed uses XML entities that point outside the document or expand without "
           "bound; it was refused for safety")


def _doctype_span(text: str) -> tuple[int, int] | None:
    """Where the DOCTYPE declaration (internal subset included) is, or None.

    A small scanner rather than a regex: quoted values and comments in the DTD may contain
    "<x" or "]>", and cutting the DTD short would let declarations slip past the check.
    """
    pos, n = 0, len(text)
    while pos < n:
        while pos < n and text[pos] in "\ufeff \t\r\n":
            pos += 1
        if text.startswith("<?", pos):
            end = text.find("?>", pos)
            pos = end + 2 if end >= 0 else n
        elif text.startswith("<!--", pos):
            end = text.find("-->", pos)
            pos = end + 3 if end >= 0 else n
        elif text[pos:pos + 9].upper() == "<!DOCTYPE":
            break
        else:
            return None
    else:
        return None
    quote: str | None = None
    in_subset = False
    i = pos + 9
    limit = min(n, pos + _MAX_DOCTYPE)
    while i < limit:
        c = text[i]
        if quote:
            if c == quote:
                quote = None
        elif text.startswith("<!--", i):
            end = text.find("-->", i)
            i = end + 2 if end >= 0 else limit
        elif c in "\"'":
            quote = c
        elif c == "[":
            in_subset = True
        elif c == "]":
            in_subset = False
        elif c == ">" and not in_subset:
            return pos, i + 1
        i += 1
    if limit < n:  # real feeds' DTDs are a few hundred bytes; a huge one is an attack
        raise FeedParseError("the feed's XML type declaration is unusually large; it was "
                             "refused for safety", kind=FetchErrorKind.UNSAFE_XML)
    return pos, n  # unterminated: every declaration in the rest is still checked


def _defuse_entities(text: str) -> str:
    """The document with only harmless entity declarations left in its DTD.

    External (SYSTEM/PUBLIC), parameter, nested and long entities are removed; if the document
    uses one of them, it is refused (billion laughs, quadratic blow-up, XXE). Feeds that merely
    declare, say, the XHTML Latin-1 set without using it still parse. feedparser strips most of
    this itself and expat limits amplification, but both are best-effort (feedparser's regex
    misses declarations written on one line); this is the guarantee.
    """
    span = _doctype_span(text)
    if span is None:
        return text
    start, end = span
    doctype = text[start:end]
    if "<!ENTITY" not in doctype.upper():
        return text
    decls = list(_ENTITY_DECL.finditer(doctype))
    if len(decls) != doctype.upper().count("<!ENTITY"):
        raise FeedParseError(_UNSAFE, kind=FetchErrorKind.UNSAFE_XML)
    kept: list[str] = []
    for m in decls:
        percent, name, dq, sq, external = m.groups()
        value = dq if dq is not None else sq or ""
        if not percent and not external and _SAFE_VALUE.fullmatch(value):
            quote = '"' if '"' not in value else "'"
            kept.append(f"<!ENTITY {name} {quote}{value}{quote}>")
        elif not percent and re.search("&" + re.escape(name) + ";", text):
            # Parameter entities are simply dropped with the rest of the DTD: their references
            # (%name;) live in the DTD only, which is rebuilt from the kept declarations.
            raise FeedParseError(_UNSAFE, kind=FetchErrorKind.UNSAFE_XML)
    bracket = doctype.find("[")
    head = (doctype[:bracket] if bracket >= 0 else doctype[:-1]).rstrip()
    safe_doctype = head + (" [" + "".join(kept) + "]" if kept else "") + ">"
    return text[:start] + safe_doctype + text[end:]


# Numeric character references to what no UTF-8 text can hold (a surrogate, NUL, beyond
# U+10FFFF): feedparser hands them on as lone surrogates, which cannot be hashed, stored in Redis
# or sent to Telegram. They become U+FFFD, as a decoder makes of broken bytes.
_CHAR_REF = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));")


def _defuse_char_refs(text: str) -> str:
    if "&#" not in text:
        return text

    def fix(match: re.Match[str]) -> str:
        hex_digits, decimal = match.groups()
        code = int(hex_digits, 16) if hex_digits else int(decimal)
        if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
            return match.group(0)
        return "&#xFFFD;"

    return _CHAR_REF.sub(fix, text)


# JSON escapes a lone surrogate as \ud800; json.loads returns it as is.
_JSON_SURROGATE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _valid_unicode(value: Any) -> Any:
    """`value` (decoded JSON) with every lone surrogate in its strings replaced by U+FFFD."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [_valid_unicode(v) for v in value]
    if isinstance(value, dict):
        return {_valid_unicode(k): _valid_unicode(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------------------------
# text helpers

class _TextExtractor(HTMLParser):
    _SKIP = frozenset({"script", "style", "noscript", "template"})
    _BLOCK = frozenset({"p", "br", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
                        "blockquote", "tr", "td", "th", "section", "article", "figure",
                        "figcaption", "pre", "hr", "table"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self._BLOCK:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


_SPACES = re.compile(r"\s+")


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment, entities decoded and whitespace collapsed."""
    if "<" not in html and "&" not in html:
        return _SPACES.sub(" ", html).strip()
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    return _SPACES.sub(" ", "".join(extractor.parts)).strip()


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def link_key(url: str) -> str:
    """The identity key an article gets from its canonical link."""
    return _sha("link:" + url)


# --------------------------------------------------------------------------------------------
# entry normalisation

_IMG_SRC = re.compile(r"""<img\b[^>]*?\bsrc\s*=\s*(?:"([^"]+)"|'([^']+)'|([^\s>]+))""", re.I)
_IMAGE_EXT = re.compile(r"\.(?:jpe?g|png|gif|webp|avif|bmp)(?:$|[?#])", re.I)


def _web_url(raw: str | None, base: str) -> str:
    if not raw:
        return ""
    url = canonical_url(raw, base)
    return url if url.startswith(("http://", "https://")) else ""


def _to_utc(parsed: Any) -> datetime | None:
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (OverflowError, ValueError, TypeError, OSError):
        return None


def _content_html(entry: Any) -> str:
    contents = [c for c in entry.get("content") or [] if c.get("value")]
    if contents:
        # Feeds with several content blocks (text + html) carry the richest one as the longest.
        return str(max(contents, key=lambda c: len(c.get("value", ""))).get("value", ""))
    return str(entry.get("summary", "") or "")


def _image(entry: Any, content_html: str, base: str) -> str | None:
    for media in entry.get("media_content") or []:
        medium = (media.get("medium") or "").lower()
        mtype = (media.get("type") or "").lower()
        url = media.get("url") or ""
        if medium == "image" or mtype.startswith("image/") or (
            not medium and not mtype and _IMAGE_EXT.search(url)
        ):
            if found := _web_url(url, base):
                return found
    for thumb in entry.get("media_thumbnail") or []:
        if found := _web_url(thumb.get("url"), base):
            return found
    for link in entry.get("links") or []:
        if link.get("rel") == "enclosure" and (link.get("type") or "").lower().startswith("image/"):
            if found := _web_url(link.get("href"), base):
                return found
    if m := _IMG_SRC.search(content_html):
        if found := _web_url(unescape(m.group(1) or m.group(2) or m.group(3)), base):
            return found
    return None


def _categories(entry: Any) -> tuple[str, ...]:
    seen: list[str] = []
    for tag in entry.get("tags") or []:
        term = _SPACES.sub(" ", (tag.get("term") or "")).strip()
        if term and term not in seen:
            seen.append(term)
    return tuple(seen)


@dataclass(frozen=True, slots=True)
class _RawEntry:
    """The fields we read from a feedparser entry or a JSON Feed item, before identity."""

    guid: str
    link: str
    title: str
    published_at: datetime | None
    author: str
    categories: tuple[str, ...]
    content_html: str
    image_url: str | None


def _raw_from_feedparser(entry: Any, base: str) -> _RawEntry:
    content = _content_html(entry)
    author = entry.get("author") or (entry.get("author_detail") or {}).get("name") or ""
    link = entry.get("link") or ""
    if not link:
        # RSS <guid isPermaLink="true"> is the link when <link> is missing.
        if entry.get("guidislink") and entry.get("id"):
            link = entry["id"]
    return _RawEntry(
        guid=(entry.get("id") or "").strip(),
        link=_web_url(link, base),
        title=html_to_text(entry.get("title") or ""),
        published_at=_to_utc(entry.get("published_parsed") or entry.get("updated_parsed")),
        author=html_to_text(author),
        categories=_categories(entry),
        content_html=content,
        image_url=_image(entry, content, base),
    )


def _build_articles(raws: list[_RawEntry], *, feed_url: str, source: str) -> tuple[Article, ...]:
    # A link shared by several entries (feeds that point every item at their home page) does not
    # identify an article; using it as a key would merge distinct items into one.
    link_counts = Counter(r.link for r in raws if r.link)
    articles = []
    for raw in raws:
        text = html_to_text(raw.content_html)
        if raw.guid:
            uid = _sha("guid:" + raw.guid)
        elif raw.link and link_counts[raw.link] == 1:
            uid = link_key(raw.link)
        else:
            date = raw.published_at.isoformat() if raw.published_at else ""
            basis = f"{raw.title}\x1f{date}"
            if not raw.title and not date:
                basis += "\x1f" + text  # nothing else tells these items apart
            uid = _sha("hash:" + basis)
        keys = [uid]
        if raw.link and link_counts[raw.link] == 1 and link_key(raw.link) != uid:
            keys.append(link_key(raw.link))
        articles.append(Article(
            uid=uid,
            feed_url=feed_url,
            url=raw.link,
            title=raw.title,
            published_at=raw.published_at,
            author=raw.author,
            categories=raw.categories,
            content_html=raw.content_html,
            image_url=raw.image_url,
            source_name=source,
            identity_keys=tuple(keys),
            content_hash=_sha(raw.title + "\n" + text),
        ))
    return tuple(articles)


def _ttl_seconds(value: Any) -> int | None:
    try:
        minutes = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return minutes * 60 if minutes > 0 else None


# --------------------------------------------------------------------------------------------
# JSON Feed (https://jsonfeed.org): feedparser 6.0 does not read it

def _parse_json_feed(text: str, feed_url: str) -> ParsedFeed:
    try:
        doc = json.loads(text)
        if _JSON_SURROGATE.search(text):
            doc = _valid_unicode(doc)
    except ValueError as exc:
        raise FeedParseError("the address returned broken JSON, not a feed") from exc
    except RecursionError:
        raise FeedParseError("the address returned JSON nested too deeply to be a feed") from None
    # Some generators write version "1.0" instead of the jsonfeed.org URL: a dict with a list
    # of item objects is accepted as a JSON Feed.
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list) or not all(
        isinstance(i, dict) for i in doc["items"]
    ) or not ("jsonfeed" in str(doc.get("version", "")) or "title" in doc):
        raise FeedParseError("the address returned JSON data, not a feed")
    base = _web_url(doc.get("feed_url"), feed_url) or feed_url
    raws = []
    for item in doc["items"]:
        if not isinstance(item, dict):
            continue
        content = item.get("content_html") or ""
        if not content and item.get("content_text"):
            content = "<p>" + _escape(str(item["content_text"])) + "</p>"
        if not content:
            content = str(item.get("summary") or "")
        authors = item.get("authors") or ([item["author"]] if item.get("author") else [])
        names = (str(a["name"]) for a in authors if isinstance(a, dict) and a.get("name"))
        author = next(names, "")
        date = item.get("date_published") or item.get("date_modified")
        raws.append(_RawEntry(
            guid=str(item.get("id") or "").strip(),
            link=_web_url(str(item.get("url") or item.get("external_url") or ""), base),
            title=html_to_text(str(item.get("title") or "")),
            published_at=_iso_date(date),
            author=author,
            categories=tuple(dict.fromkeys(str(t).strip() for t in item.get("tags") or []
                                           if str(t).strip())),
            content_html=content,
            image_url=_web_url(str(item.get("image") or item.get("banner_image") or ""), base)
            or _image({}, content, base),
        ))
    title = html_to_text(str(doc.get("title") or ""))
    return ParsedFeed(title=title, link=_web_url(doc.get("home_page_url"), base),
                      articles=_build_articles(raws, feed_url=feed_url, source=title),
                      ttl_seconds=None)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _iso_date(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# --------------------------------------------------------------------------------------------
# entry point

_XML_DECL = re.compile(r"\A\s*<\?xml[^>]*\?>")
# Real feeds carry tens to a few thousand items; feedparser needs ~30 us per item, so a body of
# nothing but "<item>" tags would hold a worker thread for half a minute.
MAX_ITEMS = 10_000


def parse_feed(body: bytes, *, feed_url: str, content_type: str = "") -> ParsedFeed:
    """Parse RSS, Atom, RDF or JSON Feed bytes into a ParsedFeed; raises FeedParseError."""
    text, _codec_used = decode_body(body, content_type)
    _refuse_non_feed(text, feed_url)
    if text.lstrip("\ufeff \t\r\n")[0] in "{[":
        return _parse_json_feed(text, feed_url)
    text = _defuse_char_refs(_defuse_entities(text))
    if text.count("<item") + text.count("<entry") > MAX_ITEMS:
        raise FeedParseError(f"the feed has more than {MAX_ITEMS:,} items; it was not read "
                             "(parsing it would take minutes)", kind=FetchErrorKind.TOO_LARGE)
    # Hand feedparser UTF-8 with a matching declaration and header, so it does not second-guess
    # the decoding above. A stream, never a str: feedparser treats strings as URLs or file names.
    utf8 = _XML_DECL.sub('<?xml version="1.0" encoding="utf-8"?>', text, count=1).encode("utf-8")
    result = feedparser.parse(
        io.BytesIO(utf8),
        response_headers={"content-type": "application/xml; charset=utf-8",
                          "content-location": feed_url},
    )
    entries = result.get("entries") or []
    if not result.get("version") and not entries:
        if result.get("bozo"):
            raise FeedParseError("the address returned a document that is not a readable feed "
                                 "(broken XML and no items could be read)")
        raise FeedParseError("the address returned an XML document that is not an RSS or Atom "
                             "feed")
    feed = result.get("feed") or {}
    base = _web_url(feed_url, feed_url) or feed_url
    title = html_to_text(feed.get("title") or "")
    raws = [_raw_from_feedparser(e, base) for e in entries]
    return ParsedFeed(
        title=title,
        link=_web_url(feed.get("link"), base),
        articles=_build_articles(raws, feed_url=feed_url, source=title),
        ttl_seconds=_ttl_seconds(feed.get("ttl")),
    )
