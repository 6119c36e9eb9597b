"""Tests for feeds.parser: normalisation, identity, refusals, encodings and entity safety."""
from __future__ import annotations

import contextlib
import hashlib
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.parser import ParsedFeed, link_key, parse_feed
from model.errors import FeedParseError, FetchErrorKind
from tests.fakes.feed_server import FeedItem, FeedServer, render_feed

FEED_URL = "https://example.org/feed.xml"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _rss(*items: FeedItem, **kw: object) -> ParsedFeed:
    return parse_feed(render_feed(title="مدونة التحليل", items=items, **kw),  # type: ignore[arg-type]
                      feed_url=FEED_URL)


# ---------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize("kind", ["rss", "atom"])
def test_generated_feed_fields_are_normalised(kind: str) -> None:
    """Every Article field comes out of a generated RSS 2.0 and Atom feed normalised."""
    published = datetime(2025, 3, 4, 10, 30, tzinfo=UTC)
    item = FeedItem(
        guid="post-17", title="الاقتصاد &amp; السياسة", link="/2025/03/post?utm_source=tg&id=7#top",
        published=published, summary_html="<p>ملخص قصير</p>",
        content_html='<p>النص الكامل <img src="/img/a.jpg"></p><script>x()</script>',
        author="سارة", categories=["اقتصاد", "سياسة"], image="https://cdn.example.org/a.jpg")
    feed = parse_feed(render_feed(title="مدونة", items=[item], kind=kind,  # type: ignore[arg-type]
                                  link="https://Example.org/"), feed_url=FEED_URL)
    assert feed.title == "مدونة"
    assert feed.link == "https://example.org/"
    (art,) = feed.articles
    # The test feed escapes the title once more: an RSS title that then looks like HTML is read
    # as HTML (feedparser's rule), an Atom title of type="text" is text, "&amp;" and all.
    title = "الاقتصاد & السياسة" if kind == "rss" else "الاقتصاد &amp; السياسة"
    assert art.title == title
    assert art.url == "https://example.org/2025/03/post?id=7"
    assert art.published_at == published and art.published_at.tzinfo is not None
    assert art.author == "سارة"
    assert art.categories == ("اقتصاد", "سياسة")
    assert "النص الكامل" in art.content_html and "ملخص" not in art.content_html
    assert "<script" not in art.content_html  # feedparser sanitises
    assert art.image_url == "https://cdn.example.org/a.jpg"
    assert art.source_name == "مدونة"
    assert art.feed_url == FEED_URL
    assert art.content_hash == _sha(title + "\nالنص الكامل")


def test_summary_is_used_when_there_is_no_full_content() -> None:
    """Without content:encoded the summary becomes content_html, and the first <img> the image."""
    item = FeedItem(guid="1", title="t", summary_html='<p>ملخص <img src="pic.png"></p>')
    (art,) = _rss(item).articles
    assert "ملخص" in art.content_html
    assert art.image_url == "https://example.org/pic.png"


def test_articles_keep_document_order_and_ttl() -> None:
    """Articles come back in document order, and <ttl> minutes become seconds."""
    feed = _rss(*(FeedItem(guid=str(i), title=f"t{i}") for i in range(5)), ttl_minutes=30)
    assert [a.title for a in feed.articles] == ["t0", "t1", "t2", "t3", "t4"]
    assert feed.ttl_seconds == 1800


def test_unparseable_or_missing_date_is_none() -> None:
    """A pubDate that is not a date, or none at all, gives published_at None."""
    body = (b'<rss version="2.0"><channel><title>x</title>'
            b"<item><guid>a</guid><title>a</title><pubDate>yesterday-ish</pubDate></item>"
            b"<item><guid>b</guid><title>b</title></item></channel></rss>")
    assert [a.published_at for a in parse_feed(body, feed_url=FEED_URL).articles] == [None, None]


def test_bozo_feed_with_entries_is_not_an_error() -> None:
    """A malformed feed (raw '&', unclosed tags) that still yields items is parsed, not refused."""
    body = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>A & B</title>'
            b"<item><title>one & two</title><link>https://e.org/1</link></item>"
            b"<item><title>three</title><link>https://e.org/3</link>")
    feed = parse_feed(body, feed_url=FEED_URL)
    assert [a.url for a in feed.articles] == ["https://e.org/1", "https://e.org/3"]


def test_empty_but_valid_feed_has_no_articles() -> None:
    """A well-formed feed with no items is a feed with no articles, not an error."""
    feed = _rss()
    assert feed.articles == () and feed.title == "مدونة التحليل"


def test_json_feed_is_read() -> None:
    """A JSON Feed (jsonfeed.org) is normalised like RSS."""
    body = ('{"version": "https://jsonfeed.org/version/1.1", "title": "مدونة", "items": ['
            '{"id": "9", "url": "https://e.org/9?fbclid=1", "title": "عنوان", '
            '"content_text": "نص", "date_published": "2025-01-02T03:04:05+02:00", '
            '"tags": ["أ"]}]}').encode()
    (art,) = parse_feed(body, feed_url=FEED_URL).articles
    assert (art.uid, art.url, art.title) == (_sha("guid:9"), "https://e.org/9", "عنوان")
    assert art.published_at == datetime(2025, 1, 2, 1, 4, 5, tzinfo=UTC)
    assert art.categories == ("أ",)


# ---------------------------------------------------------------------------- identity


def test_identity_from_guid_plus_link_key() -> None:
    """With a guid, uid hashes the guid and identity_keys add the canonical link's key."""
    (art,) = _rss(FeedItem(guid="abc", title="t", link="https://e.org/a")).articles
    assert art.uid == _sha("guid:abc")
    assert art.identity_keys == (art.uid, link_key("https://e.org/a"))


def test_changed_guid_with_same_link_shares_a_key() -> None:
    """Re-publishing with a new guid but the same (tracking-decorated) link keeps a common key."""
    (a,) = _rss(FeedItem(guid="old", title="t", link="https://e.org/a")).articles
    (b,) = _rss(FeedItem(guid="new", title="t", link="https://E.org:443/a?utm_medium=x#c")).articles
    assert a.uid != b.uid
    assert set(a.identity_keys) & set(b.identity_keys) == {link_key("https://e.org/a")}


def test_identity_from_canonical_link_without_guid() -> None:
    """Without a guid the uid is the canonical link's key; utm_* and fragments do not matter."""
    (a,) = _rss(FeedItem(title="t", link="https://e.org/p?id=1&utm_source=fb#x")).articles
    (b,) = _rss(FeedItem(title="other title", link="https://e.org/p?id=1")).articles
    assert a.uid == b.uid == link_key("https://e.org/p?id=1")
    assert a.identity_keys == (a.uid,)


def test_identity_from_title_and_date_without_guid_or_link() -> None:
    """With neither guid nor link, the uid hashes title and date: stable, changing with either."""
    when = datetime(2025, 5, 1, tzinfo=UTC)
    (a,) = _rss(FeedItem(title="خبر", published=when)).articles
    (b,) = _rss(FeedItem(title="خبر", published=when)).articles
    (c,) = _rss(FeedItem(title="خبر آخر", published=when)).articles
    (d,) = _rss(FeedItem(title="خبر", published=datetime(2025, 5, 2, tzinfo=UTC))).articles
    assert a.uid == b.uid == _sha(f"hash:خبر\x1f{when.isoformat()}")
    assert len({a.uid, c.uid, d.uid}) == 3
    assert a.url == "" and a.identity_keys == (a.uid,)


def test_link_shared_by_several_items_is_not_an_identity() -> None:
    """Items that all link to the home page stay distinct (the shared link is not used as a key)."""
    feed = _rss(FeedItem(title="a", link="https://e.org/"), FeedItem(title="b", link="https://e.org/"),
                FeedItem(guid="g", title="c", link="https://e.org/"))
    assert len({a.uid for a in feed.articles}) == 3
    assert all(link_key("https://e.org/") not in a.identity_keys for a in feed.articles)


# ---------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(("body", "kind", "words"), [
    (b"", FetchErrorKind.EMPTY, "empty"),
    (b"  \n\t ", FetchErrorKind.EMPTY, "empty"),
    (b"Internal error, try later", FetchErrorKind.NOT_A_FEED, "not xml"),
    (b"%PDF-1.7\n\x00\x01\x02binary", FetchErrorKind.NOT_A_FEED, "not xml"),
    (b'<?xml version="1.0"?><config><a>1</a></config>', FetchErrorKind.NOT_A_FEED, "not an rss"),
    (b'{"data": [1, 2]}', FetchErrorKind.NOT_A_FEED, "json"),
    (b"<!DOCTYPE html><html><head><title>Home</title></head><body>hi</body></html>",
     FetchErrorKind.NOT_A_FEED, "web page"),
    (b"<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
     b"<body>Checking your browser</body></html>", FetchErrorKind.CHALLENGE, "anti-bot"),
    (b"<html><head><title>Attention Required! | Cloudflare</title></head><body></body></html>",
     FetchErrorKind.CHALLENGE, "anti-bot"),
    (b'<html><body><form><div class="g-recaptcha" data-sitekey="k"></div></form></body></html>',
     FetchErrorKind.CHALLENGE, "captcha"),
])
def test_bodies_that_are_not_feeds_are_refused_in_plain_words(
    body: bytes, kind: FetchErrorKind, words: str
) -> None:
    """Empty bodies, text, binaries, other XML, JSON, web pages and challenge pages raise
    FeedParseError with a kind and a message an editor understands."""
    with pytest.raises(FeedParseError) as err:
        parse_feed(body, feed_url=FEED_URL)
    assert err.value.kind == kind
    assert words in err.value.message.lower()


def test_web_page_error_names_the_feed_it_advertises() -> None:
    """A web page that links to its feed yields an error that points the editor at that feed."""
    page = ('<!doctype html><html><head><link rel="alternate" type="application/rss+xml" '
            'href="/rss.xml?utm_source=x"></head><body>مقال</body></html>').encode()
    with pytest.raises(FeedParseError) as err:
        parse_feed(page, feed_url="https://e.org/articles/1")
    assert err.value.feed_links == ("https://e.org/rss.xml",)
    assert "https://e.org/rss.xml" in err.value.message


def test_article_pages_with_captcha_widgets_are_web_pages_not_challenges(corpus: Path) -> None:
    """Real news pages with comment captchas are reported as web pages, not as bot checks."""
    for name in ("pages/htmldate/1641304459.html", "pages/trafilatura/eval/dw.com-elephants.html"):
        with pytest.raises(FeedParseError) as err:
            parse_feed((corpus / name).read_bytes(), feed_url=FEED_URL)
        assert err.value.kind == FetchErrorKind.NOT_A_FEED, name


def test_xhtml_doctype_over_rss_is_still_a_feed() -> None:
    """A CMS that puts an XHTML DOCTYPE above <rss> still gets its feed read."""
    body = (b'<?xml version="1.0"?><!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0//EN" "x">'
            b'<rss version="2.0"><channel><title>found</title><item><title>i</title></item>'
            b"</channel></rss>")
    assert parse_feed(body, feed_url=FEED_URL).title == "found"


# ---------------------------------------------------------------------------- encodings

ARABIC_TITLE = "تحليل: مستقبل الاقتصاد العربي في ظل التحولات الإقليمية"
ARABIC_TEXT = "قالت مصادر مطلعة إن المفاوضات ستستأنف الأسبوع المقبل، وفق ما ذكرت الصحيفة."


@pytest.mark.parametrize("encoding", ["windows-1256", "iso-8859-6", "utf-8"])
@pytest.mark.parametrize("declared", [True, False])
@pytest.mark.parametrize("kind", ["rss", "atom"])
def test_arabic_feed_in_any_encoding_declared_or_not(encoding: str, declared: bool,
                                                     kind: str) -> None:
    """Arabic feeds in windows-1256 and ISO-8859-6 come out as the right text, with or without
    an encoding declaration."""
    body = render_feed(title="مدونة الاقتصاد", kind=kind, encoding=encoding,  # type: ignore[arg-type]
                       declare_encoding=declared,
                       items=[FeedItem(guid="1", title=ARABIC_TITLE, categories=["اقتصاد"],
                                       summary_html=f"<p>{ARABIC_TEXT}</p>")])
    if encoding != "utf-8":
        with pytest.raises(UnicodeDecodeError):
            body.decode("utf-8")  # make sure the test really exercises a non-UTF-8 body
    feed = parse_feed(body, feed_url=FEED_URL)
    (art,) = feed.articles
    assert feed.title == "مدونة الاقتصاد"
    assert art.title == ARABIC_TITLE
    assert ARABIC_TEXT in art.content_html
    assert art.categories == ("اقتصاد",)


@pytest.mark.parametrize("encoding", ["windows-1256", "iso-8859-6"])
def test_http_charset_decodes_an_undeclared_document(encoding: str) -> None:
    """The charset from Content-Type is used when the XML declaration names none."""
    body = render_feed(title="عنوان", encoding=encoding, declare_encoding=False,
                       items=[FeedItem(guid="1", title="خبر")])
    feed = parse_feed(body, feed_url=FEED_URL, content_type=f"text/xml; charset={encoding}")
    assert (feed.title, feed.articles[0].title) == ("عنوان", "خبر")


@pytest.mark.parametrize(("sample", "encoding"), [
    ("encoding-samples/chardet/windows-1256-arabic/"
     "_chromium_windows-1256_with_no_encoding_specified.html", "windows-1256"),
    ("encoding-samples/chardet/iso-8859-6-arabic/"
     "_chromium_ISO-8859-6_with_no_encoding_specified.html", "iso-8859-6"),
    ("encoding-samples/charset_normalizer/sample-arabic-1.txt", "windows-1256"),
])
def test_corpus_arabic_samples_in_an_undeclared_feed(corpus: Path, sample: str,
                                                     encoding: str) -> None:
    """Real Arabic bytes from the corpus, inside a feed that declares no encoding, decode right."""
    raw = (corpus / sample).read_bytes()
    text_bytes = raw.split(b'<body dir="RTL">')[-1].split(b"</body>")[0].strip()
    expected = " ".join(text_bytes.decode(encoding).split())
    first_words = text_bytes.split(b" ")[:6]
    body = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>'
            + b" ".join(first_words[:3]) + b"</title><item><guid>1</guid><title>"
            + b" ".join(first_words) + b"</title><description>" + text_bytes.replace(b"&", b"&amp;")
            .replace(b"<", b"&lt;") + b"</description></item></channel></rss>")
    (art,) = parse_feed(body, feed_url=FEED_URL).articles
    assert " ".join(art.content_html.split()) == expected.replace("&", "&amp;").replace(
        "<", "&lt;").replace(">", "&gt;")
    assert art.title == " ".join(expected.split(" ")[:6])


def test_wrong_single_byte_declaration_over_utf8_content_is_read_as_utf8() -> None:
    """A template that declares iso-8859-1 over UTF-8 Arabic content still gives Arabic text."""
    body = ('<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel>'
            f"<title>{ARABIC_TITLE}</title></channel></rss>").encode()
    assert parse_feed(body, feed_url=FEED_URL).title == ARABIC_TITLE


# ---------------------------------------------------------------------------- entity safety

BILLION_LAUGHS_ONE_LINE = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
              for i in range(1, 10))
    + ']><rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title></item>'
      "</channel></rss>"
).encode()

BILLION_LAUGHS_MULTI_LINE = BILLION_LAUGHS_ONE_LINE.replace(b"<!ENTITY", b"\n<!ENTITY")

QUADRATIC_BLOWUP = (
    '<?xml version="1.0"?>\n<!DOCTYPE r [\n<!ENTITY a "' + "A" * 50_000 + '">\n]>\n'
    '<rss version="2.0"><channel><title>' + "&a;" * 20_000 + "</title></channel></rss>"
).encode()


@pytest.mark.parametrize("body",
                         [BILLION_LAUGHS_ONE_LINE, BILLION_LAUGHS_MULTI_LINE, QUADRATIC_BLOWUP],
                         ids=["billion-laughs-one-line", "billion-laughs", "quadratic-blowup"])
def test_entity_bombs_are_refused_without_expanding(body: bytes) -> None:
    """Entity-expansion bombs are refused, using only a few MB of memory."""
    tracemalloc.start()
    try:
        with pytest.raises(FeedParseError) as err:
            parse_feed(body, feed_url=FEED_URL)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.value.kind == FetchErrorKind.UNSAFE_XML
    assert peak < 20 * len(body) + 5_000_000, peak  # 1e9 'lol's would be ~3 GB


def test_external_file_entity_is_never_read(tmp_path: Path) -> None:
    """An entity pointing at a local file is refused and the file's contents appear nowhere."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER-42")
    body = (f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "{secret.as_uri()}">]>'
            '<rss version="2.0"><channel><title>&x;</title><item><title>&x;</title>'
            "<description>&x;</description></item></channel></rss>").encode()
    with pytest.raises(FeedParseError) as err:
        parse_feed(body, feed_url=FEED_URL)
    assert err.value.kind == FetchErrorKind.UNSAFE_XML
    assert "TOP-SECRET-MARKER-42" not in repr(err.value)


def test_external_parameter_entities_are_dropped_not_fetched(tmp_path: Path) -> None:
    """A DTD that pulls in an external parameter entity parses without reading it."""
    secret = tmp_path / "evil.dtd"
    secret.write_text('<!ENTITY leak "TOP-SECRET-MARKER-43">')
    body = (f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY % ext SYSTEM "{secret.as_uri()}">\n'
            "%ext;\n]>\n"
            '<rss version="2.0"><channel><title>ok</title><item><title>t &amp; &leak;</title>'
            "</item></channel></rss>").encode()
    try:
        feed = parse_feed(body, feed_url=FEED_URL)
    except FeedParseError as err:
        assert "TOP-SECRET-MARKER-43" not in repr(err)
    else:
        assert "TOP-SECRET-MARKER-43" not in repr(feed)


async def test_external_http_entity_is_never_requested(feed_server: FeedServer) -> None:
    """An entity pointing at a URL causes no request to that URL."""
    feed_server.set_response("/evil", body=b"LEAKED")
    body = (f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "{feed_server.url("/evil")}">]>'
            '<rss version="2.0"><channel><title>&x;</title></channel></rss>').encode()
    with pytest.raises(FeedParseError):
        parse_feed(body, feed_url=FEED_URL)
    body_unused = body.replace(b"<title>&x;</title>",
                               b"<title>fine</title><item><title>i</title></item>")
    assert parse_feed(body_unused, feed_url=FEED_URL).title == "fine"  # declared, never used
    assert feed_server.hits("/evil") == 0


def test_harmless_entities_still_work() -> None:
    """Character-reference and short text entities declared in the DTD are expanded normally."""
    body = (b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY nbsp "&#160;"><!ENTITY site "Nashir">]>'
            b'<rss version="2.0"><channel><title>&site;&nbsp;feed</title></channel></rss>')
    assert parse_feed(body, feed_url=FEED_URL).title == "Nashir feed"


# ---------------------------------------------------------------------------- corpus and robustness


def _index(corpus: Path) -> list[list[str]]:
    return [line.split("\t") for line in (corpus / "INDEX.tsv").read_text("utf-8").splitlines()[1:]]


@pytest.mark.corpus
def test_every_corpus_file_parses_or_is_refused_cleanly(corpus: Path) -> None:
    """Every corpus file yields a ParsedFeed or a FeedParseError, never another exception; real
    RSS/Atom/JSON feeds with items yield articles."""
    articles = 0
    unexpected: list[str] = []
    for path, kind, *_ in _index(corpus):
        try:
            feed = parse_feed((corpus / path).read_bytes(), feed_url="https://example.org/f")
        except FeedParseError:
            if path.startswith("real/") and kind in {"rss2", "atom", "rss1"}:
                unexpected.append(path)
            continue
        articles += len(feed.articles)
        for art in feed.articles:
            assert art.uid and art.uid in art.identity_keys
            assert art.published_at is None or art.published_at.utcoffset() is not None
    assert not unexpected, unexpected
    assert articles > 5_000


@pytest.mark.corpus
def test_corpus_html_pages_are_refused_as_web_pages(corpus: Path) -> None:
    """Every HTML page in the corpus is refused as a web page (none mistaken for a challenge)."""
    for path, kind, *_ in _index(corpus):
        if kind == "html":
            with pytest.raises(FeedParseError) as err:
                parse_feed((corpus / path).read_bytes(), feed_url="https://example.org/")
            assert err.value.kind == FetchErrorKind.NOT_A_FEED, path


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.binary(max_size=400),
    st.text(max_size=300).map(lambda t: ('<rss version="2.0"><channel><title>' + t).encode()),
    st.text(max_size=300).map(lambda t: f"<?xml version='1.0'?><!DOCTYPE r [{t}]><rss/>".encode()),
))
def test_arbitrary_bytes_never_raise_anything_but_feed_parse_error(body: bytes) -> None:
    """Whatever the bytes, parse_feed returns a ParsedFeed or raises FeedParseError."""
    with contextlib.suppress(FeedParseError):
        parse_feed(body, feed_url=FEED_URL)


def test_parsing_in_threads_gives_the_same_result() -> None:
    """parse_feed is thread-safe: parallel parses equal a serial one."""
    body = render_feed(title="م", items=[FeedItem(guid=str(i), title=f"عنوان {i}",
                                                  content_html=f"<p>{i}</p>") for i in range(30)],
                       encoding="windows-1256", declare_encoding=False)
    expected = parse_feed(body, feed_url=FEED_URL)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: parse_feed(body, feed_url=FEED_URL), range(32)))
    assert all(r == expected for r in results)


def test_feed_with_absurdly_many_items_is_refused_quickly() -> None:
    """A body of nothing but item tags is refused before feedparser spends minutes on it."""
    with pytest.raises(FeedParseError) as err:
        parse_feed(b'<rss version="2.0"><channel>' + b"<item>" * 200_000, feed_url=FEED_URL)
    assert err.value.kind == FetchErrorKind.TOO_LARGE and "items" in err.value.message
