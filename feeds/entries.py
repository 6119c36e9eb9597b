"""Feed entries -> Articles: the fields read from feedparser's entries (and JSON Feed items),
then identity and content hash.

Fields typed as text stay text: a title "Why <script> tags block rendering" with type="text"
(or an RSS title feedparser judged not to be HTML) is that sentence, not HTML with a script
in it; text-typed content becomes escaped HTML paragraphs for the formatters.
"""
from __future__ import annotations

import calendar
import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape, unescape
from typing import Any

from feeds.html_text import html_to_text
from guards.urls import canonical_url
from model.article import Article

__all__ = ["RawEntry", "build_articles", "link_key", "plain_text", "plain_to_html",
           "untyped_text", "raw_from_feedparser",
           "typed_text", "web_url"]

# "[^<>]" rather than "[^>]": an "<img" that never closes costs the scan to the next "<", not
# to the end of the content, so many of them stay linear.
_IMG_SRC = re.compile(r"""<img\b[^<>]*?\bsrc\s*=\s*(?:"([^"]+)"|'([^']+)'|([^\s<>]+))""", re.I)
_IMAGE_EXT = re.compile(r"\.(?:jpe?g|png|gif|webp|avif|bmp)(?:$|[?#])", re.I)
_SPACES = re.compile(r"\s+")
_LOOKS_LIKE_HTML = re.compile(r"</\w+>|&#?\w+;")
_NUMERIC_REF = re.compile(r"&#(?:[0-9]{1,7}|[xX][0-9a-fA-F]{1,6});?")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n\s*")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def link_key(url: str) -> str:
    """The identity key an article gets from its canonical link."""
    return _sha("link:" + url)


def web_url(raw: str | None, base: str) -> str:
    """The canonical http(s) address `raw` names, resolved against `base`; '' for none."""
    if not raw:
        return ""
    url = canonical_url(raw, base)
    return url if url.startswith(("http://", "https://")) else ""


def _is_plain(detail: Any) -> bool:
    kind = str((detail or {}).get("type") or "")
    return bool(kind) and "html" not in kind   # text/plain (Atom type="text"), text/markdown…


def plain_text(value: str) -> str:
    """Text that is already plain, white space collapsed."""
    return _SPACES.sub(" ", value).strip()


def _guessed_text(value: str) -> str:
    """Text whose type was guessed, not declared (RSS and JSON Feed titles judged not HTML):
    numeric character references are still decoded. Only escaping produces them, and
    feedparser's guess misses those without a semicolon ("70&#39s" is "70's")."""
    return plain_text(_NUMERIC_REF.sub(lambda m: unescape(m.group(0)), value))


def untyped_text(value: str) -> str:
    """The text of a field that says nothing of its type (JSON Feed titles, meant to be plain
    but often HTML-escaped by their generators): HTML when it has an end tag or an entity
    reference, as feedparser judges RSS titles, else plain ("Die Rückkehr von <i> und <b>")."""
    return html_to_text(value) if _LOOKS_LIKE_HTML.search(value) else _guessed_text(value)


def typed_text(value: Any, detail: Any, *, declared: bool = True) -> str:
    """A text construct's plain text: as is for text types, the text of the markup for HTML
    (the default when feedparser gives no type). `declared`: the document says the type
    (Atom); in RSS feedparser guesses it."""
    value = str(value or "")
    if not _is_plain(detail):
        return html_to_text(value)
    return plain_text(value) if declared else _guessed_text(value)


def plain_to_html(text: str) -> str:
    """Plain text as escaped HTML: blank lines part paragraphs, single line breaks stay."""
    paragraphs = [p for p in _PARAGRAPH_BREAK.split(text.strip()) if p.strip()]
    return "".join("<p>" + escape(p.strip(), quote=False).replace("\n", "<br>") + "</p>"
                   for p in paragraphs)


def _to_utc(parsed: Any) -> datetime | None:
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (OverflowError, ValueError, TypeError, OSError):
        return None


def _content_html(entry: Any) -> str:
    contents = [c for c in entry.get("content") or [] if c.get("value")]
    if contents:
        # Feeds with several content blocks (text + html) carry the richest one as the longest.
        best = max(contents, key=lambda c: len(c.get("value", "")))
        value = str(best.get("value", ""))
        return plain_to_html(value) if _is_plain(best) else value
    summary = str(entry.get("summary", "") or "")
    return plain_to_html(summary) if _is_plain(entry.get("summary_detail")) else summary


def image_in(content_html: str, base: str) -> str | None:
    """The first <img> of some HTML, as a web address."""
    if m := _IMG_SRC.search(content_html):
        return web_url(unescape(m.group(1) or m.group(2) or m.group(3)), base) or None
    return None


def _image(entry: Any, content_html: str, base: str) -> str | None:
    for media in entry.get("media_content") or []:
        medium = (media.get("medium") or "").lower()
        mtype = (media.get("type") or "").lower()
        url = media.get("url") or ""
        is_image = medium == "image" or mtype.startswith("image/") or (
            not medium and not mtype and bool(_IMAGE_EXT.search(url)))
        if is_image and (found := web_url(url, base)):
            return found
    for thumb in entry.get("media_thumbnail") or []:
        if found := web_url(thumb.get("url"), base):
            return found
    for link in entry.get("links") or []:
        if (link.get("rel") == "enclosure"
                and (link.get("type") or "").lower().startswith("image/")
                and (found := web_url(link.get("href"), base))):
            return found
    return image_in(content_html, base)


def _categories(entry: Any) -> tuple[str, ...]:
    seen: dict[str, None] = {}   # ordered, and a lookup per term (a list was quadratic)
    for tag in entry.get("tags") or []:
        term = _SPACES.sub(" ", (tag.get("term") or "")).strip()
        if term:
            seen.setdefault(term)
    return tuple(seen)


@dataclass(frozen=True, slots=True)
class RawEntry:
    """The fields we read from a feedparser entry or a JSON Feed item, before identity."""

    guid: str
    link: str
    title: str
    published_at: datetime | None
    author: str
    categories: tuple[str, ...]
    content_html: str
    image_url: str | None


def raw_from_feedparser(entry: Any, base: str, *, atom: bool) -> RawEntry:
    """The fields of one feedparser entry, links resolved against `base`; `atom`: its text
    types are declared."""
    content = _content_html(entry)
    author = entry.get("author") or (entry.get("author_detail") or {}).get("name") or ""
    link = entry.get("link") or ""
    if not link and entry.get("guidislink") and entry.get("id"):
        link = entry["id"]   # RSS <guid isPermaLink="true"> is the link when <link> is missing
    return RawEntry(
        guid=(entry.get("id") or "").strip(),
        link=web_url(link, base),
        title=typed_text(entry.get("title"), entry.get("title_detail"), declared=atom),
        published_at=_to_utc(entry.get("published_parsed") or entry.get("updated_parsed")),
        author=html_to_text(author),
        categories=_categories(entry),
        content_html=content,
        image_url=_image(entry, content, base),
    )


def build_articles(raws: list[RawEntry], *, feed_url: str, source: str) -> tuple[Article, ...]:
    """Articles with their identities: the guid's hash, else the link's (when no other entry
    shares it), else the hash of title and date."""
    # A link shared by several entries (feeds that point every item at their home page) does not
    # identify an article; using it as a key would merge distinct items into one.
    link_counts = Counter(r.link for r in raws if r.link)
    articles = []
    for raw in raws:
        text = html_to_text(raw.content_html)
        # A guid that is not an absolute web address (`<guid isPermaLink="false">1001</guid>`)
        # and the title-and-date hash name an item only within its feed: the pipeline scopes
        # such identities to the feed (`scoped`), so two feeds' item 1001 stay two articles.
        scoped = False
        if raw.guid:
            uid = _sha("guid:" + raw.guid)
            scoped = not raw.guid.lower().startswith(("http://", "https://"))
        elif raw.link and link_counts[raw.link] == 1:
            uid = link_key(raw.link)
        else:
            scoped = True
            date = raw.published_at.isoformat() if raw.published_at else ""
            basis = f"{raw.title}\x1f{date}"
            if not raw.title and not date:
                basis += "\x1f" + text  # nothing else tells these items apart
            uid = _sha("hash:" + basis)
        keys = [uid]
        if raw.link and link_counts[raw.link] == 1 and link_key(raw.link) != uid:
            keys.append(link_key(raw.link))
        articles.append(Article(
            uid=uid,
            feed_url=feed_url,
            url=raw.link,
            title=raw.title,
            published_at=raw.published_at,
            author=raw.author,
            categories=raw.categories,
            content_html=raw.content_html,
            image_url=raw.image_url,
            source_name=source,
            identity_keys=tuple(keys),
            scoped=scoped,
            content_hash=_sha(raw.title + "\n" + text),
        ))
    return tuple(articles)
