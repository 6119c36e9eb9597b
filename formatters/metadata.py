"""The post's metadata as a sub-editor would clean it: title, author, source line, date.

Pure functions of plain text (already cleaned by formatters.text):

* `site_names(...)`: what the site is called: the feed's configured `name` or title (without
  its boilerplate), its parts around "|" or " - ", and the first label of the article's and
  the feed's host names ("alhurra" of alhurra.com).
* `clean_title`: the site's name after the title (« | الحرة», « - Hespress», «– Site») removed
  when it matches one of those names.
* `clean_author`: placeholder bylines dropped: "Unknown", "admin", CMS account names
  ("kheditor", "wpadmin"), an e-mail address, the site's own name.
* `source_line`: the feed title as a source line, without aggregator and generator
  boilerplate ("Hespress - Article Feed" -> "Hespress", Hugo's "أعمالنا on Site" -> "Site");
  nothing when only boilerplate is left.
* `plausible_date`: a publication date only if it can be true: not before 1995 (Hugo writes
  0001-01-01 for pages without a date), not days after the bot first saw the item.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from formatters.text import comparison_key

logger = logging.getLogger(__name__)

EARLIEST = datetime(1995, 1, 1, tzinfo=UTC)   # no news site had a feed before this
FUTURE_LIMIT = timedelta(days=2)              # beyond this ahead of first sight: not a date

_SEPARATORS = "|-\u2013\u2014\u00b7\u2022:"
# "Title | Site", "Title - Site", "Title – Site", "Title — Site", "Title · Site": the last
# separator (a hyphen only with spaces round it, so "Al-Awsat" stays whole).
_TITLE_SUFFIX = re.compile(
    r"^(?P<title>.*\S)(?:\s+[|\-\u2013\u2014\u00b7\u2022]\s+|\s*\|\s*)(?P<site>[^|]{1,80}?)\s*$")
_MIN_TITLE_WORDS = 2  # a suffix is only removed if this much title is left

_EMAIL = re.compile(r"\S+@\S+\.\S+")
_PLACEHOLDER_AUTHORS = frozenset(comparison_key(name) for name in (
    "unknown", "unknown author", "anonymous", "anon", "admin", "administrator", "editor",
    "the editor", "webmaster", "root", "user", "guest", "author", "staff", "publisher",
    "nobody", "none", "null", "n/a", "wordpress", "blogger", "site admin", "default",
    "غير معروف", "مجهول", "مجهول الهوية", "المحرر", "الكاتب", "المشرف", "الإدارة", "ادمن", "أدمن",
))
# A CMS account name standing in for a byline: one lower-case ASCII handle naming a role.
_CMS_ACCOUNT = re.compile(
    r"[a-z0-9_.-]*(?:admin|editor|webmaster|author|user|staff|publisher|wp|cms|feed|rss|post)"
    r"[a-z0-9_.-]*")

# Boilerplate around a feed's title, added by aggregators and site generators.
_FEED_SUFFIX = re.compile(
    r"\s*[-\u2013\u2014|:\u00bb\u203a]\s*(?:article feed|rss feed|rss|atom feed|atom|feed|"
    r"news feed|all posts|posts|latest (?:news|articles|posts)|comments)\s*$",
    re.IGNORECASE)
_FEED_WORDS = re.compile(r"\s*\b(?:rss|atom)(?: feed)?\s*$|^\s*(?:rss|atom)\s*(?:feed)?\s*[-:|]\s*",
                         re.IGNORECASE)
# Hugo's default channel title is "{{ .Title }} on {{ .Site.Title }}".
_HUGO_ON = re.compile(r"^(.+?) on (.+)$")
_GENERIC_SECTIONS = frozenset(comparison_key(name) for name in (
    "posts", "post", "blog", "blogs", "articles", "news", "recent content", "all posts",
    "home", "feed", "rss", "atom", "untitled", "untitled feed", "index", "tags", "categories",
    "الرئيسية", "المدونة", "المقالات", "الأخبار", "آخر الأخبار", "التدوينات",
))
_HOST = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?([^/:?#\s]+)")
_NAME_PARTS = re.compile(r"\s[|\-\u2013\u2014]\s")
_MAX_SITE_WORDS = 6  # a longer "site name" from a template is a slogan, not a name
_LATIN = re.compile(r"[A-Za-z]")
_NON_LATIN_LETTER = re.compile(r"[^\W\d_A-Za-z]")


def _key(text: str) -> str:
    """Letters and digits, case-folded, without Arabic tatweel (الســــجـــل = السجل)."""
    return comparison_key(text.replace("\u0640", ""))


def _host_label(url: str) -> str:
    """"alhurra" of https://www.alhurra.com/16796 ("" without a dotted host)."""
    found = _HOST.match(url)
    if not found:
        return ""
    labels = [label for label in found.group(1).lower().split(".") if label and label != "www"]
    return labels[0] if len(labels) >= 2 else ""


def _generic(name: str) -> bool:
    key = _key(name)
    return not key or key in _GENERIC_SECTIONS


def source_line(feed_title: str) -> str:
    """The feed's title as the post's source line, boilerplate removed ("" if none is left)."""
    name = feed_title.strip()
    for _ in range(2):
        name = _FEED_SUFFIX.sub("", name)
        name = _FEED_WORDS.sub("", name).strip(" " + _SEPARATORS)
    hugo = _HUGO_ON.match(name)
    if hugo and (_generic(hugo.group(1)) or _mixed_scripts(hugo.group(1), name)):
        site = hugo.group(2).strip()
        name = site if len(site.split()) <= _MAX_SITE_WORDS else ""
    return "" if _generic(name) else name


def _mixed_scripts(section: str, title: str) -> bool:
    """An English " on " joining non-Latin names is a template's, not the title's own words."""
    return bool(_NON_LATIN_LETTER.search(section)) or not _LATIN.search(title.replace(" on ", " "))


@lru_cache(maxsize=1024)
def _source_names(source: str) -> tuple[str, ...]:
    """The feed title, its boilerplate-free form and their parts (a feed's items share them)."""
    names: list[str] = []
    for name in (source, source_line(source)):
        if name:
            names.append(name)
            names.extend(part.strip() for part in _NAME_PARTS.split(name) if part.strip())
    return tuple(names)


def site_names(*, source: str, urls: Iterable[str] = ()) -> tuple[str, ...]:
    """Every name the site goes by, for matching title suffixes and bylines."""
    return _site_names(source, tuple(label for label in map(_host_label, urls) if label))


@lru_cache(maxsize=1024)
def _site_names(source: str, labels: tuple[str, ...]) -> tuple[str, ...]:
    names = [*_source_names(source), *labels]
    seen: dict[str, str] = {}
    for name in names:
        key = _key(name)
        if len(key) >= 2 and key not in seen:
            seen[key] = name
    return tuple(seen.values())


def _matches(suffix: str, names: tuple[str, ...]) -> bool:
    """Whether a title's suffix is the site's name: the same, the name with a tagline after it
    ("هسبريس جريدة إلكترونية مغربية"), or most of a longer name ("BBC News" of "BBC News اردو")."""
    key = _key(suffix)
    if not key:
        return False
    for name in names:
        other = _key(name)
        if key == other or (len(other) >= 4 and other in key):
            return True
        if len(key) >= 4 and other.startswith(key) and len(key) >= 0.6 * len(other):
            return True
    return False


def clean_title(title: str, names: tuple[str, ...]) -> str:
    """The title without the site's name after it (« | الحرة», « - Hespress»)."""
    found = _TITLE_SUFFIX.match(title)
    if not found or not names:
        return title
    kept = found.group("title").rstrip(" " + _SEPARATORS)
    if len(kept.split()) >= _MIN_TITLE_WORDS and _matches(found.group("site"), names):
        return kept
    return title


def clean_author(author: str, names: tuple[str, ...]) -> str:
    """The byline, or "" for a placeholder: "Unknown", "admin", a CMS account name like
    "kheditor", a bare e-mail address, or the site's own name."""
    text = _EMAIL.sub(" ", author).strip()
    text = text.strip(" ()[]<>\"'").strip()
    if not text:
        return ""
    key = _key(text)
    if key in _PLACEHOLDER_AUTHORS or not key:
        return ""
    if " " not in text and _CMS_ACCOUNT.fullmatch(text):
        return ""
    if key in {_key(name) for name in names}:
        return ""
    return text


def plausible_date(published_at: object, first_seen: object, *,
                   link: str = "") -> datetime | None:
    """`published_at` if it can be the article's date, else None (the post then says when the
    bot first saw it). Implausible: before 1995 (Hugo's 0001-01-01, Unix time zero) or more
    than FUTURE_LIMIT after first sight. Not a datetime at all: None."""
    if not isinstance(published_at, datetime):
        return None
    moment = published_at if published_at.tzinfo else published_at.replace(tzinfo=UTC)
    reason = ""
    if moment < EARLIEST:
        reason = f"dated {moment:%Y-%m-%d}, before {EARLIEST:%Y}"
    elif isinstance(first_seen, datetime):
        seen = first_seen if first_seen.tzinfo else first_seen.replace(tzinfo=UTC)
        try:
            if moment - seen > FUTURE_LIMIT:
                reason = f"dated {moment:%Y-%m-%d}, more than {FUTURE_LIMIT.days} days after " \
                         "it was first seen"
        except OverflowError:
            reason = "dated out of range"
    if reason:
        logger.info("date of %s not shown: %s; the post says when it was first seen",
                    link or "an article", reason)
        return None
    return published_at
