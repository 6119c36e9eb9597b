"""HTML (or plain text) -> the article's paragraphs as raw text, in document order, lazily.

lexbor via selectolax: a real HTML5 parser, ~5x faster than lxml here. Block elements and <br>
end a paragraph; inline tags vanish into the text; whole subtrees that are never prose (scripts,
styles, navigation, forms, figure captions, ...) are skipped. Long content is parsed in two
steps so an excerpt that needs only the start costs only the start.
"""
from __future__ import annotations

import html
from collections.abc import Iterator
from itertools import chain
from typing import NamedTuple

from selectolax.lexbor import LexborHTMLParser, LexborNode

from formatters.text import remove_surrogates

# Longer bodies are cut before parsing: an excerpt only needs the start, and the tail only
# serves the pull-quote check.
MAX_CONTENT_CHARS = 300_000
_FIRST_PARSE = 6_000  # characters of HTML parsed before we know whether more are needed



class RawParagraph(NamedTuple):
    """A paragraph as read from the source, before any cleaning."""

    text: str
    anchor: str    # its longest text node: verbatim in the source (bar entities)
    br: bool       # it ended at a <br>: the next one is the next line of the same block
    item: bool     # it is a list item (<li>)

# Elements that end a paragraph. Text directly in one of them belongs to it.
BLOCKS = frozenset((
    "address", "article", "aside", "blockquote", "body", "br", "center", "dd", "details",
    "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1",
    "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "li", "main", "menu", "nav", "ol",
    "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul"
))
# Elements whose text is never prose: code, styling, widgets, and page chrome.
SKIP = frozenset((
    "script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "math",
    "canvas", "video", "audio", "select", "option", "button", "textarea", "input", "label",
    "nav", "header", "footer", "aside", "form", "figcaption", "head", "title", "menu", "dialog"
))
_MAX_DEPTH = 64  # unclosed tags can nest thousands deep; past this, stop looking upwards


def _block_context(parent: LexborNode) -> tuple[int, bool, bool]:
    """(id of the nearest block ancestor, whether any ancestor is a skipped element, whether
    that block is a list item)."""
    block = 0
    item = False
    node: LexborNode | None = parent
    for _ in range(_MAX_DEPTH):
        if node is None:
            break
        tag = node.tag
        if tag in SKIP:
            return block, True, item
        if not block and tag in BLOCKS:
            block = node.mem_id
            item = tag == "li"
        if tag == "body":
            break
        node = node.parent
    return block, False, item


def _html_paragraphs(tree: LexborHTMLParser,
                     given: list[str] | None = None) -> Iterator[RawParagraph]:
    """Each paragraph of the document, in order, lazily (see RawParagraph).

    The longest text node appears verbatim in the source (bar entities), which is what the
    pull-quote check searches for. A paragraph ended by one <br> is a line of a stanza or an
    address: the next one belongs to the same block; two <br> in a row end a paragraph. With
    `given`, the tree is a prefix of the document: its last paragraphs (maybe cut short) are
    held back and the texts yielded are recorded."""
    body = tree.body
    if body is None:
        return
    contexts: dict[int, tuple[int, bool, bool]] = {}
    parts: list[str] = []
    current = -1
    item = False  # the paragraph being read is a list item
    held: RawParagraph | None = None  # ended at a <br>: is the next thing another <br>?
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
            block, skipped, in_item = context
            if skipped:
                continue
            text = node.text_content or ""
            if held is not None and not text.isspace():
                if given is not None:
                    given.append(held.text)
                yield held
                held = None
            if block != current:
                if text.isspace():
                    continue  # source formatting between blocks, not a paragraph
                if parts:
                    if given is not None:
                        given.append("".join(parts))
                    yield RawParagraph("".join(parts), max(parts, key=len), False, item)
                    parts = []
                current, item = block, in_item
            parts.append(text)
        elif tag in BLOCKS:
            if parts and "".join(parts).strip():
                if held is not None:  # cannot happen: text flushed it
                    yield held
                held = RawParagraph("".join(parts), max(parts, key=len), tag == "br", item)
                parts = []
                if not held.br:
                    if given is not None:
                        given.append(held.text)
                    yield held
                    held = None
            elif held is not None:
                # A second <br> (or a block) before any text: a paragraph break after all.
                held = held._replace(br=False)
    if given is not None:
        return
    if held is not None:
        yield held
    if parts:
        yield RawParagraph("".join(parts), max(parts, key=len), False, item)


def parse_tree(content: str) -> LexborHTMLParser:
    try:
        return LexborHTMLParser(content)
    except UnicodeEncodeError:  # lone surrogates from a broken decoder: rare, so checked late
        return LexborHTMLParser(remove_surrogates(content))


def _html_stream(content: str) -> Iterator[RawParagraph]:
    """Paragraphs of HTML content; long content is parsed in two steps.

    An excerpt rarely needs more than the first few paragraphs, so the first _FIRST_PARSE
    characters are parsed alone (parsing is most of the cost). Only if the excerpt needs more
    is the whole content parsed, continuing after what was already given. The last paragraph
    of the prefix may be cut short, so it is always taken from the whole parse.
    """
    if len(content) <= _FIRST_PARSE * 3 // 2:
        return _html_paragraphs(parse_tree(content))
    given: list[str] = []
    return chain(_html_paragraphs(parse_tree(content[:_FIRST_PARSE]), given),
                 _rest(content, given))


def _rest(content: str, given: list[str]) -> Iterator[RawParagraph]:
    done = set(given)
    for index, item in enumerate(_html_paragraphs(parse_tree(content))):
        if index >= len(given) and item[0] not in done:
            yield item


def raw_paragraphs(content: str) -> tuple[str, int, Iterator[RawParagraph]]:
    """(text to search for repeats, where to start searching, raw paragraphs lazily).

    The anchor is the paragraph's longest text node: it appears verbatim in the source (bar
    entities), which is what a search for repeated text (pull quotes) needs."""
    content = content[:MAX_CONTENT_CHARS]
    if "<" not in content:  # a plain-text summary: entities may be escaped, lines are paragraphs
        full = html.unescape(content)
        return full, 0, (RawParagraph(line, line, False, False) for line in full.splitlines())
    # Repeats are searched for in the source itself: extracting the whole text would double
    # the parsing cost, and feed content has no scripts (feedparser removes them) to confuse
    # the search. A whole page's <head> (meta descriptions repeat the first paragraph) is
    # skipped.
    body = max(content.find("<body"), content.find("<BODY"), 0)
    return content, body, _html_stream(content)


