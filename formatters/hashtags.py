"""Hashtags from an article's categories: "الشأن السوري" -> "#الشأن_السوري"."""
from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import regex

from formatters.text import clean_inline

MAX_HASHTAGS = 5
MAX_HASHTAG_CHARS = 40  # Telegram allows more, but a longer tag is a sentence, not a topic

_SPACES = regex.compile(r"[\s\p{Z}_]+")
# Telegram's hashtags are letters, decimal digits, marks, underscores and ZWNJ (TDLib's
# is_hashtag_letter); anything else ends them ("²" or "½" too: numbers, not decimal digits).
_NOT_TAG = regex.compile(r"[^\p{L}\p{M}\p{Nd}_\u200c]+")
# ZWNJ is Persian and Urdu spelling between two letters ("جامعه‌شناسی"); elsewhere it is noise.
_STRAY_ZWNJ = regex.compile(r"(?<![\p{L}\p{M}])\u200c|\u200c(?![\p{L}\p{M}])")
_LETTER = regex.compile(r"\p{L}")
_SEPARATOR = regex.compile(r"\s*[/>|\\\\·•]\s*")
_UNDERSCORES = regex.compile("_{2,}")


@lru_cache(maxsize=4096)  # a feed repeats the same few categories on every item
def hashtag(category: str) -> str | None:
    """One category as a hashtag, or None if nothing usable is left of it."""
    text = clean_inline(category)
    # Separators like "/", ">" or "|" between words become an underscore, other punctuation
    # ("COVID-19", "Rabi' al-Awwal") simply goes.
    text = _SEPARATOR.sub(" ", text)
    tag: str = _NOT_TAG.sub("", _SPACES.sub("_", text))
    tag = _UNDERSCORES.sub("_", _STRAY_ZWNJ.sub("", tag)).strip("_")
    # "#2025" is not a hashtag to Telegram: it needs a letter.
    if not tag or len(tag) > MAX_HASHTAG_CHARS or _LETTER.search(tag) is None:
        return None
    return "#" + tag


def hashtags(categories: Iterable[str], limit: int = MAX_HASHTAGS) -> list[str]:
    """Up to `limit` distinct hashtags, in the feed's order."""
    seen: set[str] = set()
    tags: list[str] = []
    for category in categories:
        if not isinstance(category, str):
            continue
        tag = hashtag(category)
        if tag is None or tag.casefold() in seen:
            continue
        seen.add(tag.casefold())
        tags.append(tag)
        if len(tags) >= limit:
            break
    return tags
