"""Where an excerpt may end: sentence ends, cuts to a budget, a publisher's own cut, brackets.

Sentences (docs/telegram-and-rtl.md §6, checked against ICU's Arabic sentence iterator): they
end at `.` `!` `?` `؟` `۔` `…` (also `..`, common in Egyptian writing), followed by closing
quotes or brackets, then a space, or an Arabic letter straight after `.`/`؟`/`!` ("معقد.هل").
`،` and `؛` end clauses, not sentences; a decimal point (`2.5`) and a one-letter abbreviation
(`د. أميرة`) end nothing.

A publisher's cut: feed summaries are often cut at a fixed length, marked ("…", "...", "[…]")
or not. The word before a mark glued to it ("وقال مس…") or a text ending on a lone letter
(«الثلاثاء ف») or on a word no sentence ends with («في», «أن», «هذ») shows the cut; such a
text is cut back to the last whole word, or to its last sentence when that keeps enough, and
marked "…", never shown as if whole.

All cuts work on plain text before escaping, at whitespace or punctuation, so they never land
inside an HTML entity, a URL or a grapheme cluster.
"""
from __future__ import annotations

import re
import unicodedata

import regex

ELLIPSIS = "…"
MIN_CUT_FRACTION = 0.4  # a sentence or clause cut must keep at least this much of the room

_CLOSERS = "\"'\u201d\u2019\u00bb)]\ufd3e"
_TERMINALS = ".!?\u061f\u2026\u06d4"
_SENTENCE_END = re.compile(
    "[.!?\u061f\u2026\u06d4]+[\"'\u201d\u2019\u00bb)\\]\ufd3e]*(?=\\s)"
    "|[.!\u061f]+(?=[\u0621-\u064a])"  # "معقد.هل": ICU breaks here too
)
_CLAUSE_END = re.compile("[\u060c\u061b,;](?=\\s)")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_GRAPHEME = regex.compile(r"\X")
_TRAILING_PUNCT = " \u060c\u061b,;:-\u2013\u2014"

# A publisher's mark that the text goes on: "…", "...", "[…]", "[...]", "(…)", and a news
# API's "[+1234 chars]" (maybe itself cut to "[+").
_CUT_MARK = re.compile(r"\s*(?:\[\s*(?:\u2026|\.{3,})\s*\]|\(\s*(?:\u2026|\.{3,})\s*\)"
                       r"|\u2026|\.{3,}|\[\+[\d\s]*(?:chars?)?\]?)$")
_WORD_CHAR = regex.compile(r"[\p{L}\p{M}\p{N}]")
_LAST_WORD = regex.compile(r"\S+$")
# Words no sentence ends with, in the scripts our channels read: prepositions, conjunctions,
# particles, relative pronouns, and "هذ" (what a fixed-length cut leaves of هذا/هذه).
_DANGLING = frozenset(" ".join((
    "في من على إلى الى عن مع أن ان إن لن لم قد ثم أو او بل لكن حتى منذ عند بين نحو حول ضد دون",
    "التي الذي الذين اللذين اللتين اللواتي كما مثل عبر خلال إذا اذا لو هذ",
    "وفي ومن وعلى وإلى والى وعن ومع وأن وإن ولم ولن وقد وبين ولكن وحتى ومنذ وعند وكما ومثل",
    "وعبر وخلال",
    "که از به در با برای تا یا را",        # Persian
    "اور کے کی کا میں سے کو نے پر کہ",     # Urdu
    "של את על עם אל כי או גם אבל",          # Hebrew
)).split(" "))
_RTL_LETTERS = re.compile("[\u0590-\u08ff]")  # Hebrew, Arabic and their supplements
_LONGEST_WORD = 20  # a longer "word" before a mark is a run of a script without spaces
_DANGLING_STRIP = "\"'\u201c\u201d\u2018\u2019\u00ab\u00bb()[]\ufd3e\ufd3f.,،؛:!?؟-"
# Bracket pairs a cut must not leave open; (opener, closer).
PAIRS = (("\ufd3f", "\ufd3e"), ("\u00ab", "\u00bb"), ("(", ")"), ("[", "]"),
         ("\u201c", "\u201d"))


def sentence_ends(text: str, stop: int | None = None) -> list[int]:
    """Offsets just after each sentence end in text[:stop] (closing quotes included)."""
    limit = len(text) if stop is None else stop
    return [match.end() for match in _SENTENCE_END.finditer(text, 0, limit)
            if not _abbreviation(text, match.start())]


def _abbreviation(text: str, end: int) -> bool:
    """Whether text[:end] ends with a one-letter word ("د" of "د. أميرة", "U.S")."""
    index = end - 1
    while index >= 0 and unicodedata.category(text[index]).startswith("M"):
        index -= 1
    if index < 0 or not text[index].isalpha():
        return False
    return index == 0 or not text[index - 1].isalnum()


def ends_sentence(text: str) -> bool:
    """Whether the text ends a sentence (terminal punctuation, maybe inside closing quotes)."""
    return text.rstrip().rstrip(_CLOSERS).endswith(tuple(_TERMINALS))


def _grapheme_floor(text: str, index: int) -> int:
    """The last grapheme cluster boundary at or before `index`."""
    # Clusters never start inside a space-separated word's predecessor, so scanning from the
    # previous space is enough and keeps \X (slow in `regex`) to a few characters.
    start = text.rfind(" ", 0, index)
    start = max(start, 0)
    boundary = start
    for match in _GRAPHEME.finditer(text, start, index + 1):
        if match.start() > index:
            break
        boundary = match.start()
    return boundary


def _strip_end(kept: str) -> str:
    """Drop dangling punctuation before the ellipsis, unless it ends a URL (part of it)."""
    last = kept[kept.rfind(" ") + 1:]
    if "://" in last or last[:4].lower() == "www.":
        return kept.rstrip(" ")
    return kept.rstrip(_TRAILING_PUNCT)


def after_sentence(kept: str) -> str:
    """A complete sentence followed by the mark that the text goes on."""
    kept = kept.rstrip()
    return kept if kept.endswith(ELLIPSIS) else f"{kept} {ELLIPSIS}"


def cut_text(text: str, limit: int) -> str:
    """Shorten one line of clean text to at most `limit` code points, ending with "…".

    Prefers the end of a sentence, then a clause (، ؛ , ;), then a word; only a text with no
    space at all is cut between grapheme clusters, and never inside a URL. Returns the text
    unchanged when it fits, "" when nothing sensible fits.
    """
    if len(text) <= limit:
        return text
    if limit < 2:
        return ""
    floor = int(limit * MIN_CUT_FRACTION)
    ends = sentence_ends(text, limit - 1)
    best = ends[-1] if ends else -1
    if best >= floor and best > 0:
        return after_sentence(text[:best])
    best = -1
    for match in _CLAUSE_END.finditer(text, 0, limit + 1):
        if match.start() <= limit - 1:
            best = match.start()
    if best >= floor and best > 0:
        return _strip_end(text[:best]) + ELLIPSIS
    space = text.rfind(" ", 0, limit)
    if space > 0:
        kept = _drop_dangling(_strip_end(text[:space]))
        if kept:
            return kept + ELLIPSIS
    # One long "word": cut between graphemes, but never inside a URL.
    cut = _grapheme_floor(text, limit - 1)
    for match in _URL.finditer(text):
        if match.start() >= cut:
            break
        if cut < match.end():
            cut = match.start()
    kept = text[:cut].rstrip(_TRAILING_PUNCT)
    return kept + ELLIPSIS if kept else ""


def _last_word(text: str) -> str:
    found = _LAST_WORD.search(text)
    return found.group(0).strip(_DANGLING_STRIP) if found else ""


def _is_dangling(word: str) -> bool:
    if word in _DANGLING:
        return True
    # A lone letter of an RTL script is a cut word ("ف"), never a word of its own at the end.
    return len(word) == 1 and _RTL_LETTERS.match(word) is not None


def _drop_dangling(text: str) -> str:
    """Drop words no sentence ends with from the end ("… بما في" -> "… بما"), at most three."""
    for _ in range(3):
        word = _last_word(text)
        if not word or not _is_dangling(word) or " " not in text.strip() or ends_sentence(text):
            break
        text = _strip_end(text[:text.rstrip().rfind(" ")])
    return text


def trim_end(text: str) -> str:
    """The text without dangling punctuation and words no sentence ends with at its end."""
    return _drop_dangling(_strip_end(text.rstrip()))


def publisher_cut(text: str, *, summary: bool) -> bool:
    """Whether the text, the last of its source, was cut short by its publisher.

    A mark ("…", "...", "[…]") says so; so does a colon at the very end. Without a mark only a
    summary (a source of one paragraph) is judged: it ends on a lone letter or on a word no
    sentence ends with.
    """
    text = text.rstrip()
    if not text:
        return False
    if _CUT_MARK.search(text) or text.endswith(":"):
        return True
    if not summary or ends_sentence(text) or text.endswith(tuple(_CLOSERS)):
        return False
    # Whole words after a text's last full stop are no evidence: "… العالمية. وبينما بدأت" is
    # cut, but "… Have a nice day. xxx", "مقاسات: S/M/L" and "والله أعلم" are not.
    return _is_dangling(_last_word(text))


def close_cut(text: str) -> str:
    """A publisher's cut text made honest: cut back to its last sentence when that keeps
    enough of it, else to its last whole word, and marked "…" ("" if nothing is left)."""
    body = text.rstrip()
    mark = _CUT_MARK.search(body)
    if mark:
        glued = mark.start() > 0 and _WORD_CHAR.match(body[mark.start() - 1]) is not None \
            and mark.group(0)[:1] not in " ["
        body = body[:mark.start()].rstrip()
        space = body.rfind(" ")
        if glued and space > 0 and len(body) - space <= _LONGEST_WORD:
            body = body[:space]  # the word the mark is glued to may be cut through
    body = _drop_dangling(_strip_end(body))
    if ends_sentence(body):
        return after_sentence(body)
    ends = sentence_ends(body)
    if ends and ends[-1] >= MIN_CUT_FRACTION * len(body):
        return after_sentence(body[:ends[-1]])
    body = _strip_end(body)
    return body + ELLIPSIS if body else ""


def unclosed_opener(shown: str, whole: str) -> int:
    """Where `shown` (a cut of `whole`) opens a bracket or quote that only `whole` closes;
    -1 when the cut leaves nothing open."""
    first = -1
    for opener, closer in PAIRS:
        if whole.count(opener) != whole.count(closer):
            continue  # the publisher's own text is unbalanced: nothing to restore
        depth = 0
        opened_at: list[int] = []
        for index, char in enumerate(shown):
            if char == opener and (opener != closer):
                opened_at.append(index)
                depth += 1
            elif char == closer and depth:
                opened_at.pop()
                depth -= 1
        if opened_at and (first < 0 or opened_at[0] < first):
            first = opened_at[0]
    return first


def close_brackets(shown: str, whole: str | None) -> str:
    """`shown` with every bracket it opened and cut closed again after the "…" (﴿…﴾): those
    `whole` closes, or all of them for a text its publisher cut (`whole` None)."""
    closers: list[str] = []
    for opener, closer in PAIRS:
        if whole is None or whole.count(opener) == whole.count(closer):
            closers.extend(closer * max(0, shown.count(opener) - shown.count(closer)))
    return shown + "".join(reversed(closers))
