"""The excerpt: the first paragraphs of an article as clean text, cut to a budget.

Steps: HTML -> paragraphs (lexbor via selectolax: a real HTML5 parser, ~5x faster than lxml
here) -> drop page furniture (navigation, login boxes, captcha, share prompts, "back to top",
short lines with no sentence, the title repeated, pull quotes repeated later) -> join what
fits -> cut the last paragraph at a sentence, else a clause, else a word, and mark the cut
with "…". The cut works on plain text, before any escaping, at whitespace or punctuation,
so it can never land inside an HTML entity, a URL or a grapheme cluster.

Only as many paragraphs as the budget needs are read and cleaned, which keeps a 10 KB article
cheap; "repeated later" is checked against the whole source.
"""
from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain

import regex
from selectolax.lexbor import LexborHTMLParser, LexborNode

from formatters.text import clean_inline, comparison_key, remove_surrogates

# Longer bodies are cut before parsing: an excerpt only needs the start, and the tail only
# serves the pull-quote check.
MAX_CONTENT_CHARS = 300_000
_FIRST_PARSE = 6_000  # characters of HTML parsed before we know whether more are needed
ELLIPSIS = "…"

# Elements that end a paragraph. Text directly in one of them belongs to it.
_BLOCKS = frozenset((
    "address", "article", "aside", "blockquote", "body", "br", "center", "dd", "details",
    "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1",
    "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "li", "main", "menu", "nav", "ol",
    "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul"
))
# Elements whose text is never prose: code, styling, widgets, and page chrome.
_SKIP = frozenset((
    "script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "math",
    "canvas", "video", "audio", "select", "option", "button", "textarea", "input", "label",
    "nav", "header", "footer", "aside", "form", "figcaption", "head", "title", "menu", "dialog"
))
_MAX_DEPTH = 64  # unclosed tags can nest thousands deep; past this, stop looking upwards

# Lines that are never the article, whatever their length: prompts at the start of a line...
_PROMPT = re.compile(
    r"[\W_]*(?:"
    r"اقرأ أيض|إقرأ أيض|اقرأ المزيد|إقرأ المزيد|اقرأ ايض|شاهد أيض|طالع أيض|للمزيد"
    r"|اضغط هنا|انقر هنا|اشترك في|اشترك الآن|تابعونا|تابعنا|شارك(?:ها)? (?:على|عبر)"
    r"|جميع الحقوق محفوظة|حقوق النشر"
    r"|read (?:more|also|the full)|see also|related(?: articles| posts| stories)?:"
    r"|continue reading|click here|subscribe (?:to|now)|sign up (?:for|to)|follow us"
    r"|share (?:this|on)|all rights reserved|copyright|advertisement"
    r"|يستخدم هذا الموقع|we use cookies|this (?:site|website) uses cookies|nous utilisons des cookies"
    r"|[^.]{0,40} no longer supports|please (?:upgrade|update) your browser|javascript is disabled"
    r")"
)  # matched against lower-cased text: IGNORECASE is slow on Arabic
_PROMPT_SPAN = 40  # a prompt starts within this many characters
# ... and WordPress's footer line or a copyright notice anywhere in it.
_FOOTER_WORDS = ("appeared first on", "ظهرت أولاً على", "\u00a9")

# Page chrome: a short line holding one of these is not used even as a last resort.
_CHROME_PHRASES = (
    "تسجيل الدخول", "تسجيل الخروج", "اسم المستخدم", "كلمة المرور", "كلمة السر", "رمز التحقق",
    "تواصل معنا", "اتصل بنا", "من نحن", "أعلى الصفحة", "إلى الأعلى", "للأعلى",
    "log in", "log out", "sign in", "sign up", "back to top", "about us", "contact us",
)
_CHROME_WORDS = frozenset((
    "أعلى", "الرئيسية", "شارك", "مشاركة", "طباعة", "تعليق", "التعليقات", "بحث", "القائمة",
    "login", "logout", "signin", "signup", "register", "username", "password", "captcha",
    "contact", "home", "top", "share", "tweet", "print", "comment", "comments", "menu",
    "search", "newsletter"
))
_WORD = re.compile(r"\w+")


def _is_prompt(text: str) -> bool:
    lowered = text.lower()
    if _PROMPT.match(lowered, 0, _PROMPT_SPAN) is not None:
        return True
    return any(word in lowered for word in _FOOTER_WORDS)


def _is_chrome(text: str) -> bool:
    lowered = text.lower()
    if any(phrase in lowered for phrase in _CHROME_PHRASES):
        return True
    return not _CHROME_WORDS.isdisjoint(_WORD.findall(lowered))


# A sentence ends with one of these, possibly followed by closing quotes or brackets.
_TERMINAL = re.compile("[.!?\u061f\u2026\u06d4][\"'\u201d\u2019\u00bb)\\]]*$")
_SENTENCE_END = re.compile("[.!?\u061f\u2026\u06d4]+[\"'\u201d\u2019\u00bb)\\]]*(?=\\s)")
_CLAUSE_END = re.compile("[\u060c\u061b,;](?=\\s)")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# Characters a source may write as entities, so never part of a search for repeated text.
_ENTITY_PRONE = re.compile("[&<>\"'\u00a0]")
_MIN_REPEAT = 40  # shorter repeats are not pull quotes (and are dropped as short lines anyway)
_GRAPHEME = regex.compile(r"\X")
_TRAILING_PUNCT = " \u060c\u061b,;:-\u2013\u2014"

MIN_WORDS = 4        # fewer words than this is never a paragraph of prose
SENTENCE_WORDS = 15  # this many words counts as prose even without a full stop
MIN_CUT_FRACTION = 0.4  # a sentence or clause cut must keep at least this much of the room


def _block_context(parent: LexborNode) -> tuple[int, bool]:
    """(id of the nearest block ancestor, whether any ancestor is a skipped element)."""
    block = 0
    node: LexborNode | None = parent
    for _ in range(_MAX_DEPTH):
        if node is None:
            break
        tag = node.tag
        if tag in _SKIP:
            return block, True
        if not block and tag in _BLOCKS:
            block = node.mem_id
        if tag == "body":
            break
        node = node.parent
    return block, False


def _html_paragraphs(tree: LexborHTMLParser,
                     given: list[str] | None = None) -> Iterator[tuple[str, str]]:
    """(raw text, longest text node) of each paragraph, in document order, lazily.

    The longest text node appears verbatim in the source (bar entities), which is what the
    pull-quote check searches for. With `given`, the tree is a prefix of the document: the
    last paragraph (maybe cut short) is held back and the texts yielded are recorded."""
    body = tree.body
    if body is None:
        return
    contexts: dict[int, tuple[int, bool]] = {}
    parts: list[str] = []
    current = -1
    for node in body.traverse(include_text=True):
        tag = node.tag
        if tag == "-text":
            parent = node.parent
            if parent is None:
                continue
            key = parent.mem_id
            context = contexts.get(key)
            if context is None:
                context = contexts[key] = _block_context(parent)
            block, skipped = context
            if skipped:
                continue
            text = node.text_content or ""
            if block != current:
                if text.isspace():
                    continue  # source formatting between blocks, not a paragraph
                if parts:
                    if given is not None:
                        given.append("".join(parts))
                    yield "".join(parts), max(parts, key=len)
                    parts = []
                current = block
            parts.append(text)
        elif tag in _BLOCKS and parts:
            if given is not None:
                given.append("".join(parts))
            yield "".join(parts), max(parts, key=len)
            parts = []
    if parts and given is None:
        yield "".join(parts), max(parts, key=len)


def _is_prose(text: str) -> bool:
    if text.count("|") >= 2:
        return False  # "Home | World | Politics", or a masthead: "editor: x | deputy: y | ..."
    words = len(text.split())
    if words < MIN_WORDS:
        return False
    return words >= SENTENCE_WORDS or _TERMINAL.search(text) is not None


@dataclass(slots=True)
class Excerpt:
    """The candidate paragraphs of an article (clean text, furniture removed), read lazily,
    and the excerpt they give for a budget."""

    _source: Iterator[str]
    paragraphs: list[str] = field(default_factory=list)
    _exhausted: bool = False

    @classmethod
    def from_content(cls, content: str, *, title: str = "") -> Excerpt:
        """Candidates from a feed's content or summary HTML (plain text works too)."""
        return cls(_candidates(content or "", title))

    def _fill(self, count: int) -> None:
        while not self._exhausted and len(self.paragraphs) < count:
            try:
                self.paragraphs.append(next(self._source))
            except StopIteration:
                self._exhausted = True

    @property
    def empty(self) -> bool:
        """True when the article has no usable body text."""
        self._fill(1)
        return not self.paragraphs

    def text(self, budget: int) -> str:
        """The excerpt: whole paragraphs while they fit, then a cut one; "…" whenever the
        article goes on after it. At most `budget` code points; "" if nothing fits."""
        out: list[str] = []
        used = 0
        index = 0
        while True:
            self._fill(index + 1)
            if index >= len(self.paragraphs):
                return "\n\n".join(out)  # the whole text fitted
            paragraph = self.paragraphs[index]
            gap = 2 if out else 0
            if used + gap + len(paragraph) <= budget:
                out.append(paragraph)
                used += gap + len(paragraph)
                index += 1
                continue
            room = budget - used - gap
            if out and room < max(60, budget // 4):
                # Too little room to start another paragraph: end on a paragraph boundary.
                return _close("\n\n".join(out), budget)
            piece = cut_text(paragraph, room)
            if piece:
                out.append(piece)
            elif out:
                return _close("\n\n".join(out), budget)
            return "\n\n".join(out)


def _close(text: str, budget: int) -> str:
    """Mark that the article continues after a complete paragraph."""
    if text.endswith(ELLIPSIS):
        return text
    if len(text) + 2 <= budget:
        return f"{text} {ELLIPSIS}"
    return cut_text(text, budget)


def _tree(content: str) -> LexborHTMLParser:
    try:
        return LexborHTMLParser(content)
    except UnicodeEncodeError:  # lone surrogates from a broken decoder: rare, so checked late
        return LexborHTMLParser(remove_surrogates(content))


def _html_stream(content: str) -> Iterator[tuple[str, str]]:
    """Paragraphs of HTML content; long content is parsed in two steps.

    An excerpt rarely needs more than the first few paragraphs, so the first _FIRST_PARSE
    characters are parsed alone (parsing is most of the cost). Only if the excerpt needs more
    is the whole content parsed, continuing after what was already given. The last paragraph
    of the prefix may be cut short, so it is always taken from the whole parse.
    """
    if len(content) <= _FIRST_PARSE * 3 // 2:
        return _html_paragraphs(_tree(content))
    given: list[str] = []
    return chain(_html_paragraphs(_tree(content[:_FIRST_PARSE]), given),
                 _rest(content, given))


def _rest(content: str, given: list[str]) -> Iterator[tuple[str, str]]:
    done = set(given)
    for index, item in enumerate(_html_paragraphs(_tree(content))):
        if index >= len(given) and item[0] not in done:
            yield item


def _parse(content: str) -> tuple[str, int, Iterator[tuple[str, str]]]:
    """(text to search for repeats, where to start searching, (paragraph, anchor) lazily)."""
    if "<" not in content:  # a plain-text summary: entities may be escaped, lines are paragraphs
        full = html.unescape(content)
        return full, 0, ((line, line) for line in full.splitlines())
    # Repeats are searched for in the source itself: extracting the whole text would double
    # the parsing cost, and feed content has no scripts (feedparser removes them) to confuse
    # the search. A whole page's <head> (meta descriptions repeat the first paragraph) is
    # skipped.
    body = max(content.find("<body"), content.find("<BODY"), 0)
    return content, body, _html_stream(content)


def _needle(anchor: str) -> str:
    """The longest piece of a text node that the source cannot have written as entities."""
    pieces = _ENTITY_PRONE.split(anchor)
    return max(pieces, key=len) if len(pieces) > 1 else anchor


def _is_title(text: str, title_key: str) -> bool:
    """The title again, maybe with the site's name after it."""
    key = comparison_key(text)
    if key == title_key:
        return True
    # "Title - Site name"; only for titles long enough not to be a common first word.
    return len(title_key) >= 8 and key.startswith(title_key) and len(key) - len(title_key) < 30


def _candidates(content: str, title: str) -> Iterator[str]:
    haystack, cursor, raw_paragraphs = _parse(content[:MAX_CONTENT_CHARS])
    title_key = comparison_key(title)
    title_span = 2 * len(title) + 40
    fallback: str | None = None
    produced = False
    for raw, anchor in raw_paragraphs:
        raw = raw.strip()
        if not raw:
            continue
        # Classify the raw text (cheap, and the tests below survive stray controls); clean
        # only what is kept.
        if _is_prompt(raw):
            continue
        if not _is_prose(raw):
            # Kept aside in case the whole body is one short line (many feeds' summaries).
            if fallback is None and len(raw.split()) >= 3:
                text = clean_inline(raw)
                if (len(text.split()) >= 3 and not _is_chrome(text)
                        and not (title_key and _is_title(text, title_key))):
                    fallback = text
            continue
        if title_key and len(raw) <= title_span and _is_title(raw, title_key):
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
        if _is_prose(text):  # still prose once invisible junk is gone
            produced = True
            yield text
    if not produced and fallback is not None:
        yield fallback


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
    best = -1
    for match in _SENTENCE_END.finditer(text, 0, limit - 1):
        best = match.end()
    if best >= floor and best > 0:
        kept = text[:best]
        return kept if kept.endswith(ELLIPSIS) else f"{kept} {ELLIPSIS}"
    best = -1
    for match in _CLAUSE_END.finditer(text, 0, limit + 1):
        if match.start() <= limit - 1:
            best = match.start()
    if best >= floor and best > 0:
        return _strip_end(text[:best]) + ELLIPSIS
    space = text.rfind(" ", 0, limit)
    if space > 0:
        kept = _strip_end(text[:space])
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
