"""The excerpt: the article's first real paragraphs, in order, as a sub-editor would cut them.

Steps: HTML -> raw paragraphs (formatters.paragraphs) -> furniture removed (formatters.furniture):
prompts, mastheads, CMS dumps and WordPress's trailer anywhere; menus, headings and other short
lines without a sentence only at the edges, before the article starts and after it ends; the
title repeated; pull quotes repeated later -> whole paragraphs while they fit -> the end
(formatters.cutting): on a sentence when one is within the budget, a publisher's cut closed
with "…", never a bracket left open, never a heading or a dangling ":" last.

Only as many paragraphs as the budget needs are read and cleaned (plus one, to know whether
the article goes on), which keeps a 10 KB article cheap; "repeated later" is checked against
the whole source.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from formatters.cutting import (
    ELLIPSIS,
    MIN_CUT_FRACTION,
    after_sentence,
    close_brackets,
    close_cut,
    cut_text,
    ends_sentence,
    publisher_cut,
    sentence_ends,
    trim_end,
    unclosed_opener,
)
from formatters.furniture import (
    CHROME_LINE_WORDS,
    MIN_WORDS,
    SENTENCE_WORDS,
    is_chrome,
    is_cms_dump,
    is_masthead,
    is_menu,
    is_prompt,
    is_prose,
    strip_trailer,
)
from formatters.paragraphs import MAX_CONTENT_CHARS, raw_paragraphs
from formatters.text import clean_inline, comparison_key

__all__ = ["ELLIPSIS", "MAX_CONTENT_CHARS", "MIN_WORDS", "SENTENCE_WORDS", "Excerpt", "cut_text"]

# Characters a source may write as entities, so never part of a search for repeated text.
_ENTITY_PRONE = re.compile("[&<>\"'\u00a0]")
_MIN_REPEAT = 40  # shorter repeats are not pull quotes (and are too short to matter)
_REFERENCE_BRACKETS = {"[": "]", "(": ")", "\ufd3f": "\ufd3e", "\u00ab": "\u00bb"}
_CLOSING = "\ufd3e\u00bb)]\u201d\"'"  # what close_brackets may put after the "…"
_SILENCE = re.compile("[.\u2026?\u061f!]")  # a line of only these is a reply in a dialogue
_ALNUM = re.compile(r"[^\W_]")
_SECTION = re.compile(r"\s*\(\s*[0-9\u0660-\u0669]{1,3}\s*\)\s*$")  # "(1)", "(١)"
_FURNITURE_CHARS = 400  # no masthead or CMS field dump is longer


@dataclass(frozen=True, slots=True)
class Paragraph:
    """One paragraph of the excerpt's source, cleaned.

    `prose`: a paragraph of prose; otherwise a short line inside the article (dialogue, a list
    heading, a reference), kept in its place but never the excerpt's last line. `cut`: the
    source ends here and its publisher cut it short (a summary cut at a fixed length).
    `soft`: it follows the previous paragraph after a <br> (a stanza, a dialogue)."""

    text: str
    prose: bool = True
    cut: bool = False
    soft: bool = False  # the next line of the same block (after a <br>): no blank line before


@dataclass(slots=True)
class Excerpt:
    """The candidate paragraphs of an article (clean text, furniture removed), read lazily,
    and the excerpt they give for a budget."""

    _source: Iterator[Paragraph]
    items: list[Paragraph] = field(default_factory=list)
    _exhausted: bool = False

    @classmethod
    def from_content(cls, content: str, *, title: str = "") -> Excerpt:
        """Candidates from a feed's content or summary HTML (plain text works too)."""
        return cls(_candidates(content or "", title))

    @property
    def paragraphs(self) -> list[str]:
        """The texts of the paragraphs read so far."""
        return [item.text for item in self.items]

    def _fill(self, count: int) -> None:
        while not self._exhausted and len(self.items) < count:
            try:
                self.items.append(next(self._source))
            except StopIteration:
                self._exhausted = True

    @property
    def empty(self) -> bool:
        """True when the article has no usable body text."""
        self._fill(1)
        return not self.items

    def text(self, budget: int) -> str:
        """The excerpt: whole paragraphs while they fit, then the end a sub-editor would
        choose; "…" whenever the article goes on after it. At most `budget` code points;
        "" if nothing fits."""
        out: list[Paragraph] = []
        used = 0
        index = 0
        while True:
            self._fill(index + 1)
            if index >= len(self.items):
                return _finish(out, budget, goes_on=False)  # the whole text fitted
            item = self.items[index]
            if item.cut:
                closed = close_brackets(close_cut(item.text), None)
                if not closed:
                    return _finish(out, budget, goes_on=bool(out))
                item = Paragraph(closed, item.prose, cut=True, soft=item.soft)
            gap = (1 if item.soft else 2) if out else 0
            if used + gap + len(item.text) <= budget:
                out.append(item)
                used += gap + len(item.text)
                index += 1
                continue
            room = budget - used - gap
            return _finish(out + _cut_into(item, room, budget, used, bool(out)), budget,
                           goes_on=True)


def _cut_into(item: Paragraph, room: int, budget: int, used: int,
              after: bool) -> list[Paragraph]:
    """What of a paragraph that does not fit goes into the excerpt ([] for nothing)."""
    if not item.prose or room < 2:
        return []
    whole = item.text
    if after:
        # Paragraphs are already in: take this one only up to a sentence end, and if it has
        # none within the room, end at the paragraph before when that is long enough.
        ends = sentence_ends(whole, room - 1)
        if ends and ends[-1] + 2 <= room:
            piece = _no_open_bracket(after_sentence(whole[:ends[-1]]), whole, True, room)
            return [Paragraph(piece, soft=item.soft)] if piece else []
        if used >= MIN_CUT_FRACTION * budget:
            return []
    piece = cut_text(whole, room)
    if piece:
        piece = _no_open_bracket(piece, whole, after, room)
    return [Paragraph(piece, soft=item.soft)] if piece else []


def _no_open_bracket(piece: str, whole: str, after: bool, room: int) -> str:
    """The cut piece with no quote or bracket left open: cut before the opener when that keeps
    enough, drop the piece when paragraphs come before it, else close what it opened (within
    the room)."""
    opener = unclosed_opener(piece, whole)
    if opener < 0:
        return piece
    if opener >= MIN_CUT_FRACTION * len(piece):
        before = trim_end(piece[:opener])
        if before and unclosed_opener(before, whole) < 0:
            return after_sentence(before) if ends_sentence(before) else before + ELLIPSIS
    if after:
        return ""
    closed = close_brackets(piece, whole)
    extra = len(closed) - len(piece)
    if len(closed) > room:
        shorter = cut_text(whole, room - extra)
        closed = close_brackets(shorter, whole) if shorter else ""
    return closed


def _finish(out: list[Paragraph], budget: int, *, goes_on: bool) -> str:
    """Join the paragraphs; an excerpt that stops before the article does never ends on a
    short line or a colon, and says "…"."""
    while out and not out[-1].prose and not (len(out) > 1 and _is_reference(out[-1].text)):
        out.pop()  # a heading or a label with nothing after it
        goes_on = True
    if not out:
        return ""
    texts = [item.text for item in out]
    last = texts[-1]
    if last.rstrip().endswith(":"):
        # "… the error reads as follows:" promises what the excerpt does not show.
        ends = sentence_ends(last)
        if ends and ends[-1] >= MIN_CUT_FRACTION * len(last):
            texts[-1] = after_sentence(last[:ends[-1]])
        else:
            texts[-1] = last.rstrip().rstrip(":").rstrip() + ELLIPSIS
        goes_on = False  # already marked
    text = texts[0] + "".join(("\n" if item.soft else "\n\n") + piece
                              for item, piece in zip(out[1:], texts[1:], strict=True))
    if goes_on and not text.rstrip(_CLOSING).endswith(ELLIPSIS):
        if len(text) + 2 <= budget:
            return f"{text} {ELLIPSIS}"
        return cut_text(text, budget)
    return text


def _is_reference(text: str) -> bool:
    """A citation closing what precedes it: «[ البقرة : ١٤٢ ]», «(رواه مسلم)»; not a section
    number like «(2)»."""
    return (len(text) >= 3 and text[0] in _REFERENCE_BRACKETS
            and text[-1] == _REFERENCE_BRACKETS[text[0]] and any(ch.isalpha() for ch in text))


def _needle(anchor: str) -> str:
    """The longest piece of a text node that the source cannot have written as entities."""
    pieces = _ENTITY_PRONE.split(anchor)
    return max(pieces, key=len) if len(pieces) > 1 else anchor


def is_title(text: str, title_key: str) -> bool:
    """The title again, maybe with the site's name after it."""
    key = comparison_key(text)
    if key == title_key:
        return True
    # "Title - Site name"; only for titles long enough not to be a common first word.
    return len(title_key) >= 8 and key.startswith(title_key) and len(key) - len(title_key) < 30


def _furniture_anywhere(raw: str) -> bool:
    """Never the article: a separator with no word and no sentence mark ("٭ ٭ ٭", "• • •";
    a silent "- ..." in a dialogue stays), a prompt, a menu, a masthead, a CMS's field dump."""
    if _ALNUM.search(raw) is None:
        return _SILENCE.search(raw) is None
    if is_prompt(raw) or is_menu(raw):
        return True
    # Mastheads and CMS dumps are a line or two; long paragraphs are spared the look.
    return len(raw) < _FURNITURE_CHARS and (is_masthead(raw) or is_cms_dump(raw))


def _candidates(content: str, title: str) -> Iterator[Paragraph]:
    """The article's paragraphs in order, furniture removed; see the module docstring."""
    haystack, cursor, raw_items = raw_paragraphs(content)
    title_key = comparison_key(title)
    title_span = 2 * len(title) + 40
    fallback: str | None = None
    held: Paragraph | None = None   # the last prose paragraph, until we know if it is the last
    inside: list[Paragraph] = []    # short lines after it, kept only if more prose follows
    count = 0                       # prose paragraphs given
    joined = False                  # the previous paragraph was kept and ended at a <br>
    listed = False                  # the previous paragraph was kept and is a list item
    whole_page = "<body" in content or "<BODY" in content
    section: str | None = None      # "(1)" just before the first paragraph
    for raw, anchor, br, item in raw_items:
        soft = joined or (listed and item)
        joined = listed = False
        if held is None and section is not None and raw.strip() and not is_prose(raw):
            section = None  # something else came between it and the article
        raw = strip_trailer(raw.strip()).strip()
        # Classify the raw text (cheap, and the tests below survive stray controls); clean
        # only what is kept.
        if not raw or _furniture_anywhere(raw):
            continue
        if held is None and title_key and len(raw) <= title_span and is_title(raw, title_key):
            continue  # the title at the top; further down the same words are the text's own
        if not is_prose(raw):
            words = len(raw.split())
            if held is None:
                # Before the article: furniture, kept aside in case the whole body is one
                # short line (many feeds' summaries); a section number "(1)" right before
                # the first paragraph is the article's own, like the "(2)" that will follow.
                section = None if whole_page or not _SECTION.match(raw) else raw.strip()
                if fallback is None and words >= 3:
                    text = clean_inline(raw)
                    if len(text.split()) >= 3 and not is_chrome(text):
                        fallback = text
                continue
            if whole_page:
                continue  # a web page has furniture between its paragraphs too
            text = clean_inline(raw)
            if text and not (words <= CHROME_LINE_WORDS and is_chrome(text)):
                inside.append(Paragraph(text, prose=False, soft=soft))
                joined, listed = br, item
            continue
        # Pull quotes: the same text again further down. Keep the later copy, in context.
        needle = _needle(anchor)
        if len(needle) >= _MIN_REPEAT:
            found = haystack.find(needle, cursor)
            if found >= 0:
                cursor = found + len(needle)
                if haystack.find(needle, cursor) >= 0:
                    continue
        text = clean_inline(raw)
        if not is_prose(text):  # not prose once invisible junk is gone
            continue
        if held is not None:
            yield held
            yield from inside
        elif section is not None:
            yield Paragraph(section, prose=False)
        inside = []
        held = Paragraph(text, soft=soft and count > 0)
        count += 1
        joined, listed = br, item
    if held is not None:
        # The source ends here: was it cut short by its publisher? Only a source of one
        # paragraph (a summary) is judged without a mark.
        yield Paragraph(held.text, cut=publisher_cut(held.text, summary=count == 1),
                        soft=held.soft)
    elif fallback is not None:
        yield Paragraph(fallback, cut=publisher_cut(fallback, summary=True))
