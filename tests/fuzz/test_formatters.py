"""Fuzzing the formatter and the template engine with hostile Unicode and HTML in every field
and in the operator's template: a post Telegram accepts, within its limits, or a skip with one
of the documented reasons; never an "internal formatter error"."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import assume, example, given
from hypothesis import strategies as st

from config.schema import ChannelConfig
from formatters.errors import TemplateError, UnrenderableArticle
from formatters.post import render_post
from formatters.rtl import isolate_line, isolates_balanced
from formatters.telegram_html import escape_text, link
from formatters.templates import FIELDS, Fragment, compile_template, render, validate_template
from formatters.text import clean_inline
from model.article import Article
from model.post import PostOptions, post_options
from sandbox.telegram_html import TelegramTextError, validate_text
from tests.formatters.conftest import FIRST_SEEN, FORBIDDEN, check_post
from tests.fuzz.strategies import FUZZ, hostile_html, hostile_text
from tests.fuzz.test_feeds import URLS

SKIPS = ("nothing to show", "the post is too long", "the post does not fit")
dates = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                 timezones=st.sampled_from([UTC])),
    st.datetimes(),  # naive, any year
    st.just(FIRST_SEEN + timedelta(days=4000)),
)


@st.composite
def articles(draw: st.DrawFn) -> Article:
    return Article(
        uid="fuzz", feed_url="https://example.org/feed", url=draw(URLS),
        title=draw(st.one_of(hostile_text(), hostile_html)), published_at=draw(dates),
        author=draw(hostile_text(8)), categories=tuple(draw(st.lists(hostile_text(4),
                                                                     max_size=10))),
        content_html=draw(hostile_html), image_url=draw(st.one_of(st.none(), URLS)),
        source_name=draw(hostile_text(8)))


def _literal(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


templates = st.lists(st.one_of(
    st.sampled_from(["{" + f + "}" for f in FIELDS] + ["\n"] * 3),
    hostile_text(6).map(_literal),
    hostile_text(3),                          # raw braces: often an invalid template
), max_size=14).map("".join)


@st.composite
def options(draw: st.DrawFn) -> PostOptions:
    return post_options(ChannelConfig(
        chat="@fuzz", language=draw(st.sampled_from(["ar", "en"])),
        digits=draw(st.sampled_from(["latin", "arabic"])),
        calendars=draw(st.sampled_from([("gregorian",), ("hijri",), ("gregorian", "hijri"), ()])),
        month_names=draw(st.sampled_from(["standard", "levantine"])),
        timezone=draw(st.sampled_from([None, "Pacific/Kiritimati", "America/Adak"])),
        template=draw(st.one_of(st.none(), templates)), photo=draw(st.booleans()),
        link_preview=draw(st.booleans()), excerpt_chars=draw(st.integers(80, 3500)),
        hashtags=draw(st.booleans())))


def template_ok(template: str | None) -> bool:
    if template is None:
        return True
    try:
        validate_template(template)
    except TemplateError:
        return False
    return True


@FUZZ
@given(article=articles(), chan=options())
@example(article=Article(uid="x", feed_url="f", url="https://example.org/a",
                         title="\u0651" * 4000, published_at=datetime(9999, 12, 31, 23),
                         content_html="<p>" + "\u202e\u200b" * 3000 + "</p>"),
         chan=post_options(ChannelConfig(chat="@fuzz", timezone="Pacific/Kiritimati",
                                         calendars=("hijri",), photo=True)))
def test_any_article_gives_a_valid_post_or_a_documented_skip(article: Article,
                                                             chan: PostOptions) -> None:
    """Hostile text and HTML in every field and the template: the post passes the strict
    check and fits, or the skip says why in the documented words."""
    try:
        post = render_post(article, chan, timezone="UTC", first_seen=FIRST_SEEN)
    except UnrenderableArticle as skip:
        # An empty article is skipped before its template is read, whatever the template.
        allowed = SKIPS if template_ok(chan.template) else \
            ("the channel's template is invalid", "nothing to show: no title and no body")
        assert skip.reason.startswith(allowed), skip.reason
        return
    assert template_ok(chan.template)
    check_post(post)


@FUZZ
@given(template=st.one_of(templates, hostile_text(), st.text(max_size=300)))
def test_any_template_is_accepted_or_refused_with_a_reason(template: str) -> None:
    """validate_template never fails other than with TemplateError, which names the line."""
    try:
        validate_template(template)
    except TemplateError as refused:
        assert str(refused).startswith(("template line", "the template")), str(refused)


def _field(text: str, language: str, bold: bool = False) -> Fragment:
    clean = isolate_line(clean_inline(text), language)
    html = escape_text(clean)
    return Fragment(f"<b>{html}</b>" if bold and clean else html, clean)


@FUZZ
@given(template=templates, language=st.sampled_from(["ar", "en"]),
       values=st.lists(hostile_text(8), min_size=len(FIELDS), max_size=len(FIELDS)))
def test_the_template_engine_fills_hostile_literals_and_fields_validly(
        template: str, language: str, values: list[str]) -> None:
    """A valid template with hostile literal text, filled with hostile (cleaned) fields, gives
    HTML Telegram parses, with no character it deletes and balanced isolates."""
    assume(template_ok(template))
    fields = {name: _field(value, language, bold=name == "title")
              for name, value in zip(FIELDS, values, strict=True)}
    fields["link"] = Fragment(link("https://example.org/a", "اقرأ"), "اقرأ")
    filled = render(compile_template(template, language), fields)
    assert not FORBIDDEN & set(filled.html)
    if not filled.text.strip():
        return
    try:
        parsed = validate_text(filled.html, "HTML")
    except TelegramTextError as refused:
        # Only an all-invisible text may be "empty"; fitting the length is render_post's work
        # (shortening the excerpt), not the engine's.
        assert "must be non-empty" in str(refused) or "too long" in str(refused), str(refused)
        return
    assert isolates_balanced(parsed.text)
