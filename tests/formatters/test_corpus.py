"""Every item of every real feed in ../shared/corpus renders to a valid post or a logged skip."""
from __future__ import annotations

import logging
import warnings
from calendar import timegm
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from config.schema import ChannelConfig
from formatters.errors import UnrenderableArticle
from formatters.post import render_post
from model.article import Article
from model.post import post_options
from tests.formatters.conftest import CORPUS, FIRST_SEEN, check_post, strip_marks
from tests.support import shared_missing

feedparser = pytest.importorskip("feedparser", reason="feedparser is a dependency of the "
                                 "bot: run scripts/setup")

FEED_KINDS = {"atom", "rss1", "rss2", "json"}
CHANNELS = tuple(post_options(c) for c in (
    ChannelConfig(chat="@nashir_ar", calendars=("gregorian", "hijri")),
    ChannelConfig(chat="@nashir_en", language="en", photo=True, digits="arabic", excerpt_chars=900,
                  month_names="levantine",
                  template="{title} — {source}\n{date}\n{excerpt}\n{link} {hashtags}"),
))


def _corpus_index() -> list[list[str]]:
    index = CORPUS / "INDEX.tsv"
    if not index.is_file():
        pytest.skip(shared_missing(index, "the corpus of real feeds"))
    rows = [line.rstrip("\n").split("\t")
            for line in index.read_text(encoding="utf-8").splitlines()]
    return [row for row in rows[1:] if len(row) >= 4]


def _moment(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed"):
        value = entry.get(key)
        if value:
            try:
                return datetime.fromtimestamp(timegm(value), tz=UTC)
            except (OverflowError, ValueError, OSError):
                return None
    return None


def _image(entry: Any) -> str | None:
    for media in entry.get("media_content") or []:
        if media.get("url"):
            return str(media["url"])
    for link in entry.get("links") or []:
        if link.get("rel") == "enclosure" and str(link.get("type", "")).startswith("image/"):
            return str(link.get("href"))
    return None


def articles_from_feed(path: Path) -> list[Article]:
    """A small stand-in for feeds.parser: feedparser entries -> Articles, nothing normalised."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = feedparser.parse(path.read_bytes())
    source = str(parsed.feed.get("title", "") or "")
    result = []
    for number, entry in enumerate(parsed.entries):
        contents = [c for c in entry.get("content") or [] if c.get("value")]
        content = (max(contents, key=lambda c: len(c["value"]))["value"] if contents
                   else entry.get("summary", "") or "")
        result.append(Article(
            uid=f"{path.name}#{number}", feed_url=str(path), url=str(entry.get("link", "") or ""),
            title=str(entry.get("title", "") or ""), published_at=_moment(entry),
            author=str(entry.get("author", "") or ""),
            categories=tuple(str(t.get("term") or "") for t in entry.get("tags") or []),
            content_html=str(content), image_url=_image(entry), source_name=source,
        ))
    return result


def _render_all(articles: list[Article], outcomes: Counter[str], skips: list[str]) -> None:
    for art in articles:
        for chan in CHANNELS:
            try:
                post = render_post(art, chan, timezone="Asia/Damascus", first_seen=FIRST_SEEN)
            except UnrenderableArticle as skip:
                assert not skip.reason.startswith("internal"), (art.uid, skip.reason)
                outcomes["skip"] += 1
                skips.append(art.uid)
                continue
            check_post(post)
            outcomes["photo" if post.photo_url else "text"] += 1


@pytest.mark.corpus
def test_every_corpus_feed_item_renders_or_is_a_logged_skip(
        caplog: pytest.LogCaptureFixture) -> None:
    """Thousands of real items (Arabic, Hebrew, Persian, CJK, broken feeds) all render or skip."""
    rows = _corpus_index()
    caplog.set_level(logging.INFO, logger="formatters.post")
    outcomes: Counter[str] = Counter()
    skips: list[str] = []
    feeds = [CORPUS / row[0] for row in rows if row[1] in FEED_KINDS]
    for path in feeds:
        _render_all(articles_from_feed(path), outcomes, skips)
    assert len(feeds) > 2000
    assert outcomes["text"] + outcomes["photo"] > 5000  # items x channels that became posts
    assert outcomes["photo"] > 50
    # Every skip left its reason in the log, with the article's id.
    logged = {r.getMessage().split(" ")[2] for r in caplog.records
              if "skipping article" in r.getMessage()}
    assert set(skips) <= logged


@pytest.mark.corpus
def test_corpus_pages_as_article_content() -> None:
    """Whole HTML pages (menus, scripts, footers) used as content still give valid posts."""
    outcomes: Counter[str] = Counter()
    for row in _corpus_index():
        if row[1] != "html":
            continue
        raw = (CORPUS / row[0]).read_bytes()
        encoding = row[3] if row[3] not in ("-", "") else "utf-8"
        try:
            page = raw.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            page = raw.decode("utf-8", "replace")
        art = Article(uid=row[0], feed_url="", url="https://example.org/page", title="",
                      published_at=None, content_html=page)
        _render_all([art], outcomes, [])
    assert outcomes["text"] + outcomes["photo"] > 80


@pytest.mark.corpus
def test_arabic_news_page_excerpt_starts_with_the_article() -> None:
    """On CNN Arabic's page the excerpt starts with the article's first sentence."""
    rows = _corpus_index()
    assert any(row[0].endswith("arabic_article.html") for row in rows)
    page = (CORPUS / "pages/newspaper4k/html/arabic_article.html").read_text(encoding="utf-8")
    expected = (CORPUS / "pages/newspaper4k/txt/arabic_article.txt").read_text(encoding="utf-8")
    art = Article(uid="cnn", feed_url="", url="https://arabic.cnn.com/x", title="",
                  published_at=None, content_html=page)
    text = check_post(render_post(art, CHANNELS[0], timezone="UTC", first_seen=FIRST_SEEN))
    excerpt = strip_marks(text.split("\n\n")[1])
    assert excerpt.startswith("دمشق، سوريا (CNN) -- أكدت جهات سورية معارضة")
    assert expected.split()[0] in excerpt
