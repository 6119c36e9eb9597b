"""What the parser makes of awkward but legitimate input: text-typed fields, UTF-16/32 without
a BOM, a charset header that disagrees with the XML declaration, declared entities, and JSON
Feeds with fields of the wrong type (read field by field, with a note for what was left out,
through the real poller too)."""
from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from config.schema import parse_config
from feeds.decoding import decode_body
from feeds.fetcher import Fetcher, FetchLimits, make_session
from feeds.items import read_feed
from feeds.parser import parse_feed
from model.errors import FeedParseError, FetchErrorKind
from pipeline.poller import Poller
from store.redis_store import Store
from tests.fakes.feed_server import FeedServer

FEED_URL = "https://example.org/feed.xml"
ARABIC = "تحليل: مستقبل الاقتصاد العربي في ظل التحولات الإقليمية"


# -- text stays text -----------------------------------------------------------------------------

def test_text_titles_keep_their_angle_brackets() -> None:
    """An RSS title that escapes "<script>" (and has no HTML in it) and an Atom title of
    type="text" are text: the brackets stay; an HTML-typed title is read as HTML."""
    rss = (b'<rss version="2.0"><channel><title>t</title><item><guid>1</guid>'
           b"<title>Why &lt;script&gt; tags block rendering</title></item></channel></rss>")
    assert parse_feed(rss, feed_url=FEED_URL).articles[0].title == (
        "Why <script> tags block rendering")
    atom = (b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><id>1</id>'
            b'<title type="text">History of the &lt;blink&gt; tag</title>'
            b'<content type="text">a &lt; b\n\nand &amp; c</content></entry>'
            b'<entry><id>2</id><title type="html">&lt;b&gt;Bold&lt;/b&gt; move</title></entry>'
            b"</feed>")
    first, second = parse_feed(atom, feed_url=FEED_URL).articles
    assert first.title == "History of the <blink> tag"
    # Text content becomes escaped HTML paragraphs for the formatters.
    assert first.content_html == "<p>a &lt; b</p><p>and &amp; c</p>"
    assert second.title == "Bold move"


def test_guessed_text_still_decodes_numeric_references() -> None:
    """An RSS title feedparser guesses is text, with a reference missing its semicolon
    ("70&#39s", escaped once more by the publisher), reads "70's"; a declared Atom text keeps
    it as written."""
    rss = (b'<rss version="2.0"><channel><title>t</title><item><guid>1</guid>'
           b"<title>rallying 70&amp;#39s</title></item></channel></rss>")
    assert parse_feed(rss, feed_url=FEED_URL).articles[0].title == "rallying 70's"
    atom = (b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><id>1</id>'
            b'<title type="text">write &amp;#39s</title></entry></feed>')
    assert parse_feed(atom, feed_url=FEED_URL).articles[0].title == "write &#39s"


# -- encodings -----------------------------------------------------------------------------------

def _rss(title: str, declaration: str = '<?xml version="1.0"?>') -> str:
    return (f'{declaration}\n<rss version="2.0"><channel><title>{title}</title>'
            f"<item><guid>1</guid><title>{title}</title></item></channel></rss>")


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_utf16_and_utf32_without_a_bom_are_read(codec: str) -> None:
    """An Arabic feed in UTF-16 or UTF-32 without a byte order mark is decoded, not refused."""
    body = _rss(ARABIC, '<?xml version="1.0" encoding="utf-16"?>').encode(codec)
    assert not body.startswith((b"\xff\xfe", b"\xfe\xff"))
    feed = parse_feed(body, feed_url=FEED_URL)
    assert feed.title == ARABIC and feed.articles[0].title == ARABIC


def test_windows_1256_header_over_an_iso_8859_1_declaration_gives_arabic() -> None:
    """A CMS template that declares iso-8859-1 over windows-1256 bytes, served with charset
    windows-1256: the reading that is plausible text (Arabic, not Latin gibberish) wins."""
    body = _rss(ARABIC, '<?xml version="1.0" encoding="iso-8859-1"?>').encode("cp1256")
    feed = parse_feed(body, feed_url=FEED_URL, content_type="text/xml; charset=windows-1256")
    assert feed.title == ARABIC
    # And the other way round: a server default of iso-8859-1 over a windows-1256 declaration.
    body = _rss(ARABIC, '<?xml version="1.0" encoding="windows-1256"?>').encode("cp1256")
    feed = parse_feed(body, feed_url=FEED_URL, content_type="text/xml; charset=iso-8859-1")
    assert feed.title == ARABIC


def test_latin_text_keeps_its_declared_encoding_against_a_wrong_header() -> None:
    """French in windows-1252 declared as such, under a windows-1256 header, stays French."""
    french = "Les élèves ont déjà préparé la fête, “très” bien"
    body = _rss(french, '<?xml version="1.0" encoding="windows-1252"?>').encode("cp1252")
    feed = parse_feed(body, feed_url=FEED_URL, content_type="text/xml; charset=iso-8859-6")
    assert feed.title == french


def test_a_few_stray_bytes_in_utf8_are_marked_not_misread() -> None:
    """A UTF-8 feed with one stray byte stays UTF-8: the Arabic is read, the byte is U+FFFD."""
    body = _rss(ARABIC + " \x00").encode("utf-8").replace(b"\x00", b"\x92")
    text, codec = decode_body(body)
    assert codec == "utf-8" and ARABIC in text and "\ufffd" in text


# -- entities ------------------------------------------------------------------------------------

@pytest.mark.parametrize("separator", ["\n", "", "\n  <!-- a comment -->\n"])
def test_declared_entities_expand_however_they_are_laid_out(separator: str) -> None:
    """Harmless entity declarations expand, one per line or all on one line (they were put on
    one line and then never expanded)."""
    decls = separator.join(['<!ENTITY id "tag:example.com,">', '<!ENTITY nbsp "&#160;">',
                            "<!ENTITY site 'Nashir \"الناشر\"'>"])
    body = (f"<?xml version=\"1.0\"?>\n<!DOCTYPE rss [{separator}{decls}{separator}]>\n"
            '<rss version="2.0"><channel><title>&site;&nbsp;feed</title><item>'
            "<guid isPermaLink='false'>&id;2006:/blog/</guid><title>a &amp; &site;</title>"
            "<description><![CDATA[literal &site; here]]></description></item>"
            "</channel></rss>").encode()
    feed = parse_feed(body, feed_url=FEED_URL)
    assert feed.title == 'Nashir "الناشر" feed'   # the no-break space, collapsed like all
    (article,) = feed.articles
    assert article.title == 'a & Nashir "الناشر"'
    # CDATA is not markup: the reference stays a literal "&site" (escaped by the sanitizer).
    assert "&amp;site" in article.content_html and "Nashir" not in article.content_html
    assert article.identity_keys[0] == parse_feed(body.replace(b"&id;", b"tag:example.com,"),
                                                  feed_url=FEED_URL).articles[0].uid


def test_entities_that_would_blow_up_are_refused_even_when_each_is_harmless() -> None:
    """Short entities used so often that the document would grow past twice its size are
    refused as unsafe (each value is harmless alone)."""
    body = ('<!DOCTYPE rss [<!ENTITY a "' + "x" * 32 + '">]><rss version="2.0"><channel>'
            "<title>" + "&a;" * 50_000 + "</title></channel></rss>").encode()
    with pytest.raises(FeedParseError) as err:
        parse_feed(body, feed_url=FEED_URL)
    assert err.value.kind == FetchErrorKind.UNSAFE_XML


def test_new_items_of_a_feed_with_entities_read_like_a_whole_parse() -> None:
    """A feed whose items use declared entities gets the same article from a partial parse."""
    items = "".join(f'<item><guid isPermaLink="false">g{n}</guid><title>&site; {n}</title>'
                    "</item>" for n in range(3))
    body = ('<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY site "ناشر">]><rss version="2.0">'
            f"<channel><title>t</title>{items}</channel></rss>").encode()
    first = read_feed(parse_feed, body, feed_url=FEED_URL)
    known = first.digests[12:]   # the first item is new
    read = read_feed(parse_feed, body, feed_url=FEED_URL, known=known)
    assert read.how == "partial" and read.parsed is not None and first.parsed is not None
    assert read.parsed.articles == first.parsed.articles[:1]
    assert read.parsed.articles[0].title == "ناشر 0"


# -- JSON Feed, field by field -------------------------------------------------------------------

def _json(items: object, **top: object) -> bytes:
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "مدونة",
                       "items": items, **top}, ensure_ascii=False).encode()


def _good(n: int) -> dict[str, object]:
    return {"id": f"g{n}", "url": f"https://example.org/{n}", "title": f"عنوان {n}",
            "content_text": f"نص {n}", "date_published": "2025-01-02T03:04:05Z"}


@pytest.mark.parametrize(("bad", "note"), [
    ({**_good(9), "tags": 5}, '"tags" is int, not a list'),
    ({**_good(9), "date_published": "9999-12-31T23:00:00-05:00"}, "not a date we can read"),
    ({**_good(9), "title": 7}, '"title" is int, not a string'),
    ({**_good(9), "authors": {"name": "x"}}, '"authors" is dict, not a list'),
    ({**_good(9), "url": ["https://example.org/9"]}, '"url" is list, not a string'),
    ("not an item", "item 2 is str, not an object; skipped"),
])
def test_a_wrongly_typed_json_field_is_left_out_and_noted(bad: object, note: str) -> None:
    """A field of the wrong type is ignored (or a non-object item skipped) with a note; the
    other items and fields come through."""
    feed = parse_feed(_json([_good(1), bad, _good(3)]), feed_url=FEED_URL)
    titles = [a.title for a in feed.articles]
    assert titles[0] == "عنوان 1" and titles[-1] == "عنوان 3"
    assert len(feed.skipped) == 1 and note in feed.skipped[0]
    assert all(a.published_at is None or a.published_at.year < 9999 for a in feed.articles)


def test_json_items_that_are_not_a_list_give_a_feed_without_items() -> None:
    """"items": {} in a JSON Feed is a feed with no items and a note, not a refusal."""
    feed = parse_feed(_json({}), feed_url=FEED_URL)
    assert feed.title == "مدونة" and feed.articles == ()
    assert feed.skipped == ('feed: "items" is dict, not a list; the feed has no items',)


def test_json_titles_are_text_unless_they_look_like_html() -> None:
    """A JSON Feed title is plain text ("<i>" stays) unless its generator escaped it as HTML
    ("&amp;" and numeric references are decoded)."""
    feed = parse_feed(_json([{**_good(1), "title": "Die Rückkehr von <i> und <b>"},
                             {**_good(2), "title": "Tasks &amp; Sub Tasks &#8216;x&#8217;"}]),
                      feed_url=FEED_URL)
    assert [a.title for a in feed.articles] == ["Die Rückkehr von <i> und <b>",
                                                "Tasks & Sub Tasks ‘x’"]


def test_deeply_nested_json_is_refused_not_crashed() -> None:
    """JSON nested deeper than the decoder can go is refused as broken JSON."""
    with pytest.raises(FeedParseError) as err:
        parse_feed(b'{"version": "https://jsonfeed.org/version/1", "items": '
                   + b"[" * 200_000 + b"]" * 200_000 + b"}", feed_url=FEED_URL)
    assert "broken JSON" in err.value.message


@pytest.fixture
async def poller(redis: aioredis.Redis, feed_server: FeedServer) -> AsyncIterator[Poller]:
    limits = FetchLimits(connect_timeout=2, read_timeout=5, total_timeout=10)
    async with make_session(limits) as session:
        config = parse_config({"channels": [{"chat": "@nashir_a"}], "feeds": [
            {"url": feed_server.url("/feed.json"), "channels": ["@nashir_a"],
             "first_run": "all"}]})
        yield Poller(config, Store(redis), Fetcher(session, limits))


async def test_a_json_feed_with_a_bad_field_is_polled_and_the_field_logged(
        feed_server: FeedServer, poller: Poller, caplog: pytest.LogCaptureFixture) -> None:
    """Through the poller: the good items of a JSON Feed with a bad field are queued, and the
    left-out field is logged with the feed and counted in the outcome."""
    feed_server.set_response("/feed.json", body=_json([_good(1), {**_good(2), "tags": 5}]),
                             headers={"Content-Type": "application/feed+json"})
    with caplog.at_level(logging.WARNING, logger="pipeline.poller"):
        (outcome,) = await poller.poll_all()
    assert outcome.status == "new" and outcome.queued == 2
    assert len(outcome.skipped) == 1 and '"tags" is int' in outcome.skipped[0]
    assert any('"tags" is int' in r.getMessage() for r in caplog.records)
