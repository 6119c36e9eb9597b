"""Feed bytes -> ParsedFeed of normalised Articles. Pure: no I/O, no shared mutable state, so it
is safe to run in worker threads and processes. Linear in the body at every step; the time a
parse may take is bounded by whoever runs it (feeds/parse_pool.py).

Steps, each in a module of its own:
  decoding.py     the bytes' real encoding (BOM, UTF-16/32 without one, declaration vs header)
  non_feeds.py    refuse what is not a feed with a message an editor understands
  json_feed.py    JSON Feed, read field by field
  xml_safety.py   the document feedparser gets: no DTD, harmless entities expanded, bombs and
                  external entities refused
  sax_reader.py   the SAX driver feedparser uses (attribute lookups in constant time)
  entries.py      feedparser entries -> Articles (text-typed fields stay text), identities
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import feedparser
import feedparser.api

from feeds.decoding import decode_body
from feeds.entries import build_articles, link_key, raw_from_feedparser, typed_text, web_url
from feeds.html_text import html_to_text
from feeds.json_feed import read_json_feed
from feeds.non_feeds import refuse_non_feed
from feeds.xml_safety import safe_document
from model.article import Article
from model.errors import FeedParseError, FetchErrorKind

# Our expat driver (feeds/sax_reader.py) instead of feedparser's search for libxml2, which is not
# installed and was looked for on sys.path again at every parse. Expat is also the parser the
# entity defences are written and tested against.
feedparser.api.PREFERRED_XML_PARSERS = ["feeds.sax_reader"]

__all__ = ["MAX_ITEMS", "FeedParseError", "ParsedFeed", "decode_body", "html_to_text",
           "link_key", "parse_feed"]

# Real feeds carry tens to a few thousand items; feedparser needs ~30 us per well-formed item
# and more for broken ones, so a body of nothing but "<item>" tags would hold a parse process
# for a long time. Counted before anything else reads the body.
MAX_ITEMS = 10_000


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed feed: its title and link, its articles in document order, and its <ttl>.
    `skipped` says what was left out while reading it (a JSON Feed field of the wrong type, an
    item that is not an object), one sentence each, for the poller to log."""

    title: str
    link: str
    articles: tuple[Article, ...]
    ttl_seconds: int | None
    skipped: tuple[str, ...] = ()


def _ttl_seconds(value: object) -> int | None:
    try:
        minutes = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return minutes * 60 if minutes > 0 else None


def _count_items(text: str) -> int:
    return text.count("<item") + text.count("<entry")


def _too_many_items() -> FeedParseError:
    return FeedParseError(f"the feed has more than {MAX_ITEMS:,} items; it was not read "
                          "(parsing it would take minutes)", kind=FetchErrorKind.TOO_LARGE)


def parse_feed(body: bytes, *, feed_url: str, content_type: str = "") -> ParsedFeed:
    """Parse RSS, Atom, RDF or JSON Feed bytes into a ParsedFeed; raises FeedParseError."""
    text, _codec_used = decode_body(body, content_type)
    refuse_non_feed(text, feed_url)
    if text.lstrip("\ufeff \t\r\n")[0] in "{[":
        doc = read_json_feed(text, feed_url, max_items=MAX_ITEMS)
        return ParsedFeed(title=doc.title, link=doc.link,
                          articles=build_articles(doc.raws, feed_url=feed_url, source=doc.title),
                          ttl_seconds=None, skipped=tuple(doc.skipped))
    if _count_items(text) > MAX_ITEMS:
        raise _too_many_items()
    # UTF-8 with a matching declaration and header, so feedparser does not second-guess the
    # decoding above. A stream, never a str: feedparser treats strings as URLs or file names.
    document = safe_document(text).encode("utf-8")
    result = feedparser.parse(
        io.BytesIO(document),
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
    base = web_url(feed_url, feed_url) or feed_url
    atom = str(result.get("version") or "").startswith("atom")   # types declared, not guessed
    title = typed_text(feed.get("title"), feed.get("title_detail"), declared=atom)
    raws = [raw_from_feedparser(e, base, atom=atom) for e in entries]
    return ParsedFeed(
        title=title,
        link=web_url(feed.get("link"), base),
        articles=build_articles(raws, feed_url=feed_url, source=title),
        ttl_seconds=_ttl_seconds(feed.get("ttl")),
    )
