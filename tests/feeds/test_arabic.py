"""Tests for feeds.arabic: normalisation, keyword filters and title fingerprints."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeds.arabic import matches_filters, normalize_arabic, title_fingerprint


@pytest.mark.parametrize(("raw", "expected"), [
    ("مُحَمَّدٌ", "محمد"),                        # harakat, shadda, tanwin
    ("الرَّحْمٰن", "الرحمن"),                     # superscript alef U+0670
    ("الســـــلام", "السلام"),                    # tatweel
    ("أحمد إبراهيم آمال ٱلله", "احمد ابراهيم امال الله"),  # alef forms
    ("مدرسة", "مدرسه"),                          # ta marbuta -> ha
    ("مستشفى على", "مستشفي علي"),                 # alef maqsura -> ya
    ("Hello WORLD Straße", "hello world strasse"),  # Latin casefolded
    ("  قال:  «نعم»، ثم...   ذهب!؟ ", "قال نعم ثم ذهب"),  # punctuation and spaces collapsed
    ("عام ٢٠٢٥ و۱۴۰۴", "عام 2025 و1404"),          # Arabic-Indic and Persian digits
    ("\ufefb\ufe8e", "لاا"),                      # presentation forms (old CMS output)
    ("كلمة\u200fأخرى\u200c", "كلمهاخري"),          # invisible marks do not split or survive
])
def test_normalize_arabic(raw: str, expected: str) -> None:
    """Diacritics and tatweel go, alef/ta marbuta/ya forms fold, Latin casefolds, punctuation and
    whitespace collapse."""
    assert normalize_arabic(raw) == expected


@given(st.text())
def test_normalize_is_idempotent(text: str) -> None:
    """Normalising twice changes nothing more."""
    once = normalize_arabic(text)
    assert normalize_arabic(once) == once


def test_include_matches_across_spelling_variants() -> None:
    """A keyword typed plainly matches text with diacritics, other alef/ta/ya forms and tatweel."""
    text = "تَحلِيلٌ: الأزمـــة الاقتصاديّة في مِصرَ والمنطقة العربيّة"
    assert matches_filters(text, include=["ازمه"])
    assert matches_filters(text, include=["الاقتصادية"])
    assert matches_filters(text, include=["إقتصاد"])          # hamza written on the keyword only
    assert matches_filters(text, include=["مصر"])
    assert matches_filters(text, include=["المنطقة العربية"])  # phrase
    assert not matches_filters(text, include=["رياضة", "فن"])


def test_short_keywords_match_whole_words_with_proclitics() -> None:
    """Keywords of up to three letters match whole words (with و/ب/ل/ال prefixes), not parts of
    longer words."""
    assert matches_filters("زيارة لمصر والأردن", include=["مصر"])
    assert matches_filters("وبمصر وحدها", include=["مصر"])  # two proclitics
    assert matches_filters("ارتفاع أسهم المصرف", include=["مصر"]) is False
    assert matches_filters("AI is everywhere", include=["ai"])
    assert matches_filters("he said no", include=["AI"]) is False


def test_exclude_wins_and_no_include_means_everything() -> None:
    """Without includes every text passes unless an exclude matches; an exclude always wins."""
    assert matches_filters("أي نص", include=[], exclude=[])
    assert not matches_filters("نتائج مباراة كرة القدم", exclude=["كره"])
    assert not matches_filters("تحليل سياسي عن كرة القدم", include=["تحليل"], exclude=["كرة القدم"])
    assert matches_filters("تحليل سياسي", include=["تحليل"], exclude=["", "  "])  # blanks ignored


def test_title_fingerprint_catches_mirrors() -> None:
    """The same title with diacritics, other spellings, punctuation or a site suffix has the same
    fingerprint; a different title does not."""
    base = title_fingerprint("الأزمة الاقتصادية في مصر: ما التالي؟")
    assert base == title_fingerprint("الأَزمـة الإقتصاديّة في مصر ما التالى")
    assert base == title_fingerprint("الأزمة الاقتصادية في مصر: ما التالي؟ - موقع المرآة")
    assert base != title_fingerprint("الأزمة السياسية في مصر: ما التالي؟")
    assert title_fingerprint("") == "" and title_fingerprint("؟!") == ""


def test_phrases_keep_order_and_short_edge_words_stay_whole() -> None:
    """A phrase matches in order, its first word may carry a proclitic, and a short last word
    must end a word."""
    assert matches_filters("قمة في مصر اليوم", include=["في مصر"])
    assert not matches_filters("قمة في مصرف اليوم", include=["في مصر"])
    assert not matches_filters("العربية المنطقة", include=["المنطقة العربية"])
