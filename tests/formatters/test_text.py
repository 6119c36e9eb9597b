"""Cleaning untrusted text: what a feed cannot smuggle into a post."""
from __future__ import annotations

import regex

from formatters.text import clean_inline, clean_lines, comparison_key, strip_controls


def test_bidi_controls_from_the_input_are_removed() -> None:
    """Embeddings, overrides, isolates and marks from a feed are removed (no Trojan-Source
    spoofing)."""
    spoof = "abc\u202edcba\u202c \u2066x\u2069 \u200fy\u200e \u061cz \u202a\u202b\u202d\u2067\u2068"
    cleaned = clean_inline(spoof)
    assert cleaned == "abcdcba x y z"


def test_zero_width_characters_are_removed_but_real_joiners_stay() -> None:
    """ZWSP, BOM, word joiner and soft hyphen go; ZWNJ between letters and ZWJ in emoji stay."""
    assert clean_inline("a\u200bb\ufeffc\u2060d\u00ade") == "abcde"
    assert clean_inline("می\u200cخواهم") == "می\u200cخواهم"
    family = "\U0001F468\u200d\U0001F469\u200d\U0001F467"
    assert clean_inline(f"عائلة {family}") == f"عائلة {family}"
    assert clean_inline("\u200c\u200d \u200c") == ""


def test_controls_become_spaces_and_line_breaks_are_normalised() -> None:
    """NUL, tabs and other C0 controls become spaces; CR, LS, PS and NEL become newlines."""
    assert clean_inline("a\x00b\tc\x1fd") == "a b c d"
    assert strip_controls("a\r\nb\rc\u2028d\u2029e\x85f") == "a\nb\nc\nd\ne\nf"
    assert clean_lines(" one \r\n\r\n two\u2029three ") == ["one", "two", "three"]


def test_lone_surrogates_and_noncharacters_are_removed() -> None:
    """A lone surrogate cannot be sent as UTF-8; it is dropped, never passed on."""
    cleaned = clean_inline("قبل\ud800بعد\udfff \uffff\U000e0041")
    assert cleaned == "قبلبعد"
    cleaned.encode("utf-8")


def test_combining_marks_without_a_base_are_removed() -> None:
    """A mark at the start or after a space has no letter to sit on and is dropped."""
    assert clean_inline("\u064e\u0651مُحَمَّد \u0650\u064bعلي") == "مُحَمَّد علي"


def test_zalgo_stacks_are_cut_back_but_arabic_diacritics_survive() -> None:
    """Up to four marks per letter stay (Arabic needs at most three); longer stacks are cut."""
    assert clean_inline("مَّ") == "مَّ"
    zalgo = "e" + "\u0301\u0302\u0303\u0304\u0306\u0307\u0308" * 3
    cleaned = clean_inline(zalgo)
    assert len(cleaned) == 1 + 4
    assert regex.fullmatch(r"\X", cleaned)


def test_comparison_key_ignores_case_punctuation_and_diacritics() -> None:
    """Two spellings of the same title compare equal."""
    assert comparison_key("الدوافعُ: الاستراتيجية!") == comparison_key("الدوافع الاستراتيجية")
    assert comparison_key("Hello, World") == comparison_key("hello world")
