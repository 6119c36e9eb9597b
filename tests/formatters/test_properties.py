"""Property tests: random Unicode and HTML never produce a post Telegram would refuse."""
from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.languages import CALENDARS, DIGITS, LANGUAGES, MONTH_NAMES, RTL_LANGUAGES
from config.schema import ChannelConfig
from formatters.errors import UnrenderableArticle
from formatters.excerpt import ELLIPSIS, cut_text
from formatters.post import render_post
from formatters.rtl import RLM, isolate_line, isolates_balanced
from formatters.templates import FIELDS
from formatters.text import clean_inline
from model.article import Article
from model.post import PostOptions, post_options
from tests.formatters.conftest import FIRST_SEEN, check_post

# NASHIR_PROPERTY_EXAMPLES=5000 for a deeper hunt than the quick default.
SETTINGS = settings(max_examples=int(os.environ.get("NASHIR_PROPERTY_EXAMPLES", "250")),
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

NASTY = [
    "\u202e", "\u202a", "\u202b", "\u202c", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069",
    "\u200e", "\u200f", "\u061c", "\u200b", "\u200c", "\u200d", "\ufeff", "\u2060", "\u00ad",
    "\u064e", "\u0651", "\u0301", "\u030a", "\u0333", "\ud800", "\udfff", "\x00", "\x1b", "\r",
    "\n", "\t", "\u2028", "\u2029", "\x85", "\u00a0", "&", "<", ">", '"', "'", "&amp;", "&lt;",
    "&#x202E;", "&#xD800;", "&#0;", "&bogus;", "&#1585;", "😀", "👨\u200d👩\u200d👧", "🇸🇾", "٢٨٪",
    "28%", "2025-09-18", "2025/09/18", "https://example.org/a?b=1&c=2", "www.x.org/(a)", "#وسم",
    "#Tag", "@user", "CNN", "iPhone 17", " ", "  ", "،", "؛", "؟", ".", "!", "…", "(", ")", "[",
    "{", "}", "{title}", "ـ", "لا", "مُحَمَّدٌ", "\U000e0041", "\uffff", "\U0010ffff",
    "می\u200cشود", "۱۴۰۴", "۳۰٪", "پاکستان", "ہے۔", "צה״ל", "בְּרֵאשִׁית", "ה-3.1", "#ایران",
]
ARABIC = "ابتثجحخدذرزسشصضطظعغفقكلمنهويءآأؤإئةى"
words = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=ARABIC, min_size=1, max_size=9),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=9),
    st.sampled_from(NASTY),
)
unicode_text = st.lists(st.one_of(words, st.just(" ")), max_size=40).map("".join)
TAGS = ["p", "div", "b", "i", "a", "script", "style", "li", "ul", "br", "span", "h1", "nav",
        "blockquote", "table", "td", "img", "iframe", "svg", "pre", "figure", "header", "P", "x-y"]
ATTRS = ["", " href='x'", ' class="c"', " onclick=alert(1)", " src=a.jpg", ' title="&quot;<"']


def _element(tag: str, attrs: str, kids: list[str], closed: bool) -> str:
    return f"<{tag}{attrs}>{''.join(kids)}" + (f"</{tag}>" if closed else "")


html_fragments = st.recursive(
    unicode_text,
    lambda children: st.builds(_element, st.sampled_from(TAGS), st.sampled_from(ATTRS),
                               st.lists(children, max_size=4), st.booleans()),
    max_leaves=25,
)
dates = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                 timezones=st.just(UTC)),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)),  # naive
    st.just(FIRST_SEEN + timedelta(days=400)),
)
urls = st.sampled_from([
    "https://example.org/a?b=1&c=\"2\"", "http://ar.example.org/مقال/1", "", "javascript:x()",
    "https://exa mple.org", "https://example.org/\u202ex", "ftp://x.org/y", "https://x.org",
])


@st.composite
def articles(draw: st.DrawFn) -> Article:
    return Article(
        uid="prop", feed_url="https://example.org/feed", url=draw(urls),
        title=draw(st.one_of(unicode_text, html_fragments)),
        published_at=draw(dates), author=draw(unicode_text),
        categories=tuple(draw(st.lists(unicode_text, max_size=8))),
        content_html=draw(html_fragments), image_url=draw(st.one_of(st.none(), urls)),
        source_name=draw(unicode_text),
    )


def _literal(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


templates = st.one_of(
    st.none(),
    st.lists(st.one_of(st.sampled_from(["{" + f + "}" for f in FIELDS] + ["\n"] * 3),
                       unicode_text.map(_literal)), max_size=15).map("".join)
    .filter(lambda t: len(t) <= 2000),
)


@st.composite
def channels(draw: st.DrawFn) -> PostOptions:
    language = draw(st.sampled_from(LANGUAGES))
    return post_options(ChannelConfig(
        chat="@prop", language=language, digits=draw(st.sampled_from(DIGITS[language])),
        calendars=tuple(draw(st.lists(st.sampled_from(CALENDARS[language]), max_size=2,
                                      unique=True))),
        month_names=draw(st.sampled_from(MONTH_NAMES[language])),
        timezone=draw(st.sampled_from([None, "Asia/Damascus", "Pacific/Kiritimati",
                                       "America/Anchorage"])),
        template=draw(templates), photo=draw(st.booleans()), link_preview=draw(st.booleans()),
        excerpt_chars=draw(st.integers(80, 3500)), hashtags=draw(st.booleans()),
    ))


@SETTINGS
@given(article=articles(), chan=channels())
def test_any_input_gives_a_valid_post_or_a_clear_skip(article: Article, chan: PostOptions) -> None:
    """Whatever the feed sends, the post passes the strict HTML check, fits, and is balanced."""
    try:
        post = render_post(article, chan, timezone="UTC", first_seen=FIRST_SEEN)
    except UnrenderableArticle as skip:
        assert skip.reason.startswith(("nothing to show", "the post is too long")), skip.reason
        return
    check_post(post)
    assert post.language == chan.language


@SETTINGS
@given(text=unicode_text, limit=st.integers(1, 120))
def test_cut_text_is_a_grapheme_safe_prefix(text: str, limit: int) -> None:
    """A cut is within the limit, a prefix of the text, and ends between grapheme clusters."""
    clean = clean_inline(text)
    cut = cut_text(clean, limit)
    assert len(cut) <= max(limit, 0) or cut == clean
    kept = cut.removesuffix(" " + ELLIPSIS).removesuffix(ELLIPSIS)
    assert clean.startswith(kept)
    clusters = regex.findall(r"\X", clean)
    joined = ""
    for cluster in clusters:
        if len(joined) >= len(kept):
            break
        joined += cluster
    assert joined == kept
    for url in regex.finditer(r"(?:https?://|www\.)\S+", clean, regex.IGNORECASE):
        end = url.start() + len(url.group().rstrip(".,;:!?)]}'\"،؛؟»”’"))
        if url.start() < len(kept):  # a URL that starts in the excerpt ends in it too
            assert len(kept) >= end, (kept, url.group())


@SETTINGS
@given(text=unicode_text, language=st.sampled_from(LANGUAGES))
def test_isolating_keeps_text_and_balances_controls(text: str, language: str) -> None:
    """Isolation only adds balanced LRI/RLI...PDI pairs; removing them gives the text back."""
    clean = clean_inline(text)
    isolated = isolate_line(clean, language)
    assert isolates_balanced(isolated)
    assert "".join(ch for ch in isolated if ch not in "\u2066\u2067\u2069") == clean


@SETTINGS
@given(text=unicode_text, language=st.sampled_from(sorted(RTL_LANGUAGES)))
def test_every_arabic_line_resolves_rtl(text: str, language: str) -> None:
    """With our RLM in front, python-bidi finds an RTL paragraph for any cleaned line (Arabic,
    Persian, Urdu or Hebrew)."""
    from bidi import get_base_level

    line = RLM + isolate_line(clean_inline(text), language)
    assert get_base_level(line) == 1
