"""An article web page -> Article, with trafilatura (title, date, main text, author, image).

Extraction can take a second or more on a large page: callers run it in a thread."""
from __future__ import annotations

import hashlib
import html
from datetime import UTC, datetime

from feeds.parser import link_key
from guards.urls import canonical_url
from model.article import Article


class NotAnArticle(ValueError):
    """The page holds no article text that could be extracted."""


def extract_article(page: bytes | str, url: str) -> Article:
    import trafilatura

    document = trafilatura.bare_extraction(
        page, url=url, with_metadata=True, include_comments=False, include_images=False,
        favor_precision=True,
    )
    if document is None:
        raise NotAnArticle("no article text found on the page")
    data = document.as_dict() if hasattr(document, "as_dict") else dict(document)
    text = (data.get("text") or "").strip()
    title = (data.get("title") or "").strip()
    if not text and not title:
        raise NotAnArticle("no article text found on the page")
    link = canonical_url(data.get("url") or url)
    published = _parse_date(data.get("date"))
    paragraphs = "".join(f"<p>{html.escape(p.strip())}</p>" for p in text.split("\n") if p.strip())
    uid = link_key(link)  # the same identity a feed item with this link gets
    return Article(
        uid=uid, feed_url="", url=link, title=title, published_at=published,
        author=(data.get("author") or "").strip(),
        categories=tuple(c for c in (data.get("categories") or []) if c),
        content_html=paragraphs, image_url=data.get("image") or None,
        source_name=(data.get("sitename") or "").strip(), identity_keys=(uid,),
        content_hash=hashlib.sha256((title + "\n" + text).encode()).hexdigest(),
    )


def _parse_date(value: object) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
