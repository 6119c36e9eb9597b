"""Telegram HTML helpers: escaping, links, length counting, and the plain-text way back."""
from __future__ import annotations

from formatters.post import render_post
from formatters.rtl import LRI, PDI
from formatters.telegram_html import (
    checked_url,
    escape_attr,
    escape_text,
    html_to_plain,
    link,
    telegram_length,
)
from sandbox.telegram_html import parse_html, validate_text
from tests.formatters.conftest import FIRST_SEEN, article, channel, seed_html


def test_escaping_text_and_attributes() -> None:
    """<, > and & are escaped in text; quotes too inside attributes."""
    assert escape_text('a < b > c & "d"') == 'a &lt; b &gt; c &amp; "d"'
    assert escape_attr('x"y&z') == "x&quot;y&amp;z"
    parsed = parse_html(link("https://a.org/?q=1&r=\"2\"", "نص & <رابط>"))
    assert parsed.text == "نص & <رابط>"
    assert parsed.entities[0].url == 'https://a.org/?q=1&r="2"'


def test_telegram_length_counts_utf16_units() -> None:
    """Emoji outside the BMP count 2, which bounds Telegram's own code-point count."""
    assert telegram_length("قال 😀 CNN") == 10
    assert telegram_length("") == 0
    assert telegram_length("مُحَمَّد") == len("مُحَمَّد")


def test_checked_url_accepts_only_links_telegram_keeps() -> None:
    """http(s) with a dotted host passes; other schemes, spaces, controls and bidi tricks do not."""
    assert checked_url(" https://example.org/a?b=1 ") == "https://example.org/a?b=1"
    assert checked_url("http://ar.example.org/مقال") == "http://ar.example.org/مقال"
    for bad in (None, "", "javascript:alert(1)", "data:text/html,x", "https://local host/",
                "https://localhost/", "https://example.org/\u202egpj", "https://ex.org:99999/",
                "mailto:a@b.org", "//example.org/x", "https://example.org/\x00",
                "https://" + "a" * 3000 + ".org"):
        assert checked_url(bad) is None, bad


def test_html_to_plain_is_what_telegram_shows() -> None:
    """Without URLs, html_to_plain gives exactly the text Telegram parses out of a post."""
    post = render_post(article(content_html=seed_html(), title="R&D <script> في \"سوريا\""),
                       channel(), timezone="UTC", first_seen=FIRST_SEEN)
    assert html_to_plain(post.html, keep_urls=False) == validate_text(post.html).text


def test_html_to_plain_keeps_the_article_link_for_the_fallback() -> None:
    """With URLs (the default) the link's address follows its label, isolated as LTR."""
    post = render_post(article(), channel(), timezone="UTC", first_seen=FIRST_SEEN)
    plain = html_to_plain(post.html)
    assert f"اقرأ المقال كاملاً {LRI}https://example.org/analysis/1?utm=rss&id=7{PDI}" in plain
    assert "<" not in plain and "&amp;" not in plain
    # The plain text is itself a valid message (sent without parse_mode).
    assert telegram_length(plain) <= 4096


def test_html_to_plain_drops_urls_rather_than_exceed_the_limit() -> None:
    """If the URLs would push the text past the limit, they are left out."""
    html = "ا" * 4090 + '<a href="https://example.org/very/long/path">رابط</a>'
    assert html_to_plain(html) == "ا" * 4090 + "رابط"
    assert html_to_plain(html, limit=10_000).endswith(f"رابط {LRI}https://example.org/very/long/path{PDI}")


def test_preview_page_has_one_auto_direction_paragraph_per_line() -> None:
    """render_preview_html shows each post line as <p dir=auto>, with labels escaped."""
    from formatters.post import render_preview_html

    post = render_post(article(), channel(photo=True), timezone="UTC", first_seen=FIRST_SEEN)
    page = render_preview_html([("<chan & co>", post)])
    assert page.startswith("<!doctype html>")
    assert "&lt;chan &amp; co&gt;" in page
    lines = [line for line in post.html.split("\n") if line.strip()]
    assert page.count('<p dir="auto" class="line">') == len(lines)
    assert '<img src="https://example.org/img/1.jpg"' in page
