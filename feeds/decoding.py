"""Feed bytes -> text: which character encoding a feed is really in.

feedparser guesses undeclared Arabic encodings wrong and trusts HTTP headers that are often a
server's default, so the parser decodes the bytes itself and hands feedparser UTF-8. Every step
here is linear in the body, and detection looks at a bounded sample.
"""
from __future__ import annotations

import codecs
import re
import unicodedata

import charset_normalizer
from charset_normalizer.md import mess_ratio

__all__ = ["decode_body"]

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Without a BOM, an XML document in UTF-16 or UTF-32 still starts with "<" (or white space) in
# its code units, so the zero bytes around it name the encoding (XML 1.0, appendix F).
_UNIT_PATTERNS = (
    ("utf-32-be", 4, 3), ("utf-32-le", 4, 0), ("utf-16-be", 2, 1), ("utf-16-le", 2, 0),
)
_XML_DECL_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.I)
# Markup is ASCII and drowns the signal: detection and plausibility look at the text between
# tags. "[^<>]" keeps this linear on a body of unclosed "<".
_TAGS_BYTES = re.compile(rb"<[^<>]*>")
_TAGS = re.compile(r"<[^<>]*>")
_SAMPLE_BYTES = 200_000

# Arabic first: these are tried beside the detector's guesses, and win ties, because short
# undeclared Arabic feeds are where general detectors go wrong (they read windows-1256 bytes as
# Hebrew windows-1255). For Latin text the tie is harmless: windows-1256 keeps the French letters
# of windows-1252 at the same bytes.
_PREFERRED_SINGLE_BYTE = ("cp1256", "iso8859-6")
_WIDE = frozenset({"utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"})
_MULTI_BYTE_PREFIXES = ("gb", "big5", "shift", "euc", "iso2022", "cp932", "cp949", "cp950",
                        "johab", "hz")
# A UTF-8 body with a few stray bytes (a pasted Windows quote) is still UTF-8: it is decoded
# with replacement characters when there are at most half as many of them as well-formed
# non-ASCII characters. Single-byte text read as UTF-8 is almost all replacement characters:
# its accented and Arabic letters rarely form valid sequences.
_STRAYS_PER_VALID = 0.5


def _codec(name: str) -> str | None:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _single_byte(codec: str) -> bool:
    return (codec not in _WIDE and codec not in {"utf-8", "utf-8-sig"}
            and not codec.startswith(_MULTI_BYTE_PREFIXES))


def _unit_encoding(body: bytes) -> str | None:
    """UTF-16 or UTF-32 without a BOM, told by where the zero bytes of an ASCII prolog are."""
    head = body[:64]
    for codec, width, ascii_at in _UNIT_PATTERNS:
        units = len(head) // width
        if units < 2:
            continue
        ok = True
        for i in range(units):
            unit = head[i * width:(i + 1) * width]
            char = unit[ascii_at]
            if not (0x09 <= char < 0x80) or any(b for j, b in enumerate(unit) if j != ascii_at):
                ok = False
                break
        if ok:
            return codec
    return None


def _script_score(text: str) -> float:
    """How plausible a decoding is: the share of its non-ASCII characters that belong to one
    script (by Unicode name: "ARABIC LETTER…", "ARABIC COMMA" both count for Arabic). Wrong
    code pages scatter the bytes over several scripts and symbols."""
    counts: dict[str, float] = {}
    total = 0.0
    for ch in text:
        if ch.isascii():
            continue
        # Bulk combining marks are suspicious: Arabic read as windows-1255 turns into Hebrew
        # letters and vowel points.
        weight = 0.5 if unicodedata.category(ch).startswith("M") else 1.0
        total += weight
        script = unicodedata.name(ch, "?").split(" ", 1)[0]
        counts[script] = counts.get(script, 0.0) + weight
        if total >= 20_000:
            break
    if not total:
        return 1.0
    return max(counts.values()) / total


def _detect(body: bytes) -> str | None:
    sample = _TAGS_BYTES.sub(b" ", body[:_SAMPLE_BYTES])
    candidates: list[str] = list(_PREFERRED_SINGLE_BYTE)
    for match in list(charset_normalizer.from_bytes(sample))[:3]:
        codec = _codec(match.encoding)
        if codec and codec not in candidates:
            candidates.append(codec)
    best: tuple[float, int, str] | None = None
    for rank, codec in enumerate(candidates):
        try:
            decoded = sample.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
        key = (_script_score(decoded), -rank, codec)
        if best is None or key > best:
            best = key
    return best[2] if best else None


def _plausibility(text: str) -> tuple[float, float]:
    """Sort key, lower is more plausible: charset_normalizer's mess ratio (accented letters in
    runs, symbols between letters, control characters: what a wrong code page produces), then
    how scattered over scripts the non-ASCII characters are."""
    sample = _TAGS.sub(" ", text[:_SAMPLE_BYTES])
    return mess_ratio(sample, 1.0), -_script_score(sample)


def _mostly_utf8(body: bytes) -> str | None:
    text = body.decode("utf-8", "replace")
    strays = text.count("\ufffd")
    valid = sum(1 for ch in text if not ch.isascii()) - strays
    return text if valid and strays <= _STRAYS_PER_VALID * valid else None


def decode_body(body: bytes, content_type: str = "") -> tuple[str, str]:
    """Decode feed bytes to text; returns (text, codec name).

    Order: a BOM; the zero bytes of UTF-16/32 without one; then the XML declaration and the
    HTTP charset — when they disagree and both decode, the one that reads as plausible text
    wins (a windows-1256 header over an iso-8859-1 template declaration is Arabic, not Latin
    gibberish), the declaration on a tie; then UTF-8; then detection. A declared single-byte
    charset loses to valid UTF-8 with non-ASCII text in it, because CMS templates often declare
    iso-8859-1 over UTF-8 content, while real single-byte Arabic text is practically never
    valid UTF-8.
    """
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom):].decode(codec, "replace"), codec
    if wide := _unit_encoding(body):
        try:
            return body.decode(wide), wide
        except UnicodeDecodeError:
            pass
    declared: list[str] = []
    if m := _XML_DECL_ENCODING.match(body[:512]):
        declared.append(m.group(1).decode("ascii"))
    if m2 := _CHARSET_PARAM.search(content_type):
        declared.append(m2.group(1))
    utf8_text: str | None
    try:
        utf8_text = body.decode("utf-8")
    except UnicodeDecodeError:
        utf8_text = None
    ascii_only = body.isascii()
    options: list[tuple[str, str]] = []
    for name in declared:
        found = _codec(name)
        # An ASCII-readable declaration that names UTF-16/32 is wrong about itself.
        if found is None or found in _WIDE or any(found == c for c, _ in options):
            continue
        codec = found
        if utf8_text is not None and _single_byte(codec) and not ascii_only:
            codec, text = "utf-8", utf8_text
        else:
            try:
                text = body.decode(codec)
            except UnicodeDecodeError:
                continue
        if all(codec != c for c, _ in options):
            options.append((codec, text))
    if len(options) > 1 and not ascii_only:
        return min(options, key=lambda o: _plausibility(o[1]))[::-1]
    if options:
        return options[0][1], options[0][0]
    if utf8_text is not None:
        return utf8_text, "utf-8"
    if (mostly := _mostly_utf8(body)) is not None:
        return mostly, "utf-8"
    detected = _detect(body)
    if detected is not None:
        try:
            return body.decode(detected), detected
        except UnicodeDecodeError:
            pass
    return body.decode("windows-1252", "replace"), "windows-1252"
