"""Cleaning untrusted text (feed titles, bodies, authors, categories) before it enters a post.

Everything a feed sends is treated as hostile: it may carry bidi controls that reorder the post
(Trojan-Source style spoofing), zero-width characters that hide text or defeat deduplication,
control characters, lone surrogates (not encodable as UTF-8, so Telegram refuses the request),
combining marks without a letter to sit on, and "Zalgo" stacks of marks. We remove all of it
here, once, so that the bidi marks the post carries are only the ones `formatters.rtl` adds.
"""
from __future__ import annotations

import re

import regex

# Removed outright. Bidi embeddings/overrides/isolates/marks from the input (U+202A-202E,
# U+2066-2069, LRM/RLM/ALM): we add our own, balanced. Invisible format characters (ZWSP, word
# joiner and invisible operators, BOM, soft hyphen, Mongolian vowel separator, CGJ): they hide
# text and break duplicate detection. U+030A/U+0333/U+033F: Telegram deletes them anyway, so
# dropping them keeps our length count equal to what subscribers get. Interlinear annotation
# and tag characters, noncharacters, C1 controls and DEL: never meaningful in a post. Lone
# surrogates: not UTF-8, Telegram answers "Text must be encoded in UTF-8".
_DROP = re.compile(
    "[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c"
    "\u200b\u2060-\u2064\ufeff\u00ad\u180e\u034f"
    "\u030a\u0333\u033f"
    "\ufff9-\ufffb\ufffe\uffff\U000e0000-\U000e007f"
    "\x7f-\x84\x86-\x9f"
    "\ud800-\udfff]"
)
# C0 controls other than line breaks: Telegram turns them into spaces, so do we.
_CONTROL = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1f]")
# Every way of writing a line break becomes "\n" (Telegram deletes U+2028/U+2029 and "\r").
_NEWLINE = re.compile("\r\n?|[\u2028\u2029\x85]")
# ZWNJ is real orthography between two letters (Persian, some Arabic typesetting) and ZWJ joins
# emoji sequences; anywhere else they are invisible junk (and text made only of them is
# "empty" to Telegram).
_STRAY_JOINER = regex.compile(
    r"(?<![\p{L}\p{M}])\u200c|\u200c(?![\p{L}\p{M}])|(?<!\S)\u200d|\u200d(?!\S)"
)
# A combining mark needs a base. After whitespace or at the start it would sit on the space
# (or on our RLM) and render as a dotted circle; it also lets a cut at that space split a
# grapheme cluster, so such marks go. Arabic needs at most a vowel, shadda and a small mark per
# letter; longer stacks are "Zalgo" and are cut back to MAX_MARKS_PER_LETTER.
MAX_MARKS_PER_LETTER = 4
_BAD_MARKS = regex.compile(
    rf"(?:^|(?<=\s))\p{{M}}+|(?<=\p{{M}}{{{MAX_MARKS_PER_LETTER}}})\p{{M}}+", regex.MULTILINE
)
# One cheap scan tells whether any of the rarer fixes is needed at all.
_SUSPICIOUS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u034f\u030a\u0333\u033f\u061c\u180e\u200b-\u200f"
    "\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\uffff\U000e0000-\U000e007f\ud800-\udfff]"
)


def strip_controls(text: str) -> str:
    """Remove bidi controls, invisible and control characters; keep spacing and line breaks."""
    if _SUSPICIOUS.search(text) is not None:
        text = _NEWLINE.sub("\n", text)
        text = _DROP.sub("", text)
        text = _CONTROL.sub(" ", text)
        if "\u200c" in text or "\u200d" in text:
            text = _STRAY_JOINER.sub("", text)
    cleaned: str = _BAD_MARKS.sub("", text)
    return cleaned


def clean_inline(text: str) -> str:
    """Clean untrusted text for one line: controls removed, whitespace collapsed to one space."""
    if not text:
        return ""
    # Collapse first (str.split knows every Unicode space and line break) so that a mark after
    # a newline or tab is seen as orphaned; collapse again only if something was removed.
    collapsed = " ".join(text.split())
    cleaned = strip_controls(collapsed)
    return cleaned if cleaned == collapsed else " ".join(cleaned.split())


def clean_lines(text: str) -> list[str]:
    """Clean untrusted multi-line text: one cleaned, non-empty string per line."""
    lines = (clean_inline(line) for line in strip_controls(text).split("\n"))
    return [line for line in lines if line]


def remove_surrogates(text: str) -> str:
    """Drop lone surrogates (a str from a broken decoder can hold them; UTF-8 cannot)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return re.sub("[\ud800-\udfff]", "", text)
    return text


_NOT_ALNUM = re.compile(r"[\W_]+")


def comparison_key(text: str) -> str:
    """Letters and digits only, case-folded: for "is this the same text" checks."""
    return _NOT_ALNUM.sub("", text.casefold())
