"""What is this document? Bodies that are plainly not feeds (empty, plain text, binaries, web
pages, anti-bot check pages) are refused with a reason an editor understands; a web page that
advertises its feed names it. Linear in the body: every scan is bounded or stops at the next "<".
"""
from __future__ import annotations

import re
from html import unescape

from feeds.entries import web_url
from feeds.html_text import html_to_text
from feeds.xml_safety import scan_prolog
from model.errors import FeedParseError, FetchErrorKind

__all__ = ["refuse_non_feed"]

_ELEMENT_NAME = re.compile(r"<([A-Za-z_][\w:.-]*)")
_FEED_ROOTS = frozenset({"rss", "feed", "rdf", "channel"})
# Error pages and fragments often start without <html>.
_HTML_ROOTS = frozenset({"html", "head", "body", "meta", "title", "link", "script", "style",
                         "div", "p", "span", "table", "center", "h1", "h2", "iframe", "noscript"})
_HTML_DOCTYPE = re.compile(r"<!DOCTYPE\s+html", re.I)
# Anti-bot pages. Strong markers only appear on challenge pages; weak ones (captcha widgets,
# Cloudflare's bot-management script) also sit on ordinary article pages, so they count only on
# short pages, and the page title is checked on its own.
_CHALLENGE_STRONG = ("cf-browser-verification", "cf_chl_opt", "cf-challenge-running",
                     "incapsula incident id", "sucuri website firewall", "px-captcha")
_CHALLENGE_WEAK = ("captcha", "challenge-platform", "checking your browser", "verify you are human",
                   "are you a robot", "enable javascript and cookies", "_incapsula_resource",
                   "ddos-guard", "cf-turnstile", "perimeterx")
_CHALLENGE_TITLES = ("just a moment", "attention required", "captcha", "security check",
                     "checking your browser", "are you a robot", "are you human", "access denied",
                     "ddos", "bot verification", "human verification", "please wait")
_TITLE_START = re.compile(r"<title[^<>]*>")
_SHORT_PAGE_TEXT = 1_000   # challenge pages say a sentence or two
_SHORT_PAGE_BYTES = 100_000
_SCAN = 200_000

_ALTERNATE_LINK = re.compile(r"<link\b[^<>]*>", re.I)
# The lookbehind makes a name start only where a name can start, so a long run of name
# characters is tried once, not from each of its positions.
_ATTR = re.compile(
    r"""(?<![\w:-])([\w:-]++)\s*+=\s*+(?:"([^"]*+)"|'([^']*+)'|([^\s>]++))""")


def _page_title(lowered: str) -> str:
    start = _TITLE_START.search(lowered)
    if start is None:
        return ""
    end = lowered.find("</title>", start.end())
    return lowered[start.end():end] if end >= 0 else ""


def _is_challenge(page: str) -> bool:
    lowered = page[:_SCAN].lower()
    if any(m in lowered for m in _CHALLENGE_STRONG):
        return True
    title = _page_title(lowered)
    if title and any(m in unescape(title) for m in _CHALLENGE_TITLES):
        return True
    return (len(page) < _SHORT_PAGE_BYTES and any(m in lowered for m in _CHALLENGE_WEAK)
            and len(html_to_text(page)) < _SHORT_PAGE_TEXT)


def _attrs(tag: str) -> dict[str, str]:
    return {m.group(1).lower(): unescape(m.group(2) or m.group(3) or m.group(4) or "")
            for m in _ATTR.finditer(tag)}


def _advertised_feeds(page: str, base: str) -> tuple[str, ...]:
    links: list[str] = []
    for tag in _ALTERNATE_LINK.findall(page[:300_000]):
        a = _attrs(tag)
        if "alternate" in a.get("rel", "").lower().split() and any(
            t in a.get("type", "").lower() for t in ("rss", "atom", "feed+json")
        ) and a.get("href"):
            url = web_url(a["href"], base)
            if url and url not in links:
                links.append(url)
    return tuple(links)


def root_name(text: str) -> str:
    """The local name of the document's first element, lower-cased ('' if none)."""
    prolog = scan_prolog(text)
    if prolog.root < 0:
        return ""
    m = _ELEMENT_NAME.match(text, prolog.root)
    return m.group(1).rsplit(":", 1)[-1].lower() if m else ""


def refuse_non_feed(text: str, feed_url: str) -> None:
    """Raise FeedParseError for bodies that are plainly not feeds, with a reason an editor gets."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if not stripped:
        raise FeedParseError("the address returned an empty response, not a feed",
                             kind=FetchErrorKind.EMPTY)
    if stripped[0] in "{[":
        return  # JSON: handled by the JSON Feed reader
    if not stripped.startswith("<"):
        raise FeedParseError(
            "the address returned something that is not a feed (it is not XML: it looks like "
            "plain text or a binary file)")
    root = root_name(stripped)
    if root in _FEED_ROOTS:
        return  # an XHTML DOCTYPE on top of <rss> is a CMS template quirk, not a web page
    is_html = root in _HTML_ROOTS or bool(_HTML_DOCTYPE.search(stripped[:2048]))
    if not is_html:
        return
    if _is_challenge(stripped):
        raise FeedParseError(
            "the site answered with an anti-bot check page (\"are you human?\", captcha or "
            "Cloudflare) instead of the feed; the site blocks automated readers",
            kind=FetchErrorKind.CHALLENGE)
    links = _advertised_feeds(stripped, feed_url)
    hint = f"; the page points to a feed at {links[0]}" if links else ""
    raise FeedParseError(f"the address returned a web page, not a feed{hint}", feed_links=links)
