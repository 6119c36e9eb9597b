"""Direction: making every line of a post read right to left (Arabic, Persian, Urdu, Hebrew) or
left to right (English). "Arabic" below stands for all four: the rules are the same.

Strategy (see docs/formatting.md for the why):

* The input has already lost every bidi control it carried (`formatters.text`).
* Each non-empty line of an Arabic post starts with RLM (U+200F): Telegram clients pick a
  paragraph's direction from its first strong character, and RLM is a strong right-to-left
  character, so the line is RTL whatever it starts with (a number, a date, a Latin word, an
  emoji, a hashtag). English posts start each line with LRM (U+200E) the same way.
* Inside an Arabic line, every left-to-right run (Latin words with the spaces, digits and
  punctuation between them, a URL, a hyphenated number such as 2025-09-18) is wrapped in an
  isolate LRI (U+2066) ... PDI (U+2069). An isolate keeps its content in logical order and
  cannot disturb the surrounding text or the paragraph direction. A line with no RTL letter at
  all (an all-Latin title) is isolated whole, so its trailing "?" stays with it. English lines
  get the mirror image: RTL runs in RLI (U+2067) ... PDI.
* Never U+202A-U+202E: Telegram deletes them. Never two LRM/RLM in a row: Telegram rewrites
  such runs. Isolates never nest and always close on the line they open.
"""
from __future__ import annotations

import re
import unicodedata

import regex

from model.post import is_rtl

LRM, RLM, ALM = "\u200e", "\u200f", "\u061c"
LRI, RLI, FSI, PDI = "\u2066", "\u2067", "\u2068", "\u2069"
ISOLATE_OPENERS = frozenset((LRI, RLI, FSI))

_RTL_CHAR = regex.compile(r"[\p{bc=R}\p{bc=AL}]")
_LTR_CHAR = regex.compile(r"\p{bc=L}")
# A left-to-right run inside RTL text: from a strong L character to the last L or European
# digit before the next RTL letter or the end of the line, plus the marks on that last letter.
_LTR_RUN = regex.compile(r"\p{bc=L}(?:[^\p{bc=R}\p{bc=AL}\n]*[\p{bc=L}\p{bc=EN}])?\p{M}*")
# The mirror image for English lines; Arabic-Indic digits (AN) belong to the Arabic run.
_RTL_RUN = regex.compile(
    r"[\p{bc=R}\p{bc=AL}](?:[^\p{bc=L}\n]*[\p{bc=R}\p{bc=AL}\p{bc=AN}])?\p{M}*"
)
# Numbers joined by hyphens: after an Arabic letter, European digits become "Arabic numbers"
# and a hyphen no longer holds them together (UAX #9 rules W2/W4), so "2025-09-18" would show
# as 18-09-2025. Slashes, dots and colons do hold them together and need nothing.
_HYPHEN_NUMBER = re.compile(
    "[0-9\u0660-\u0669\u06f0-\u06f9]+(?:[-\u2010\u2011\u2013][0-9\u0660-\u0669\u06f0-\u06f9]+)+"
)
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?)]}'\"\u060c\u061b\u061f\u00bb\u201d\u2019"
# Characters that belong to the run they are glued to: "#Syria", "@user", "$5", "5G".
_ATTACHED_BEFORE = frozenset("#@$0123456789")
_ATTACHED_AFTER = frozenset("%\u066a\u2030")
_BRACKETS = (("(", ")"), ("[", "]"), ("{", "}"))


def _url_spans(line: str) -> list[tuple[int, int]]:
    if "://" not in line and "www." not in line and "WWW." not in line:
        return []
    spans = []
    for match in _URL.finditer(line):
        end = match.end()
        while end > match.start() and line[end - 1] in _URL_TRAILING:
            end -= 1
        # A closing bracket that closes one inside the URL is part of it (Wikipedia links).
        if end < match.end() and line[end] == ")" and line.count("(", match.start(), end) > \
                line.count(")", match.start(), end):
            end += 1
        spans.append((match.start(), end))
    return spans


def _balance_brackets(line: str, start: int, end: int, stop: regex.Pattern[str]) -> int:
    """Extend a run over the closer of a bracket it opened, if nothing opposite lies between:
    half a bracket pair inside an isolate and half outside would render as "((CNN"."""
    for opener, closer in _BRACKETS:
        if line.count(opener, start, end) > line.count(closer, start, end):
            found = line.find(closer, end)
            if found != -1 and stop.search(line, end, found) is None:
                end = found + 1
    return end


def _spans(line: str, run: regex.Pattern[str], stop: regex.Pattern[str],
           numbers: bool) -> list[tuple[int, int]]:
    urls = _url_spans(line) if run is _LTR_RUN else []
    # The hyphen scan is slow-ish (stdlib re with a class start); most lines have no hyphen.
    numbers = numbers and ("-" in line or "\u2013" in line or "\u2010" in line
                           or "\u2011" in line)
    spans: list[tuple[int, int]] = []
    pos, size = 0, len(line)
    while pos < size:
        found = run.search(line, pos)
        number = _HYPHEN_NUMBER.search(line, pos) if numbers else None
        if number is None:
            numbers = False  # none further on either
        if number is not None and (found is None or number.start() < found.start()):
            spans.append(number.span())
            pos = number.end()
            continue
        if found is None:
            break
        start, end = found.span()
        while start > pos and line[start - 1] in _ATTACHED_BEFORE:
            start -= 1
        while end < size and line[end] in _ATTACHED_AFTER:
            end += 1
        for url_start, url_end in urls:
            if start <= url_start < end < url_end:
                end = url_end  # a URL is one unit even where its path is Arabic
        end = _balance_brackets(line, start, end, stop)
        while end < size and unicodedata.combining(line[end]):
            end += 1  # never leave a mark outside the isolate its letter is in
        spans.append((start, end))
        pos = end
    return spans


def _wrap(line: str, spans: list[tuple[int, int]], opener: str) -> str:
    if not spans:
        return line
    out, last = [], 0
    for start, end in spans:
        out += [line[last:start], opener, line[start:end], PDI]
        last = end
    out.append(line[last:])
    return "".join(out)


def isolate_line(line: str, language: str) -> str:
    """Wrap the runs of one line that go against the post's direction in isolates."""
    if not line:
        return line
    if is_rtl(language):
        if _RTL_CHAR.search(line) is None:
            return f"{LRI}{line}{PDI}" if _LTR_CHAR.search(line) else line
        if _LTR_CHAR.search(line) is None and "-" not in line and "\u2013" not in line \
                and "\u2010" not in line and "\u2011" not in line:
            return line  # all Arabic (the usual case): nothing to isolate
        return _wrap(line, _spans(line, _LTR_RUN, _RTL_CHAR, numbers=True), LRI)
    if _LTR_CHAR.search(line) is None:
        return f"{RLI}{line}{PDI}" if _RTL_CHAR.search(line) else line
    if _RTL_CHAR.search(line) is None:
        return line
    return _wrap(line, _spans(line, _RTL_RUN, _LTR_CHAR, numbers=False), RLI)


def isolate_text(text: str, language: str) -> str:
    """`isolate_line` for each line of clean (control-free) text."""
    if "\n" not in text:
        return isolate_line(text, language)
    return "\n".join(isolate_line(line, language) for line in text.split("\n"))


def has_rtl(text: str) -> bool:
    """Whether the text holds a right-to-left letter (Arabic, Hebrew, ...)."""
    return _RTL_CHAR.search(text) is not None


_STRONG_CHAR = regex.compile(r"[\p{bc=L}\p{bc=R}\p{bc=AL}]")


def first_strong_rtl(text: str) -> bool:
    """Whether the first strong character of the text is right-to-left (isolates not skipped:
    for clean text with none of ours in it)."""
    found = _STRONG_CHAR.search(text)
    return found is not None and _RTL_CHAR.match(found.group()) is not None


def line_mark(language: str) -> str:
    """The strong mark every line of a post in `language` starts with."""
    return RLM if is_rtl(language) else LRM


def isolates_balanced(text: str) -> bool:
    """True when, on every line, each isolate opener is closed by a PDI and no PDI is stray."""
    for line in text.split("\n"):
        depth = 0
        for ch in line:
            if ch in ISOLATE_OPENERS:
                depth += 1
            elif ch == PDI:
                depth -= 1
                if depth < 0:
                    return False
        if depth:
            return False
    return True
