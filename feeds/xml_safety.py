"""What feedparser is given: the document with its prolog rebuilt and its entities resolved.

The DTD is the one part of XML that can make a small body expensive (billion laughs, quadratic
blow-up) or reach outside the document (external entities). So no DTD reaches feedparser: the
prolog is scanned once, the internal subset's entity declarations are read, harmless ones are
expanded here and the rest are refused if the document uses them. feedparser then sees an XML
declaration, the DOCTYPE's name and public id (it tells RSS 0.91 apart by them), and the root
element onwards. Every step is a single pass over the text.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from model.errors import FeedParseError, FetchErrorKind

__all__ = ["Prolog", "safe_document", "scan_prolog"]

MAX_DOCTYPE = 65_536
UNSAFE = ("the feed uses XML entities that point outside the document or expand without "
          "bound; it was refused for safety")
_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'

_ENTITY_DECL = re.compile(
    r"""<!ENTITY\s+(%\s+)?([^\s"'%>]+)\s+(?:"([^"]*)"|'([^']*)'|(SYSTEM|PUBLIC)\b)""")
# A harmless entity value: one character reference, or a short plain text. With at most 32
# characters per reference of at least 3, expansion stays within a few times the body, which is
# itself bounded by the fetcher (and the growth is capped below).
_SAFE_VALUE = re.compile(r"&#(?:[0-9]+|x[0-9a-fA-F]+);|[^&%<]{0,32}")
_PREDEFINED = frozenset({"amp", "lt", "gt", "quot", "apos"})
# Entity references outside CDATA sections and comments (where "&x;" is literal text). An
# unclosed section or comment runs to the end of the text, so no span is scanned twice.
_REFERENCES = re.compile(
    r"<!\[CDATA\[(?:.*?\]\]>|.*\Z)|<!--(?:.*?-->|.*\Z)|&([A-Za-z_:][\w.:-]*);", re.S)
_ELEMENT_START = re.compile(r"<[A-Za-z_:]")


@dataclass(frozen=True, slots=True)
class Prolog:
    """Where the parts before the root element are: the DOCTYPE (start, end) if there is one,
    and where the root element starts (-1 if nowhere)."""

    doctype: tuple[int, int] | None
    root: int


def _doctype_end(text: str, start: int) -> int:
    """The end of the DOCTYPE declaration starting at `start` (internal subset included).

    A small scanner rather than a regex: quoted values and comments in the DTD may contain
    "<x" or "]>", and cutting the DTD short would let declarations slip past the checks.
    """
    n = len(text)
    quote: str | None = None
    in_subset = False
    i = start + 9
    limit = min(n, start + MAX_DOCTYPE)
    while i < limit:
        c = text[i]
        if quote:
            if c == quote:
                quote = None
        elif text.startswith("<!--", i):
            end = text.find("-->", i, limit)
            i = end + 2 if end >= 0 else limit
        elif c in "\"'":
            quote = c
        elif c == "[":
            in_subset = True
        elif c == "]":
            in_subset = False
        elif c == ">" and not in_subset:
            return i + 1
        i += 1
    if limit < n:  # real feeds' DTDs are a few hundred bytes; a huge one is an attack
        raise FeedParseError("the feed's XML type declaration is unusually large; it was "
                             "refused for safety", kind=FetchErrorKind.UNSAFE_XML)
    return n  # unterminated: every declaration in the rest is still checked


def scan_prolog(text: str) -> Prolog:
    """One pass over what precedes the root element: white space, processing instructions,
    comments and one DOCTYPE. Anything else there (stray text, a misplaced declaration) is
    skipped up to the first element start."""
    pos, n = 0, len(text)
    doctype: tuple[int, int] | None = None
    while pos < n:
        c = text[pos]
        if c in "\ufeff \t\r\n":
            pos += 1
        elif text.startswith("<?", pos):
            end = text.find("?>", pos)
            pos = end + 2 if end >= 0 else n
        elif text.startswith("<!--", pos):
            end = text.find("-->", pos)
            pos = end + 3 if end >= 0 else n
        elif doctype is None and text[pos:pos + 9].upper() == "<!DOCTYPE":
            doctype = (pos, _doctype_end(text, pos))
            pos = doctype[1]
        else:
            break
    root = _ELEMENT_START.search(text, pos) if pos < n else None
    return Prolog(doctype, root.start() if root else -1)


def _declarations(subset: str) -> Iterator[str]:
    """The `<!ENTITY` declarations of an internal subset, skipping comments and quoted text."""
    i, n = 0, len(subset)
    while i < n:
        c = subset[i]
        if subset.startswith("<!--", i):
            end = subset.find("-->", i)
            i = end + 3 if end >= 0 else n
        elif subset.startswith("<!ENTITY", i):
            m = _ENTITY_DECL.match(subset, i)
            if m is None:
                raise FeedParseError(UNSAFE, kind=FetchErrorKind.UNSAFE_XML)
            yield m.group(0)
            i = m.end()
        elif c in "\"'":
            end = subset.find(c, i + 1)
            i = end + 1 if end >= 0 else n
        else:
            i += 1


def _escape_value(value: str) -> str:
    # The value lands in element content or in an attribute value quoted either way.
    return value.replace('"', "&quot;").replace("'", "&apos;").replace(">", "&gt;")


def _entities(doctype: str, used: set[str]) -> dict[str, str]:
    """The harmless general entities of the DTD, by name, ready to insert. Raises
    FeedParseError when the document uses an entity that is external, nested or long."""
    bracket = doctype.find("[")
    if bracket < 0 or "<!ENTITY" not in doctype:
        return {}
    safe: dict[str, str] = {}
    for decl in _declarations(doctype[bracket:]):
        m = _ENTITY_DECL.match(decl)
        assert m is not None
        percent, name, dq, sq, external = m.groups()
        if percent:
            # Parameter entities and their references (%name;) live in the DTD only, which
            # feedparser never sees.
            continue
        value = dq if dq is not None else sq or ""
        if not external and _SAFE_VALUE.fullmatch(value):
            if name not in safe and name not in _PREDEFINED:  # XML: the first one counts
                safe[name] = _escape_value(value)
        elif name in used and name not in safe:
            raise FeedParseError(UNSAFE, kind=FetchErrorKind.UNSAFE_XML)
    return safe


def _used(text: str, start: int) -> set[str]:
    return {m.group(1) for m in _REFERENCES.finditer(text, start) if m.group(1)}


def safe_document(text: str) -> str:
    """The document to hand feedparser: a UTF-8 XML declaration, the DOCTYPE without its
    internal subset, and the text from the root element on with harmless declared entities
    expanded. Raises FeedParseError (UNSAFE_XML) for entity bombs and external entities."""
    prolog = scan_prolog(text)
    start = prolog.root if prolog.root >= 0 else len(text)
    head = ""
    body = text[start:]
    if prolog.doctype is not None:
        d_start, d_end = prolog.doctype
        doctype = text[d_start:d_end]
        bracket = doctype.find("[")
        head = (doctype[:bracket] if bracket >= 0 else doctype.rstrip(">")).rstrip() + ">\n"
        if "<!ENTITY" in doctype:
            entities = _entities(doctype, _used(text, start))
            if entities:
                body = _expand(body, entities)
    return _DECLARATION + head + _defuse_char_refs(body)


# Numeric character references to what no UTF-8 text can hold (a surrogate, NUL, beyond
# U+10FFFF): feedparser hands them on as lone surrogates, which cannot be hashed, stored in Redis
# or sent to Telegram. They become U+FFFD, as a decoder makes of broken bytes.
_CHAR_REF = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));")


def _defuse_char_refs(text: str) -> str:
    if "&#" not in text:
        return text

    def fix(match: re.Match[str]) -> str:
        hex_digits, decimal = match.groups()
        code = int(hex_digits, 16) if hex_digits else int(decimal)
        if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
            return match.group(0)
        return "&#xFFFD;"

    return _CHAR_REF.sub(fix, text)


def _expand(body: str, entities: dict[str, str]) -> str:
    growth = 0

    def replace(m: re.Match[str]) -> str:
        nonlocal growth
        name = m.group(1)
        if name is None or name not in entities:
            return m.group(0)
        value = entities[name]
        growth += len(value) - len(m.group(0))
        if growth > limit:  # twice the body at most: declared text, not an amplifier
            raise FeedParseError(UNSAFE, kind=FetchErrorKind.UNSAFE_XML)
        return value

    limit = max(len(body), 4096)
    return _REFERENCES.sub(replace, body)
