"""Identify and filter: an article's identity keys within its feed, its story fingerprint across
feeds, the order items are queued in, and the feed's keyword filters. Pure."""
from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from config.schema import FeedConfig
from feeds.arabic import matches_filters, normalize_arabic, title_fingerprint
from model.article import Article

# Titles with fewer normalised words than this get no fingerprint: short generic titles
# ("افتتاحية", "كلمة العدد") would make different articles look like one story.
FINGERPRINT_MIN_WORDS = 4


def story_fingerprint(title: str) -> str:
    """The title fingerprint that marks a story across feeds ('' for titles too short to tell
    stories apart); pass it to Store.queue_article(fingerprint=...)."""
    if len(normalize_arabic(title).split()) < FINGERPRINT_MIN_WORDS:
        return ""
    return title_fingerprint(title)


def wanted(feed: FeedConfig, article: Article) -> bool:
    """Whether the article passes the feed's include/exclude keywords."""
    if not feed.include and not feed.exclude:
        return True
    text = " ".join([article.title, " ".join(article.categories), article.content_html])
    return matches_filters(text, feed.include, feed.exclude)


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
