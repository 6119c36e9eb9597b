"""Arabic-aware text normalisation for keyword filters and duplicate detection. Pure.

Editors type keywords without diacritics and with whichever alef, ta marbuta or ya their
keyboard gives; publishers write them every possible way. Both sides go through the same
normalisation before they are compared.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

# Harakat and Quranic annotation marks, superscript alef, tatweel.
_DIACRITICS = re.compile(r"[\u0610-\u061A\u064B-\u065F\u0670\u06D6-\u06DC\u06DF-\u06E8"
                         r"\u06EA-\u06ED\u0640]")
# Invisible controls that split or reorder words without being visible: zero-width spaces and
# joiners, bidi marks and isolates, BOM.
_INVISIBLE = re.compile(r"[\u200B-\u200F\u202A-\u202E\u2066-\u2069\uFEFF\u00AD\u061C]")
_FOLD = str.maketrans({
    "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا",
    "ة": "ه",
    "ى": "ي",
    "ی": "ي",   # Persian ya, common from Persian keyboards
    "ک": "ك",   # Persian kaf
    **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
    **{chr(0x06F0 + d): str(d) for d in range(10)},  # Extended (Persian) digits
})
# Anything that is not a letter or digit (punctuation in any script, symbols, spaces, "_")
# separates words.
_SEPARATORS = re.compile(r"[\W_]+")


def normalize_arabic(text: str) -> str:
    """Fold text for comparison: no diacritics or tatweel, one alef, ة→ه, ى→ي, Latin casefolded,
    Arabic-Indic digits as ASCII, punctuation and whitespace collapsed to single spaces."""
    # NFKC first: it turns presentation forms (ﻻ, ﺍ…) from old CMSs into ordinary letters.
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = _DIACRITICS.sub("", text)
    text = text.translate(_FOLD).casefold()
    return _SEPARATORS.sub(" ", text).strip()


# Proclitics glued to Arabic words: and, so, with, for, like, the, and their combinations.
_PREFIXES = ("وبال", "فبال", "وكال", "فكال", "ولل", "فلل", "وال", "فال", "بال", "كال", "وب",
             "فب", "ول", "فل", "وك", "فك", "لل", "ال", "و", "ف", "ب", "ل", "ك", "")
_SHORT_KEYWORD = 3  # letters; shorter keywords must match whole words (with Arabic proclitics)


@lru_cache(maxsize=4096)
def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    """The pattern for a normalised keyword or phrase. Short words as substrings match
    everywhere ("ai" in "said", "مصر" in "مصرف"), so a short first word must start a word
    (after an optional proclitic) and a short last word must end one; long ones match inside
    words, which is how Arabic attaches articles, prepositions and suffixes."""
    words = keyword.split(" ")
    left = ""
    if len(words[0]) <= _SHORT_KEYWORD:
        left = r"(?:^|(?<=\s))(?:" + "|".join(_PREFIXES) + ")"
    right = r"(?=\s|$)" if len(words[-1]) <= _SHORT_KEYWORD else ""
    return re.compile(left + re.escape(keyword) + right)


def _keyword_matches(keyword: str, text: str) -> bool:
    return _keyword_pattern(keyword).search(text) is not None


def _normalized_keywords(keywords: Iterable[str]) -> list[str]:
    return [k for k in (normalize_arabic(k) for k in keywords) if k]


def matches_filters(text: str, include: Iterable[str] = (), exclude: Iterable[str] = ()) -> bool:
    """True if `text` matches one `include` keyword (when any are given) and no `exclude`
    keyword. Matching is on normalised text; words of up to three letters match whole words
    only (with و/ب/ل/ال… prefixes allowed), longer ones also inside words; phrases keep their
    word order."""
    norm = normalize_arabic(text)
    includes = _normalized_keywords(include)
    if includes and not any(_keyword_matches(k, norm) for k in includes):
        return False
    return not any(_keyword_matches(k, norm) for k in _normalized_keywords(exclude))


# " - Site name" / " | Site" suffixes that mirrors and aggregators add to titles.
_SITE_SUFFIX = re.compile(r"\s+[|\-–—:]\s+[^|\-–—:]+$")


def title_fingerprint(title: str) -> str:
    """A hash of the title's normalised words, equal for the same story on a mirror that adds
    diacritics, different hamza/ya spellings, punctuation or a short " - Site" suffix.
    Returns "" for a title with no words (never a shared fingerprint for empty titles)."""
    stripped = _SITE_SUFFIX.sub("", title)
    words = normalize_arabic(stripped).split()
    full = normalize_arabic(title).split()
    # Only drop the suffix when it is short and enough of the title remains.
    if len(words) < 3 or len(full) - len(words) > 4:
        words = full
    if not words:
        return ""
    return hashlib.sha256(" ".join(words).encode("utf-8")).hexdigest()[:32]
