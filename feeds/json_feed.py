"""JSON Feed (https://jsonfeed.org) -> raw entries; feedparser 6.0 does not read it.

Titles and names are meant to be plain text, but generators often HTML-escape them: they are
read as HTML only when they look like it (an end tag or an entity reference), so "<blink>" in a
plain title stays and "&amp;" in an escaped one becomes "&".
Tolerant by field: a field of the wrong type ("tags": 5, "title": 7, a date past year 9999 with
its offset) is left out, an item that is not an object is skipped, and "items" that is not a
list gives a feed without items. Each of these is a note in `skipped`, so one bad field does not
fail the whole feed every poll, and nothing is dropped silently.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from feeds.entries import RawEntry, image_in, plain_to_html, untyped_text, web_url
from model.errors import FeedParseError, FetchErrorKind

__all__ = ["JsonFeed", "read_json_feed"]

MAX_NOTES = 20


@dataclass(slots=True)
class JsonFeed:
    """What the reader made of a JSON Feed document."""

    title: str
    link: str
    raws: list[RawEntry]
    skipped: list[str] = field(default_factory=list)


class _Notes:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.more = 0

    def add(self, note: str) -> None:
        if len(self.items) < MAX_NOTES:
            self.items.append(note)
        else:
            self.more += 1

    def done(self) -> list[str]:
        return self.items + ([f"and {self.more} more like these"] if self.more else [])


def _name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


class _Fields:
    """Typed reads of one JSON object; a wrong type is noted and read as missing."""

    def __init__(self, obj: dict[str, Any], where: str, notes: _Notes) -> None:
        self.obj, self.where, self.notes = obj, where, notes

    def _bad(self, key: str, value: Any, wanted: str) -> None:
        self.notes.add(f"{self.where}: \"{key}\" is {_name(value)}, not {wanted}; ignored")

    def text(self, key: str) -> str:
        value = self.obj.get(key)
        if value is None or isinstance(value, str):
            return value or ""
        self._bad(key, value, "a string")
        return ""

    def identifier(self, key: str) -> str:
        value = self.obj.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)   # numeric ids are common and unambiguous
        return self.text(key).strip()

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.obj.get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            self._bad(key, value, "a list")
            return ()
        kept = [v.strip() for v in value if isinstance(v, str) and v.strip()]
        if len(kept) < len(value) and any(not isinstance(v, str) for v in value):
            self.notes.add(f"{self.where}: \"{key}\" has entries that are not strings; "
                           "they were ignored")
        return tuple(dict.fromkeys(kept))

    def date(self, key: str) -> datetime | None:
        value = self.text(key)
        if not value:
            return None
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC)
        except (ValueError, OverflowError):
            self.notes.add(f"{self.where}: \"{key}\" {value[:40]!r} is not a date we can "
                           "read; ignored")
            return None

    def author(self) -> str:
        authors = self.obj.get("authors")
        if authors is None and self.obj.get("author") is not None:
            authors = [self.obj["author"]]
        if authors is None:
            return ""
        if not isinstance(authors, list):
            self._bad("authors", authors, "a list")
            return ""
        for entry in authors:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str) and entry["name"]:
                return untyped_text(entry["name"])
        return ""


# JSON escapes a lone surrogate as \ud800; json.loads returns it as is, and it can be neither
# hashed nor sent. It becomes U+FFFD, as a decoder makes of broken bytes.
_JSON_SURROGATE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _valid_unicode(value: Any) -> Any:
    """`value` (decoded JSON) with every lone surrogate in its strings replaced by U+FFFD."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [_valid_unicode(v) for v in value]
    if isinstance(value, dict):
        return {_valid_unicode(k): _valid_unicode(v) for k, v in value.items()}
    return value


def _loads(text: str) -> Any:
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:   # RecursionError: "[[[[…" nested too deep
        raise FeedParseError("the address returned broken JSON, not a feed") from exc
    try:
        return _valid_unicode(doc) if _JSON_SURROGATE.search(text) else doc
    except RecursionError:
        raise FeedParseError("the address returned JSON nested too deeply to be a feed") from None


def read_json_feed(text: str, feed_url: str, *, max_items: int) -> JsonFeed:
    """The feed's title, link and items; raises FeedParseError for JSON that is not a feed."""
    doc = _loads(text)
    # Some generators write version "1.0" instead of the jsonfeed.org URL: an object with a
    # title and a list of items is accepted too.
    if not isinstance(doc, dict) or not (
        "jsonfeed" in str(doc.get("version", ""))
        or ("title" in doc and isinstance(doc.get("items"), list))
    ):
        raise FeedParseError("the address returned JSON data, not a feed")
    notes = _Notes()
    top = _Fields(doc, "feed", notes)
    base = web_url(top.text("feed_url"), feed_url) or feed_url
    title = untyped_text(top.text("title"))
    link = web_url(top.text("home_page_url"), base)
    items = doc.get("items")
    if not isinstance(items, list):
        notes.add(f"feed: \"items\" is {_name(items)}, not a list; the feed has no items")
        items = []
    if len(items) > max_items:
        raise FeedParseError(f"the feed has more than {max_items:,} items; it was not read",
                             kind=FetchErrorKind.TOO_LARGE)
    raws = []
    for index, item in enumerate(items, 1):
        if not isinstance(item, dict):
            notes.add(f"item {index} is {_name(item)}, not an object; skipped")
            continue
        probe = item.get("url") if isinstance(item.get("url"), str) else item.get("id")
        where = f"item {index}" + (f" ({str(probe)[:80]})" if probe else "")
        raws.append(_raw_item(_Fields(item, where, notes), base))
    return JsonFeed(title=title, link=link, raws=raws, skipped=notes.done())


def _raw_item(item: _Fields, base: str) -> RawEntry:
    content = item.text("content_html")
    if not content and (plain := item.text("content_text")):
        content = plain_to_html(plain)
    if not content:
        content = item.text("summary")
    date = item.date("date_published") or item.date("date_modified")
    link = item.text("url") or item.text("external_url")
    image = item.text("image") or item.text("banner_image")
    return RawEntry(
        guid=item.identifier("id"),
        link=web_url(link, base),
        title=untyped_text(item.text("title")),
        published_at=date,
        author=item.author(),
        categories=item.strings("tags"),
        content_html=content,
        image_url=web_url(image, base) or image_in(content, base),
    )
