"""Plain text of an HTML fragment: titles, authors and the text an article's content hash is
taken from.

A tokenizer of our own, linear in its input: the standard library's HTMLParser (3.11) takes
quadratic time on malformed input (7 s for 100 KB of "<a", minutes for 1 MB) and raises
AssertionError on "<![<![", and HTML5 tree builders take quadratic time on deep nesting. For
well-formed HTML it gives what HTMLParser-based extraction gave (the content hashes of articles
already seen stay the same): text with entities decoded, script, style, noscript and template
left out, a space at the start and end of block elements, white space collapsed. A construct
left unclosed at the end (a tag, a comment, a quote) is kept as text, as HTMLParser did.
"""
from __future__ import annotations

import re
from html import unescape

__all__ = ["html_to_text"]

_SKIP = frozenset({"noscript", "template"})
_RAW = frozenset({"script", "style"})   # their content is not markup: skipped to the end tag
_BLOCK = frozenset({"p", "br", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
                    "blockquote", "tr", "td", "th", "section", "article", "figure",
                    "figcaption", "pre", "hr", "table"})
_SPACES = re.compile(r"\s+")
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_CDATA = re.compile(r"<!\[CDATA\[.*?\]\]>", re.S)
# As in HTMLParser, a quote opens a value only right after "="; elsewhere it is a character.
# Possessive quantifiers: a failed match is never retried from inside, and a value's quote is
# looked for only up to the next quote of its kind, so tags cost their length once.
_START_TAG = re.compile(
    r"""<([A-Za-z][^\s/>]*+)(?:[^>"'=]++|=\s*+"[^"]*+"|=\s*+'[^']*+'|=|["'])*+>""")
_END_TAG_NAME = re.compile(r"</\s*([A-Za-z][^\s/>]*)")
_RAW_END = {name: re.compile(rf"</\s*{name}\s*>", re.I) for name in _RAW}


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment, entities decoded and whitespace collapsed."""
    if "<" not in html and "&" not in html:
        return _SPACES.sub(" ", html).strip()
    parts: list[str] = []
    text: list[str] = []        # text since the last tag, unescaped together like HTMLParser
    skipping = 0
    pos, n = 0, len(html)

    def flush() -> None:
        if text:
            if not skipping:
                parts.append(unescape("".join(text)))
            text.clear()

    while pos < n:
        lt = html.find("<", pos)
        if lt < 0:
            text.append(html[pos:])
            break
        text.append(html[pos:lt])
        nxt = html[lt + 1:lt + 2]
        end = -1
        if html.startswith("<!--", lt):
            m = _COMMENT.match(html, lt)
            end = m.end() if m else -1
        elif html.startswith("<![CDATA[", lt):
            m = _CDATA.match(html, lt)
            end = m.end() if m else -1
        elif nxt in ("!", "?", "/"):
            close = html.find(">", lt)
            end = close + 1 if close >= 0 else -1
            if end > 0 and nxt == "/":
                flush()
                if name_match := _END_TAG_NAME.match(html, lt, end):
                    name = name_match.group(1).lower()
                    if name in _SKIP and skipping:
                        skipping -= 1
                    elif name in _BLOCK:
                        parts.append(" ")
        elif nxt.isascii() and nxt.isalpha():
            m = _START_TAG.match(html, lt)
            end = m.end() if m else -1
            if m:
                flush()
                name = m.group(1).lower()
                self_closing = m.group(0).endswith("/>")
                if name in _SKIP:
                    skipping += 0 if self_closing else 1
                elif name in _BLOCK:
                    parts.append("  " if self_closing else " ")
                elif name in _RAW and not self_closing:
                    raw_end = _RAW_END[name].search(html, end)
                    end = raw_end.end() if raw_end else n
        else:
            text.append("<")    # a "<" that starts no markup is text
            pos = lt + 1
            continue
        if end < 0:             # unclosed to the end of the input: the rest is text
            text.append(html[lt:])
            break
        pos = end
    flush()
    return _SPACES.sub(" ", "".join(parts)).strip()
