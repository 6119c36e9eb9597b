"""The body of a rich message: the article's own page, read as `/push` reads it
(`feeds.article_page.extract_article`), with the feed's content as the fallback.

A feed item often carries a summary only; a rich message is meant to hold the whole piece, so
for channels with `format: rich` the pipeline fetches the article's page (with the same address
safety as `/push`: private networks only when `allow_networks` says so) and uses its text.
The feed's content stays when the page cannot be fetched, holds no article, or has less text
than the feed (a paywall or a teaser page). Each fallback is counted (`stats`), logged once
with the link, and returned as a note the delivery carries, so `why` can tell it.
"""
from __future__ import annotations

import asyncio
import html
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from feeds.article_page import NotAnArticle, extract_article
from feeds.fetcher import Fetcher
from guards.network import check_url_allowed
from guards.urls import display_url
from model.article import Article
from model.errors import FetchError

logger = logging.getLogger(__name__)

_TAG = re.compile(r"<[^>]*>")
# A page that takes longer than this is not worth holding the poll for: the feed's content goes.
PAGE_TIMEOUT_S = 20.0


def _text_length(content_html: str) -> int:
    return len(" ".join(html.unescape(_TAG.sub(" ", content_html)).split()))


class RichPages:
    """Reads article pages for rich messages; `stats` counts the fallbacks by cause."""

    def __init__(self, fetcher: Fetcher, *, allow_networks: Sequence[str] = (),
                 timeout_s: float = PAGE_TIMEOUT_S) -> None:
        self.fetcher = fetcher
        self.allow_networks = tuple(allow_networks)
        self.timeout_s = timeout_s
        self.stats: Counter[str] = Counter()   # page | fetch_failed | not_an_article | shorter

    async def source(self, article: Article) -> tuple[Article, str]:
        """`article` with its page's body (and lead image, if the feed had none), and a note:
        "" when the page's body is used, else why the feed's content is."""
        if not article.url:
            return article, self._fallback(article, "no_link", "the item has no link")
        try:
            page = await asyncio.wait_for(self._read(article.url), self.timeout_s)
        except FetchError as exc:
            return article, self._fallback(article, "fetch_failed",
                                           f"the page could not be fetched ({exc.message})")
        except TimeoutError:
            return article, self._fallback(article, "fetch_failed",
                                           f"the page took longer than {self.timeout_s:.0f} s")
        except NotAnArticle:
            return article, self._fallback(article, "not_an_article",
                                           "no article text was found on the page")
        if _text_length(page.content_html) < _text_length(article.content_html):
            return article, self._fallback(article, "shorter",
                                           "the page has less text than the feed")
        self.stats["page"] += 1
        return replace(article, content_html=page.content_html,
                       image_url=article.image_url or page.image_url), ""

    async def _read(self, url: str) -> Article:
        await check_url_allowed(url, self.allow_networks)
        result = await self.fetcher.fetch(url, trusted=False, allow_networks=self.allow_networks)
        if result.body is None or not result.body.strip():
            raise NotAnArticle("the page is empty")
        # trafilatura takes a second or more on a large page: off the event loop.
        return await asyncio.to_thread(extract_article, result.body, result.url or url)

    def _fallback(self, article: Article, cause: str, detail: str) -> str:
        self.stats[cause] += 1
        note = f"body from the feed: {detail}"
        logger.info("rich message of %s: %s", display_url(article.url or article.uid), note,
                    extra={"feed": article.feed_url, "article": article.uid})
        return note
