"""Helpers for the formatter tests: real sample text, article/channel builders, and the checks
every rendered post must pass (strict Telegram HTML, length, balanced bidi controls)."""
from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from config.schema import ChannelConfig
from formatters.rtl import LRM, RLM, isolates_balanced
from formatters.telegram_html import CAPTION_LIMIT, TEXT_LIMIT, html_to_plain
from formatters.telegram_html import telegram_length as utf16_length
from model.article import Article
from model.post import PostOptions, RenderedPost, is_rtl, post_options
from sandbox.telegram_html import telegram_length as tg_code_points
from sandbox.telegram_html import validate_text
from tests.support import SHARED, shared_missing

SEED = SHARED / "seed" / "article-ar.txt"
CORPUS = SHARED / "corpus"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

FIRST_SEEN = datetime(2025, 9, 18, 12, 0, tzinfo=UTC)
SEED_TITLE = "الدوافع الاستراتيجية للتقارب السوري الروسي"
# Characters Telegram deletes, and controls a feed could use to spoof a post.
FORBIDDEN = set(map(chr, range(0x202A, 0x202F))) | {"\u2028", "\u2029", "\r", "\ufeff", "\u200b"}


def seed_text() -> str:
    """The seed article as text (a real page of an Arabic analysis site, furniture included)."""
    if not SEED.is_file():
        pytest.skip(shared_missing(SEED, "the seed article"))
    return SEED.read_text(encoding="utf-8")


def seed_html() -> str:
    """The seed article as a feed would carry it: menu items as <li>, the rest as <p>."""
    parts = []
    for line in seed_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("•"):
            parts.append(f"<li>{html.escape(stripped.lstrip('• '))}</li>")
        else:
            parts.append(f"<p>{html.escape(stripped)}</p>")
    return "<ul>" + "".join(parts[:3]) + "</ul>\n" + "\n".join(parts[3:])


def article(**changes: Any) -> Article:
    """An Arabic article with every field filled; override what a test is about."""
    values: dict[str, Any] = {
        "uid": "test-uid",
        "feed_url": "https://example.org/feed",
        "url": "https://example.org/analysis/1?utm=rss&id=7",
        "title": SEED_TITLE,
        "published_at": datetime(2025, 9, 18, 9, 30, tzinfo=UTC),
        "author": "هيئة التحرير",
        "categories": ("الشأن السوري", "روسيا"),
        "content_html": "<p>كانت روسيا حليفًا قويًا لنظام الأسد، واليوم تشرع الإدارة السورية "
                        "الجديدة في التقارب مع الجانب الروسي الذي حاربته من قبل.</p>",
        "image_url": "https://example.org/img/1.jpg",
        "source_name": "مركز الدراسات",
    }
    values.update(changes)
    return Article(**values)


def channel(**changes: Any) -> PostOptions:
    """An Arabic channel's post options with defaults (validated as config); override what a
    test is about."""
    values: dict[str, Any] = {"chat": "@nashir_test"}
    values.update(changes)
    return post_options(ChannelConfig(**values))


def strip_marks(text: str) -> str:
    """Text without our invisible bidi controls (what a reader sees, in logical order)."""
    return "".join(ch for ch in text if ch not in "\u200e\u200f\u061c\u2066\u2067\u2068\u2069")


def check_post(post: RenderedPost) -> str:
    """Assert everything Telegram and readers need from a post; return its parsed text."""
    caption = post.photo_url is not None
    # validate_text raises on anything Telegram refuses.
    parsed = validate_text(post.html, "HTML", caption=caption)
    limit = CAPTION_LIMIT if caption else TEXT_LIMIT
    assert tg_code_points(parsed.text) <= limit
    assert utf16_length(parsed.text) <= limit
    assert len(post.html.encode("utf-8")) <= 32768
    # What we measured is exactly what Telegram keeps: its cleaning has nothing left to do.
    assert parsed.text == html_to_plain(post.html, keep_urls=False)
    assert not FORBIDDEN & set(post.html), "a character Telegram deletes or a spoofing control"
    assert "\u200e\u200e" not in post.html and "\u200f\u200f" not in post.html
    assert "\u200e\u200f" not in post.html and "\u200f\u200e" not in post.html
    assert isolates_balanced(parsed.text)
    mark = RLM if is_rtl(post.language) else LRM
    for line in parsed.text.split("\n"):
        if line.strip():
            assert line.startswith(mark), f"line without its direction mark: {line!r}"
            assert line.count(RLM) + line.count(LRM) == 1, f"stray mark in {line!r}"
    return parsed.text
