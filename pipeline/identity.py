"""Identify and filter: an article's identity keys within its feed, its story across feeds (title
fingerprint and text sketch), the order items are queued in, and the feed's keyword filters.
Pure.

**One story across feeds** means the same canonical link (an identity key), or the same title
*and* the same text: a title fingerprint equal and a text sketch (a bottom-k MinHash of the
body's word shingles) close enough. Generic titles ("افتتاحية العدد", "Weekly briefing") are
therefore never enough on their own; a wire story that two sites carry word for word is.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

from config.schema import FeedConfig
from feeds.arabic import matches_filters, normalize_arabic, title_fingerprint
from feeds.html_text import html_to_text
from model.article import Article
from store.article_scripts import SKETCH_SIZE

SKETCH_MIN_WORDS = 12     # a text shorter than this tells no story apart from another
SKETCH_TEXT_CHARS = 4000  # the lead of the body is what copies of one story share
SHINGLE_WORDS = 3


def story_fingerprint(title: str) -> str:
    """The title fingerprint that, with the text sketch, marks a story across feeds ('' for a
    title with no words)."""
    return title_fingerprint(title)


def text_sketch(article: Article) -> str:
    """A bottom-k MinHash sketch of the article's body: its SKETCH_SIZE smallest 3-word
    shingle hashes, as fixed-width hex joined by spaces ('' when the body is too short to tell
    one story from another)."""
    text = html_to_text(article.content_html or "")[:SKETCH_TEXT_CHARS]
    words = normalize_arabic(text).split()
    if len(words) < SKETCH_MIN_WORDS:
        return ""
    shingles = {" ".join(words[i:i + SHINGLE_WORDS])
                for i in range(len(words) - SHINGLE_WORDS + 1)}
    hashes = sorted(hashlib.blake2b(s.encode("utf-8"), digest_size=6).hexdigest()
                    for s in shingles)
    return " ".join(hashes[:SKETCH_SIZE])


def sketch_similarity(a: str, b: str) -> float:
    """The Jaccard similarity two sketches estimate (0 when either is empty). The same rule
    runs in the queue script (store.redis_store); this one is for tests and tools."""
    x, y = set(a.split()), set(b.split())
    if not x or not y:
        return 0.0
    union = sorted(x | y)[:SKETCH_SIZE]
    return sum(1 for h in union if h in x and h in y) / len(union)


def scope_to_feed(article: Article, feed_id: str) -> Article:
    """The article with an identity scoped to its feed when the feed's own name for it is only
    meaningful there (a bare guid, a hash of title and date): two feeds' item "1001" are two
    articles. The unscoped key stays as a legacy key, so items seen before this rule are still
    known to their feed."""
    if not article.scoped:
        return article
    uid = hashlib.sha256(f"feed:{feed_id}\x1f{article.uid}".encode()).hexdigest()
    rest = tuple(k for k in article.identity_keys if k != article.uid)
    return replace(article, uid=uid, identity_keys=(uid, *rest),
                   legacy_keys=(article.uid, *article.legacy_keys), scoped=False)


def filter_verdict(feed: FeedConfig, article: Article) -> tuple[str, str]:
    """('', '') when the article passes the feed's keywords; else the skip reason
    (store.fates FILTER_INCLUDE / FILTER_EXCLUDE) and its detail (the keyword, or the list)."""
    if not feed.include and not feed.exclude:
        return "", ""
    text = " ".join([article.title, " ".join(article.categories), article.content_html])
    for keyword in feed.exclude:
        if matches_filters(text, (), (keyword,)) is False:
            return "filter_exclude", keyword
    if feed.include and not matches_filters(text, feed.include, ()):
        return "filter_include", ", ".join(feed.include)
    return "", ""


def wanted(feed: FeedConfig, article: Article) -> bool:
    """Whether the article passes the feed's include/exclude keywords."""
    return filter_verdict(feed, article) == ("", "")


def oldest_first(articles: tuple[Article, ...]) -> list[Article]:
    """The feed's items in the order they are queued: oldest first."""
    # Feeds list newest first; reversing keeps undated items in a sensible order, and the
    # stable sort then orders dated ones by date.
    ordered = list(reversed(articles))
    epoch = datetime.fromtimestamp(0, UTC)
    return sorted(ordered, key=lambda a: a.published_at or epoch) if all(
        a.published_at for a in ordered) else ordered


def identities(article: Article, link_counts: Counter[str]) -> tuple[str, ...]:
    """The article's identity keys, minus a link shared by several items of the same feed
    (some feeds give every item the home page as link; that link identifies nothing)."""
    keys_ = article.identity_keys or (article.uid,)
    if not article.url or link_counts[article.url] < 2:
        return keys_
    link_keys = {k for k in keys_ if k != article.uid}
    return tuple(k for k in keys_ if k not in link_keys) or (article.uid,)
