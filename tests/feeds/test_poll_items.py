"""Parsing only the new items of a changed feed gives exactly the articles a whole parse gives
(or the poller parses the whole feed): proven on every feed of the corpus and on tricky bodies."""
from __future__ import annotations

from pathlib import Path

import pytest

from feeds.items import read_feed
from feeds.parser import ParsedFeed, parse_feed
from model.article import Article
from model.errors import FeedError

FEED_URL = "https://example.org/feed.xml"
FIELDS = ("uid", "url", "title", "published_at", "author", "categories", "content_html",
          "image_url", "source_name", "identity_keys", "content_hash")


def _view(article: Article) -> tuple[object, ...]:
    return tuple(getattr(article, name) for name in FIELDS)


def check_each_item_alone(body: bytes, content_type: str = "") -> tuple[int, int]:
    """For each item of `body`, read the body as if only that item were new; a partial parse
    must give exactly the whole parse's article (eight items of a long feed are tried).
    Returns (items read partially, items tried)."""
    try:
        whole = parse_feed(body, feed_url=FEED_URL, content_type=content_type)
    except FeedError:
        return 0, 0

    def parse(document: bytes, **options: str) -> ParsedFeed:
        # The whole body was parsed above; small documents are parsed for real.
        return whole if document == body else parse_feed(document, **options)

    first = read_feed(parse, body, feed_url=FEED_URL, content_type=content_type)
    assert first.how == "full" and first.parsed is whole
    digests = [first.digests[i:i + 12] for i in range(0, len(first.digests), 12)]
    count = len(whole.articles)
    sample = range(count) if count <= 8 else sorted({0, 1, 2, count // 3, count // 2,
                                                      count - 3, count - 2, count - 1})
    if not digests:
        return 0, len(sample)
    assert len(digests) == count
    partial = 0
    for index in sample:
        known = "".join(d for i, d in enumerate(digests) if i != index)
        if digests[index] in known:
            continue  # the same bytes twice in one feed: known either way
        read = read_feed(parse, body, feed_url=FEED_URL, content_type=content_type,
                         known=known)
        assert read.parsed is not None and read.digests == first.digests
        if read.how == "partial":
            partial += 1
            assert [_view(a) for a in read.parsed.articles] == [_view(whole.articles[index])]
            assert (read.parsed.title, read.parsed.ttl_seconds) == (whole.title,
                                                                    whole.ttl_seconds)
        else:
            assert read.how == "full" and read.parsed is whole
    return partial, len(sample)


# Real feeds, and feedparser's encoding and ill-formed cases (its other cases are one-item
# documents, which are never cut).
_CORPUS_PARTS = ("real/", "feedparser/encoding/", "feedparser/illformed/")


def _corpus_feeds(corpus: Path) -> list[Path]:
    rows = [row.split("\t") for row in
            (corpus / "INDEX.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    return [corpus / row[0] for row in rows
            if row[1] in ("rss2", "rss1", "atom") and row[0].startswith(_CORPUS_PARTS)]


@pytest.mark.corpus
def test_partial_parse_matches_whole_parse_on_the_corpus(corpus: Path) -> None:
    """Over the RSS/Atom feeds of the corpus, a new item parsed alone equals the same item of
    a whole parse (or the whole feed is parsed), and most items of real feeds are parsed
    alone."""
    real = real_partial = 0
    for path in _corpus_feeds(corpus):
        done, items = check_each_item_alone(path.read_bytes())
        if path.relative_to(corpus).parts[0] == "real":
            real, real_partial = real + items, real_partial + done
    assert real > 1000 and real_partial > real * 2 // 3


def _rss(items: str, *, declaration: str = '<?xml version="1.0" encoding="utf-8"?>') -> str:
    return (f'{declaration}<rss version="2.0"><channel><title>مدونة</title>'
            f"<link>https://example.org/</link><ttl>30</ttl>{items}</channel></rss>")


def _item(n: int, link: str | None = None, extra: str = "") -> str:
    link = link or f"https://example.org/{n}"
    return (f"<item><title>عنوان {n}</title><link>{link}</link><guid>g{n}</guid>"
            f"<description>نص {n}{extra}</description></item>")


@pytest.mark.parametrize(("body", "partial"), [
    (_rss(_item(1) + _item(2) + _item(3)), True),
    # CDATA that spells an end tag: the item is not cut there.
    (_rss(_item(1, extra="<![CDATA[ </item> ]]>") + _item(2)), False),
    # A comment between items, a prefixed item, an empty item tag: whole parses.
    (_rss(_item(1) + "<!-- ad -->" + _item(2)), False),
    (_rss(_item(1) + "<rss:item><title>x</title></rss:item>"), False),
    (_rss(_item(1) + "<item/>"), False),
    # Every item links to the home page: the link is no identity, so whole parses.
    (_rss(_item(1, link="https://example.org/") + _item(2, link="https://example.org/")), False),
])
def test_tricky_bodies_are_cut_only_when_safe(body: str, partial: bool) -> None:
    """Bodies whose items cannot be cut with certainty are parsed whole; the rest match."""
    done, items = check_each_item_alone(body.encode("utf-8"))
    assert items >= 1 and (done == items if partial else done == 0)


def test_undeclared_windows_1256_items_decode_the_same() -> None:
    """An Arabic feed in windows-1256 without any declaration is decoded alike when its new
    items are parsed alone."""
    body = _rss("".join(_item(n) for n in range(1, 6)), declaration='<?xml version="1.0"?>')
    done, items = check_each_item_alone(body.encode("windows-1256"))
    assert done == items == 5


def test_atom_entries_and_json_feeds() -> None:
    """Atom entries are cut like RSS items; JSON feeds are always parsed whole."""
    entries = "".join(
        f'<entry><title>مقال {n}</title><link rel="alternate" href="https://example.org/{n}"/>'
        f"<id>tag:example.org,2025:{n}</id><updated>2025-09-0{n}T10:00:00Z</updated>"
        f"<summary>ملخص {n}</summary></entry>" for n in range(1, 4))
    atom = ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>مدونة</title><id>tag:example.org,2025:feed</id>"
            f"<updated>2025-09-03T10:00:00Z</updated>{entries}</feed>")
    assert check_each_item_alone(atom.encode()) == (3, 3)
    json_feed = ('{"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": '
                 '[{"id": "1", "url": "https://example.org/1", "content_text": "x"}]}')
    read = read_feed(parse_feed, json_feed.encode(), feed_url=FEED_URL, known="abcdefabcdef")
    assert read.how == "full" and read.digests == ""


def test_a_body_whose_items_are_all_known_is_not_parsed() -> None:
    """Reordered items and a changed header (lastBuildDate) cost no parse."""
    calls: list[bytes] = []

    def counting(body: bytes, **kw: str) -> ParsedFeed:
        calls.append(body)
        return parse_feed(body, **kw)

    first = read_feed(counting, _rss(_item(1) + _item(2)).encode(), feed_url=FEED_URL)
    body = _rss("<lastBuildDate>now</lastBuildDate>" + _item(2) + _item(1)).encode()
    again = read_feed(counting, body, feed_url=FEED_URL, known=first.digests)
    assert again.parsed is None and again.how == "" and len(calls) == 1
