"""render_post end to end: what the post holds, link/photo choice, limits, and bad input."""
from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from formatters import post as post_module
from formatters.errors import UnrenderableArticle
from formatters.post import render_post
from formatters.telegram_html import CAPTION_LIMIT, TEXT_LIMIT, telegram_length
from model.post import RenderedPost
from tests.formatters.conftest import (
    FIRST_SEEN,
    SEED_TITLE,
    article,
    channel,
    check_post,
    seed_html,
    strip_marks,
)


def _render(**changes: object) -> RenderedPost:
    chan = changes.pop("chan", channel())
    return render_post(article(**changes), chan, timezone="Asia/Damascus",  # type: ignore[arg-type]
                       first_seen=FIRST_SEEN)


def test_seed_post_holds_everything_in_order() -> None:
    """Bold title, date, excerpt, author, source, link and hashtags, in the default order."""
    post = _render(content_html=seed_html(), chan=channel(calendars=("gregorian", "hijri")))
    text = strip_marks(check_post(post))
    assert text.split("\n") == [
        SEED_TITLE,
        "الخميس 18 سبتمبر 2025 م — 26 ربيع الأول 1447 هـ",
        "",
        text.split("\n")[3],
        "",
        "بقلم: هيئة التحرير",
        "المصدر: مركز الدراسات",
        "اقرأ المقال كاملاً",
        "",
        "#الشأن_السوري #روسيا",
    ]
    assert post.html.startswith(f"\u200f<b>{SEED_TITLE}</b>\n")
    assert '<a href="https://example.org/analysis/1?utm=rss&amp;id=7">اقرأ المقال كاملاً</a>' \
        in post.html
    assert post.preview_url == "https://example.org/analysis/1?utm=rss&id=7"
    assert post.photo_url is None and post.language == "ar"


def test_excerpt_respects_the_channel_budget() -> None:
    """excerpt_chars bounds the excerpt; a longer budget shows more of the article."""
    short = _render(content_html=seed_html(), chan=channel(excerpt_chars=120))
    long = _render(content_html=seed_html(), chan=channel(excerpt_chars=1500))
    short_excerpt = strip_marks(check_post(short)).split("\n\n")[1]
    long_excerpt = strip_marks(check_post(long)).split("\n\n")[1:-2]
    assert len(short_excerpt) <= 120 and short_excerpt.endswith("…")
    assert sum(len(p) for p in long_excerpt) > 1000


def test_link_preview_can_be_turned_off() -> None:
    """link_preview: false gives preview_url None (the link stays in the text)."""
    post = _render(chan=channel(link_preview=False))
    assert post.preview_url is None
    assert "<a href=" in post.html


def test_photo_post_uses_the_image_and_fits_a_caption() -> None:
    """photo: true with an image gives a photo post whose caption fits 1024, shortened excerpt."""
    post = _render(content_html=seed_html(), chan=channel(photo=True, excerpt_chars=3500))
    assert post.photo_url == "https://example.org/img/1.jpg"
    assert post.preview_url is None
    text = check_post(post)
    assert CAPTION_LIMIT * 0.7 < telegram_length(text) <= CAPTION_LIMIT
    assert text.count("<") == 0 and post.html.count("<b>") == 1 and post.html.count("</a>") == 1


def test_photo_requested_without_an_image_is_a_text_post() -> None:
    """photo: true but no usable image: a normal text post with a link preview."""
    for image in (None, "", "javascript:alert(1)", "ftp://example.org/x.jpg"):
        post = _render(image_url=image, chan=channel(photo=True))
        assert post.photo_url is None and post.preview_url is not None
        check_post(post)


def test_hashtags_from_categories() -> None:
    """Categories become hashtags (spaces to underscores, punctuation dropped); off when asked."""
    post = _render(categories=("الشأن السوري", "COVID-19", "Politics > Middle East", "2025",
                               "الشأن السوري", "a, b!"))
    last = strip_marks(check_post(post)).split("\n")[-1]
    assert last == "#الشأن_السوري #COVID19 #Politics_Middle_East #a_b"
    assert "#" not in strip_marks(check_post(_render(chan=channel(hashtags=False))))


def test_a_long_post_is_shortened_in_the_excerpt_never_in_the_markup() -> None:
    """A huge budget with emoji-heavy text still fits 4096 UTF-16 units with all markup intact."""
    body = "".join(f"<p>فقرة رقم {i} 😀😀 فيها كلام كثير عن السياسة والاقتصاد والمجتمع. "
                   f"وجملة ثانية أطول قليلا من الأولى بكثير.</p>" for i in range(200))
    post = _render(content_html=body, title="😀" * 300, chan=channel(excerpt_chars=3500),
                   categories=tuple(f"وسم{i}" for i in range(20)))
    text = check_post(post)
    assert telegram_length(text) <= TEXT_LIMIT
    assert post.html.count("<b>") == post.html.count("</b>") == 1
    assert post.html.count("<a href=") == post.html.count("</a>") == 1
    assert text.split("\n")[0].endswith("…")  # the title was capped at a grapheme boundary


def test_english_channel_post() -> None:
    """An English channel gets the English template, date and link label."""
    post = _render(title="Russia and Syria: a new partnership?", author="Jane Doe",
                   source_name="Example Review", chan=channel(language="en"),
                   content_html="<p>After months of tension, relations improved steadily.</p>")
    assert strip_marks(check_post(post)).split("\n") == [
        "Russia and Syria: a new partnership?", "Thursday, 18 September 2025", "",
        "After months of tension, relations improved steadily.", "", "By Jane Doe",
        "Source: Example Review", "Read the full article", "", "#الشأن_السوري #روسيا",
    ]
    assert post.language == "en"


def test_an_unsafe_article_url_gives_no_link_and_no_preview() -> None:
    """javascript:, spaces or a host without a dot never become a link."""
    for url in ("javascript:alert(1)", "https://exa mple.org/", "http://localhost/x", "",
                "https://example.org/\u202egpj.exe"):
        post = _render(url=url)
        assert "<a " not in post.html and post.preview_url is None
        check_post(post)


BAD_INPUT = {
    "html and script in title and body": {
        "title": "<b>عاجل</b> <script>alert(1)</script> & تحليل",
        "content_html": "<p>نص <script>alert('x')</script> <iframe src=x></iframe> المقال هنا "
                        "وفيه <b>تنسيق</b> وجملة كاملة.</p><style>p{}</style>"},
    "unclosed tags": {"title": "<b><i>عنوان", "content_html": "<p><b><i><a href='x'>نص لم "
                      "تغلق وسومه أبدا ولكنه نص طويل بما يكفي ليكون جملة.<p><div><span>"},
    "raw ampersands and fake entities": {"title": "A & B &amp; C &bogus; &#0; &#xD800; <",
                                         "content_html": "R&D &amp; M&A &#8238;spoof &lt;x&gt; "
                                                         "and more words to make a sentence."},
    "U+202E and isolates": {"title": "\u202eأمن\u2066ي\u2069", "content_html":
                            "<p>\u202eنص معكوس الاتجاه\u202c مع \u2067عزل\u2069 غير مغلق \u2068 "
                            "في جملة طويلة بما يكفي.</p>"},
    "zero-width characters": {"title": "\u200b\u200c\u200d\ufeff\u2060عنوان\u200b",
                              "content_html": "<p>\u200b" * 50 + "</p>"},
    "combining marks without a base": {"title": "\u064e\u0651\u0301 عنوان \u0650",
                                       "content_html": "<p>\u064e" * 30 + "</p>"},
    "lone surrogates": {"title": "عنوان\ud800\udc00x\udfff", "content_html":
                        "<p>نص \ud83d فيه نصف رمز تعبيري وجملة كاملة بعده.</p>",
                        "author": "\udc80", "categories": ("وسم\ud800",)},
    "one megabyte of text": {"title": "ع" * 1_000_000, "content_html": "<p>" + "كلمة " * 200_000
                             + "</p>", "author": "a" * 1_000_000},
    "no text at all": {"title": "", "content_html": ""},
    "only images": {"title": "", "content_html": "<img src='a.jpg'><img src='b.png'>"},
    "only images with a title": {"content_html": "<figure><img src='a.jpg'></figure>"},
    "all-Latin title": {"title": "Why Russia Still Matters in Syria (Analysis)"},
    "empty title": {"title": ""},
    "whitespace title": {"title": " \n\t\u00a0\u3000 "},
    "deeply nested markup": {"content_html": "<div>" * 5000 + "نص في العمق وجملة كاملة هنا."
                             + "</div>" * 10},
    "control characters": {"title": "عنوان\x00\x07\x1b[31m\r\n\u2028تال", "author": "\t\n"},
    "weird categories": {"categories": ("", " ", "###", "2025", "x" * 500, "a/b|c", None)},
}


@pytest.mark.parametrize("changes", BAD_INPUT.values(), ids=BAD_INPUT.keys())
@pytest.mark.parametrize("language", ["ar", "en"])
def test_bad_input_gives_a_valid_post_or_a_clear_skip(changes: dict, language: str) -> None:
    """Hostile or broken input never raises anything but UnrenderableArticle with a reason."""
    for photo in (False, True):
        try:
            post = render_post(article(**changes), channel(language=language, photo=photo),
                               timezone="Asia/Damascus", first_seen=FIRST_SEEN)
        except UnrenderableArticle as skip:
            assert skip.reason.startswith("nothing to show"), skip.reason
            continue
        check_post(post)


def test_empty_title_with_a_body_renders_without_a_title_line() -> None:
    """No title but body text: the post starts with the date, then the excerpt."""
    post = _render(title="")
    lines = strip_marks(check_post(post)).split("\n")
    assert lines[0] == "الخميس 18 سبتمبر 2025"
    assert "<b>" not in post.html


def test_nothing_to_show_is_a_logged_skip(caplog: pytest.LogCaptureFixture) -> None:
    """No title and no body: UnrenderableArticle, and the reason is logged with the article."""
    caplog.set_level(logging.INFO, logger="formatters.post")
    with pytest.raises(UnrenderableArticle, match="nothing to show"):
        _render(title="   ", content_html="<p>  </p><img src=x>")
    assert any("test-uid" in r.getMessage() and "nothing to show" in r.getMessage()
               for r in caplog.records)


def test_an_unexpected_failure_becomes_a_skip(monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    """A bug inside the formatter is logged with its traceback and surfaces as a skip."""
    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(post_module, "hashtags", broken)
    caplog.set_level(logging.ERROR, logger="formatters.post")
    with pytest.raises(UnrenderableArticle, match=r"internal formatter error \(KeyError\)"):
        _render()
    assert caplog.records and caplog.records[-1].exc_info is not None


def test_rendering_is_pure_and_repeatable() -> None:
    """The same input gives the same post (no hidden state between calls)."""
    first = _render(content_html=seed_html())
    second = _render(content_html=seed_html())
    assert first == second


def test_future_feed_date_is_not_shown_as_published() -> None:
    """A date after first sight is replaced by the first-seen line."""
    post = _render(published_at=datetime(2031, 1, 1, tzinfo=UTC))
    assert strip_marks(check_post(post)).split("\n")[1].startswith("رُصد في")
