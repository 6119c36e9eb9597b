"""An article's body HTML -> the parts a rich message shows, in order, furniture dropped.

    body_parts(content_html, title=...) -> Body(parts=[Paragraph | Heading | Quote | ListPart],
                                                left_out={"code block": 2, ...})

The same judgement as the excerpt (`formatters.excerpt`): the same prompts ("اقرأ أيضاً",
"appeared first on", cookie banners), page chrome (login boxes, "back to top"), prose test and
title check. What the excerpt flattens, this keeps: headings, quotations, lists, and a pull
quote the page repeats (kept once, as a pull quote). Rules, in document order:

* Text before the first prose paragraph and short lines after the last one are page furniture
  (menus, bylines, tags, "back to top"): dropped. If the body has no prose at all, its first
  line of three words or more is kept (many feeds carry a one-line summary).
* `<h1>`-`<h6>` become headings (the title repeated, chrome and the titles of link lists such as
  "مقالات ذات صلة" are dropped). A short line on its own between prose paragraphs, after a
  finished sentence and before prose, with no sentence punctuation, is a subheading too
  (extracted pages and many feeds write subheadings as plain paragraphs); short lines in a run
  (verse, lists written as lines) stay paragraphs; a bracketed line is never a heading.
* Pull quotes, kept once as a pull quote: a paragraph the page repeats word for word (the last
  copy, where the excerpt keeps it), a paragraph whose text recurs inside another one (a
  sentence pulled out), and a `<blockquote>`/`<aside>` whose text the body carries (a
  paragraph equal to it is then dropped). An unrepeated `<blockquote>` stays a quotation (its
  `<cite>` the credit); an unrepeated `<aside>` is a sidebar and is dropped.
* Lists stay lists, except menus: link lists, lists of chrome, and lists above the article
  whose items are not sentences.
* WordPress's "[…] The post … appeared first on …" trailer is cut off the summary it ends.
* Code blocks, tables and images inside the body are left out and counted in `left_out` (the
  caller reports them); the article's lead image is the caller's business.
"""
from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from selectolax.lexbor import LexborNode

from formatters.excerpt import is_title
from formatters.furniture import is_chrome, is_prompt, is_prose
from formatters.paragraphs import BLOCKS, SKIP, parse_tree
from formatters.text import clean_inline, comparison_key

MAX_CONTENT_CHARS = 300_000   # a rich message holds 32,768 characters: more is never shown
_REPEAT_WINDOW = 600          # prose paragraphs searched for repeats (a message holds 500 blocks)
_MAX_DEPTH = 64
_SKIPPED = (SKIP - {"aside"}) | {"pre", "table"}
_LEFT_OUT = {"pre": "code block", "table": "table", "img": "image", "video": "video",
             "iframe": "embedded frame"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_QUOTES = frozenset({"blockquote", "aside"})
_LISTS = frozenset({"ul", "ol"})
SUBHEADING_MAX_WORDS = 12
HEADING_MAX_WORDS = 24
_MIN_PULLQUOTE = 20   # characters of letters/digits: shorter "repeats" are coincidences
_MIN_REPEAT = 40      # a paragraph repeated word for word must be this long to be a pull quote
# WordPress's "[…] The post <title> appeared first on <site>." glued to a summary: the summary
# is kept, the trailer goes (the excerpt drops the whole line).
_TRAILER = re.compile(
    r"\s*(?:The post|The article|ظهرت المقالة|ظهر المقال|المقالة)\s.{1,400}?"
    r"(?:appeared first on|أولاً على|أولا على)\s.{0,300}$", re.IGNORECASE | re.DOTALL)
_CUT_MARK = re.compile(r"\s*\[(?:…|\.\.\.)\]\s*$")
# Section titles of page furniture the excerpt's prompts do not name (they head link lists).
_FURNITURE_TITLE = re.compile(r"ذات صلة|قد يهمك|قد يعجبك|الأكثر قراءة|الأكثر مشاهدة|"
                              r"you may also like|more stories|recommended|most read|related",
                              re.IGNORECASE)
_TWO_LETTERS = re.compile(r"[^\W\d_]{2}")
_BRACKETED = re.compile(r"[\[(«\"“].*[\])»\"”]")


@dataclass(frozen=True, slots=True)
class Paragraph:
    text: str


@dataclass(frozen=True, slots=True)
class Heading:
    text: str
    level: int            # 2-6: the title is the only level-1 heading


@dataclass(frozen=True, slots=True)
class Quote:
    paragraphs: tuple[str, ...]
    credit: str = ""
    pull: bool = False    # a pull quote (the page repeats it) rather than a quotation


@dataclass(frozen=True, slots=True)
class ListPart:
    items: tuple[str, ...]
    ordered: bool = False


Part = Paragraph | Heading | Quote | ListPart


@dataclass(slots=True)
class Body:
    """The body's parts in reading order, and what could not be shown (kind -> count)."""

    parts: list[Part] = field(default_factory=list)
    left_out: Counter[str] = field(default_factory=Counter)


# --- reading the HTML -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Context:
    block: int            # mem_id of the nearest block element
    skipped: bool
    heading: int          # 0, or the level of the enclosing h1-h6
    quote: int            # 0, or mem_id of the enclosing blockquote/aside
    quote_tag: str
    cite: bool            # inside a <cite> of a quote: its credit
    item: int             # 0, or mem_id of the enclosing <li>
    list_id: int          # mem_id of that <li>'s list
    ordered: bool
    link: bool            # inside an <a>


def _context(parent: LexborNode) -> _Context:
    block = heading = quote = item = list_id = 0
    quote_tag = ""
    skipped = cite = link = ordered = False
    node: LexborNode | None = parent
    for _ in range(_MAX_DEPTH):
        if node is None:
            break
        tag = node.tag or ""
        if tag == "body":
            break
        if tag == "cite":
            cite = True
        elif tag in _SKIPPED:
            skipped = True
        if tag == "a":
            link = True
        if not block and tag in BLOCKS:
            block = node.mem_id
        if not heading and tag in _HEADINGS:
            heading = _HEADINGS[tag]
        if not quote and tag in _QUOTES:
            quote, quote_tag = node.mem_id, tag
        if not item and tag == "li":
            item = node.mem_id
        elif item and not list_id and tag in _LISTS:
            list_id, ordered = node.mem_id, tag == "ol"
        node = node.parent
    # A <cite> is furniture outside a quote, the quote's credit inside one.
    return _Context(block, skipped or (cite and not quote), heading, quote, quote_tag,
                    cite and bool(quote), item, list_id, ordered, link)


@dataclass(slots=True)
class _Raw:
    """One paragraph of source text with where it stood."""

    text: str
    context: _Context
    link_chars: int


def _raw_paragraphs(content: str, left_out: Counter[str]) -> Iterator[_Raw]:
    tree = parse_tree(content)
    body = tree.body
    if body is None:
        return
    contexts: dict[int, _Context] = {}
    parts: list[str] = []
    link_chars = 0
    current: _Context | None = None

    def flush() -> Iterator[_Raw]:
        nonlocal parts, link_chars
        if parts and current is not None:
            yield _Raw("".join(parts), current, link_chars)
        parts, link_chars = [], 0

    for node in body.traverse(include_text=True):
        tag = node.tag
        if tag != "-text":
            if tag in _LEFT_OUT:
                parent = node.parent
                if parent is None or not _context(parent).skipped:
                    left_out[_LEFT_OUT[tag]] += 1
            if tag in BLOCKS:
                yield from flush()
            continue
        parent = node.parent
        if parent is None:
            continue
        context = contexts.get(parent.mem_id)
        if context is None:
            context = contexts[parent.mem_id] = _context(parent)
        if context.skipped:
            continue
        text = node.text_content or ""
        if current is None or context.block != current.block or context.cite != current.cite:
            if text.isspace():
                continue  # source formatting between blocks
            yield from flush()
            current = context
        parts.append(text)
        if context.link:
            link_chars += len(text.strip())
    yield from flush()


def _plain_lines(content: str) -> Iterator[_Raw]:
    """A plain-text body (no markup): one paragraph per line."""
    context = _Context(0, False, 0, 0, "", False, 0, 0, False, False)
    for line in html.unescape(content).splitlines():
        yield _Raw(line, context, 0)


# --- judging -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Item:
    """A paragraph-level piece before the decisions that need the whole body."""

    kind: str             # "prose" | "short" | "heading" | "quote" | "list"
    text: str = ""
    level: int = 0
    group: int = 0        # quote or list id
    texts: list[str] = field(default_factory=list)
    credit: str = ""
    ordered: bool = False
    links: int = 0        # list items that are only a link


def _collect(raws: Iterator[_Raw], title_key: str) -> list[_Item]:
    items: list[_Item] = []
    groups: dict[int, _Item] = {}
    last_item: dict[int, int] = {}   # list id -> mem_id of the <li> its last text came from
    for raw in raws:
        text = _strip_trailer(clean_inline(raw.text))
        if not any(ch.isalnum() for ch in text) or is_prompt(text):
            continue  # nothing to read ("«", "* * *"), or a prompt
        ctx = raw.context
        if ctx.quote:
            quote = groups.get(ctx.quote)
            if quote is None:
                quote = groups[ctx.quote] = _Item("quote", group=ctx.quote, text=ctx.quote_tag)
                items.append(quote)
            if ctx.cite:
                quote.credit = f"{quote.credit} {text}".strip()
            else:
                quote.texts.append(text)
            continue
        if ctx.item and ctx.list_id:
            listing = groups.get(ctx.list_id)
            if listing is None:
                listing = groups[ctx.list_id] = _Item("list", group=ctx.list_id,
                                                      ordered=ctx.ordered)
                items.append(listing)
            if last_item.get(ctx.list_id) == ctx.item and listing.texts:
                listing.texts[-1] = f"{listing.texts[-1]} {text}"   # one <li>, several lines
            else:
                listing.texts.append(text)
                if raw.link_chars >= 0.8 * len(raw.text.strip()):
                    listing.links += 1
            last_item[ctx.list_id] = ctx.item
            continue
        if title_key and is_title(text, title_key):
            continue
        if ctx.heading:
            words = len(text.split())
            if words <= HEADING_MAX_WORDS and not is_chrome(text) \
                    and _FURNITURE_TITLE.search(text) is None:
                items.append(_Item("heading", text, level=min(max(ctx.heading, 2), 6)))
            continue
        items.append(_Item("prose" if is_prose(text) else "short", text))
    return items


def _strip_trailer(text: str) -> str:
    if "appeared first on" not in text.lower() and "أول" not in text:
        return text
    kept = _TRAILER.sub("", text)
    return _CUT_MARK.sub(" …", kept).strip() if kept != text else text


def _ends_sentence(text: str) -> bool:
    return text.rstrip("\"'\u201d\u2019\u00bb)]").endswith((".", "!", "?", "\u061f", "\u2026",
                                                              "\u06d4", ":"))


def _decide(items: list[_Item]) -> list[Part]:
    prose = [i for i, item in enumerate(items) if item.kind == "prose"]
    if not prose:
        return _fallback(items)
    first, last = prose[0], prose[-1]
    prose_keys = {i: comparison_key(items[i].text) for i in prose[:_REPEAT_WINDOW]}
    keys = Counter(prose_keys.values())
    # One string holding every searched paragraph: "is this text elsewhere too" is one count.
    haystack = "\x00".join(prose_keys.values())
    seen_prose: Counter[str] = Counter()
    quote_keys = {comparison_key(" ".join(item.texts)) for item in items if item.kind == "quote"}
    parts: list[Part] = []
    for index, item in enumerate(items):
        if item.kind == "prose":
            key = prose_keys.get(index, "")
            seen_prose[key] += 1
            if len(key) >= _MIN_PULLQUOTE and key in quote_keys:
                continue  # the pull quote itself shows it
            if len(key) >= _MIN_REPEAT and keys[key] > 1:
                if seen_prose[key] < keys[key]:
                    continue  # repeated word for word later: the last copy stays, in context
                parts.append(Quote((item.text,), pull=True))
            elif len(key) >= _MIN_REPEAT and haystack.count(key) > 1:
                parts.append(Quote((item.text,), pull=True))  # a sentence of another paragraph
            else:
                parts.append(Paragraph(item.text))
        elif item.kind == "heading":
            parts.append(Heading(item.text, item.level))
        elif item.kind == "short":
            if not first < index < last or is_chrome(item.text) or item.text.count("|") >= 2 \
                    or _TWO_LETTERS.search(item.text) is None \
                    or _FURNITURE_TITLE.search(item.text) is not None:
                continue
            if _is_subheading(items, index):
                parts.append(Heading(item.text, 2))
            else:
                parts.append(Paragraph(item.text))
        elif item.kind == "quote":
            quote = _quote(item, haystack)
            if quote is not None:
                parts.append(quote)
        elif item.kind == "list":
            kept = [t for t in item.texts if not (is_chrome(t) and len(t.split()) < 6)]
            if not kept or item.links * 2 > len(item.texts) or (
                    index < first and sum(map(is_prose, kept)) * 2 <= len(kept)):
                continue  # a list of links or of chrome, or a menu above the article
            parts.append(ListPart(tuple(kept), item.ordered))
    return _drop_orphan_headings(parts)


def _is_subheading(items: list[_Item], index: int) -> bool:
    """A short line alone, after a finished sentence (or a heading, quote or list) and before
    prose: how extracted pages and plain feeds write subheadings. Lines in a run (verse), lines
    after an unfinished one (a quotation's reference), bracketed lines and lines that end a
    sentence are not subheadings."""
    before, line, after = items[index - 1], items[index].text, items[index + 1]
    if before.kind == "short" or after.kind != "prose":
        return False
    if before.kind == "prose" and not _ends_sentence(before.text):
        return False
    return (len(line.split()) <= SUBHEADING_MAX_WORDS and not _ends_sentence(line)
            and _BRACKETED.fullmatch(line) is None)


def _quote(item: _Item, haystack: str) -> Quote | None:
    texts = [t for t in item.texts if not is_chrome(t) or len(t.split()) >= 6]
    if not texts:
        return None
    key = comparison_key(" ".join(texts))
    repeated = len(key) >= _MIN_PULLQUOTE and key in haystack
    if repeated:
        return Quote((" ".join(texts),), item.credit, pull=True)
    if item.text == "aside":
        return None  # a sidebar, not the article
    return Quote(tuple(texts), item.credit)


def _drop_orphan_headings(parts: list[Part]) -> list[Part]:
    """A heading must head something: drop one followed by nothing or by a heading at its
    own level or above."""
    kept: list[Part] = []
    for index, part in enumerate(parts):
        if isinstance(part, Heading):
            following = parts[index + 1] if index + 1 < len(parts) else None
            if following is None or (isinstance(following, Heading)
                                     and following.level <= part.level):
                continue
        kept.append(part)
    return kept


def _fallback(items: list[_Item]) -> list[Part]:
    """No prose at all: a one-line summary, if there is one."""
    for item in items:
        if item.kind == "short" and len(item.text.split()) >= 3 and not is_chrome(item.text) \
                and item.text.count("|") < 2:
            return [Paragraph(item.text)]
    return []


def body_parts(content: str, *, title: str = "") -> Body:
    """The body of an article (HTML, or plain text) as rich-message parts."""
    result = Body()
    content = (content or "")[:MAX_CONTENT_CHARS]
    if not content.strip():
        return result
    raws = _raw_paragraphs(content, result.left_out) if "<" in content \
        else _plain_lines(content)
    items = _collect(raws, comparison_key(title))
    result.parts = _decide(items)
    return result
