"""Reading a changed feed body: cut it into its items, and parse only the new or edited ones.

Pure (no I/O): `read_feed` runs in a worker thread or a parse process. A body whose items are all
known costs no parse; a body that cannot be cut with certainty is parsed whole.
"""
from __future__ import annotations

import hashlib
import html
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from feeds.parser import ParsedFeed, decode_body
from guards.urls import canonical_url

ParseFunction = Callable[..., ParsedFeed]   # parse_feed(body, *, feed_url, content_type)

# Feeds with more items than this are not tracked item by item (they are parsed whole).
MAX_TRACKED_ITEMS = 1000
DIGEST_CHARS = 12


@dataclass(slots=True)
class _Items:
    head: str            # everything before the first item (XML declaration removed)
    chunks: list[str]    # each item's text, in document order
    tail: str            # everything after the last item
    digests: list[str]   # a short hash of each chunk

# Any spelling of an item's start tag (prefixed, upper case, empty): the body must hold exactly
# one per item cut, so none hides in the header, the tail, another item or a CDATA section.
_ANY_ITEM_START = re.compile(r"<(?:[\w.-]+:)?(?:item|entry)(?=[\s>/])", re.IGNORECASE)
_DECLARATION = re.compile(r"\A\s*<\?xml[^>]*\?>")
_CLOSE_REST = re.compile(r"\s*>")
_LINK_OPEN = "<link>"
_ATOM_LINK = re.compile(r"<link\b([^<>]*)>")
# The lookbehind starts a name only where one can start, and possessive quantifiers never give
# back: a long run of name characters is scanned once, not once per position.
_ATTRIBUTE = re.compile(r"""(?<![\w:-])([\w:-]++)\s*+=\s*+(?:"([^"]*+)"|'([^']*+)')""")
_NOT_PERMALINK = re.compile(r"""isPermaLink\s*+=\s*+["']false""")


def _item_starts(text: str) -> list[int] | None:
    """Where every item start tag is, or None when there are more than MAX_TRACKED_ITEMS
    (counting stops there: such feeds are parsed whole)."""
    starts: list[int] = []
    for match in _ANY_ITEM_START.finditer(text):
        if len(starts) == MAX_TRACKED_ITEMS:
            return None
        starts.append(match.start())
    return starts


def _item_end(text: str, start: int, stop: int) -> int:
    """Where the plain <item> or <entry> starting at `start` ends (after its end tag), looking
    no further than `stop` (the next item's start); -1 when it is not a plain, closed item."""
    name = "item" if text.startswith("<item", start) else (
        "entry" if text.startswith("<entry", start) else "")
    if not name or text[start + 1 + len(name)] == "/":    # prefixed, upper case, or "<item/"
        return -1
    tag_end = text.find(">", start, stop)
    if tag_end < 0 or text[tag_end - 1] == "/":
        return -1
    close = "</" + name
    pos = tag_end
    while (pos := text.find(close, pos, stop)) >= 0:
        rest = _CLOSE_REST.match(text, pos + len(close), stop)
        if rest:
            return rest.end()
        pos += len(close)
    return -1


def _split_items(body: bytes, content_type: str) -> _Items | None:
    """The body cut into its RSS <item>s or Atom <entry>s, or None when that cannot be done
    with certainty: JSON feeds, prefixed or empty item tags, item tags in comments or CDATA,
    anything but whitespace between items. Decoded the way the parser decodes it.

    One pass: the item start tags are found once (stopping past MAX_TRACKED_ITEMS), and each
    item's end tag is looked for only up to the next start, so a body of 200,000 unclosed
    "<item>" tags costs a scan, not a scan per tag."""
    try:
        text, _ = decode_body(body, content_type)
    except (LookupError, ValueError):
        return None
    text = text.lstrip("\ufeff")
    if text.lstrip()[:1] in ("{", "["):
        return None
    starts = _item_starts(text)
    if not starts:
        return None
    chunks = []
    previous_end = starts[0]
    for index, start in enumerate(starts):
        if index and text[previous_end:start].strip():
            return None
        stop = starts[index + 1] if index + 1 < len(starts) else len(text)
        end = _item_end(text, start, stop)
        if end < 0:
            return None
        chunk = text[start:end]
        if chunk.count("<![CDATA[") != chunk.count("]]>") or chunk.count("<!--") != chunk.count(
                "-->"):
            return None
        chunks.append(chunk)
        previous_end = end
    head, tail = text[:starts[0]], text[previous_end:]
    head = _DECLARATION.sub("", head, count=1)
    digests = [hashlib.blake2b(c.encode("utf-8"), digest_size=DIGEST_CHARS // 2).hexdigest()
               for c in chunks]
    return _Items(head, chunks, tail, digests)


def _rss_link(chunk: str) -> str | None:
    """The text of the first <link>…</link> holding text and no markup, as the regex
    <link>\\s*([^<]+?)\\s*</link> would find it, in one pass."""
    pos = 0
    while (pos := chunk.find(_LINK_OPEN, pos)) >= 0:
        start = pos + len(_LINK_OPEN)
        lt = chunk.find("<", start)
        if lt < 0:
            return None
        between = chunk[start:lt]
        if between and chunk.startswith("</link>", lt):
            return between.strip() or between[-1]
        pos = start
    return None


def _item_link(chunk: str, base: str) -> str | None:
    """The canonical link in an item's text as the parser reads it: '' when it has none, None
    when it has one this cannot read for sure (empty, or resolved against an xml:base)."""
    if "xml:base" in chunk:
        return None
    if (rss := _rss_link(chunk)) is not None:
        return canonical_url(html.unescape(rss), base) or None
    for tag in _ATOM_LINK.finditer(chunk):
        attrs = {m.group(1): m.group(2) if m.group(2) is not None else m.group(3)
                 for m in _ATTRIBUTE.finditer(tag.group(1))}
        if attrs.get("rel", "alternate") == "alternate":
            href = html.unescape(attrs.get("href") or "").strip()
            return canonical_url(href, base) if href else None
    if "<link" in chunk:
        return None
    # An RSS guid is the item's link unless it says isPermaLink="false".
    if "<guid" in chunk and not _NOT_PERMALINK.search(chunk):
        return None
    return ""


class FeedRead(NamedTuple):
    """What `read_feed` made of a new body."""

    parsed: ParsedFeed | None   # None: every item was known
    digests: str                # the body's item digests, to pass as `known` next time
    how: str                    # "" (no parse) | partial | full


def read_feed(parse: ParseFunction, body: bytes, *, feed_url: str, content_type: str = "",
              known: str | None = None) -> FeedRead:
    """Parse a new body, only the items whose bytes are not among the `known` digests of the
    last body when the body can be cut into items safely. Pure; runs in a worker thread."""
    items = _split_items(body, content_type)
    digests = "".join(items.digests) if items is not None else ""
    if known and items is not None:
        known_set = {known[i:i + DIGEST_CHARS] for i in range(0, len(known), DIGEST_CHARS)}
        new = [i for i, d in enumerate(items.digests) if d not in known_set]
        if not new:
            return FeedRead(None, digests, "")
        parsed = _parse_items(parse, items, new, feed_url)
        if parsed is not None:
            return FeedRead(parsed, digests, "partial")
    return FeedRead(parse(body, feed_url=feed_url, content_type=content_type), digests, "full")


def _parse_items(parse: ParseFunction, items: _Items, new: list[int],
                 feed_url: str) -> ParsedFeed | None:
    """Parse the feed's header with only the `new` items; None when the answer might differ
    from what a whole parse gives for them (then the caller parses the whole body)."""
    document = ('<?xml version="1.0" encoding="utf-8"?>' + items.head
                + "".join(items.chunks[i] for i in new) + items.tail)
    try:
        parsed = parse(document.encode("utf-8"), feed_url=feed_url,
                       content_type="application/xml; charset=utf-8")
    except Exception:  # noqa: BLE001 - whatever the reason, the whole body is parsed instead
        return None
    if len(parsed.articles) != len(new):
        return None
    if any(a.url for a in parsed.articles):
        # A link shared by several items identifies none of them (the parser then leaves it
        # out of their identities): that can only be seen with all items in view. Each new
        # item's link must read the same from its text, and every other item's link must be
        # readable, or the whole feed is parsed.
        links = [_item_link(chunk, feed_url) for chunk in items.chunks]
        if None in links:
            return None
        counts = Counter(links)
        for index, article in zip(new, parsed.articles, strict=True):
            if article.url and (links[index] != article.url or counts[article.url] > 1):
                return None
    return parsed
