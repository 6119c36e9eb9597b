"""Hostile input for the fuzz tests: Unicode that spoofs, hides or breaks text, and HTML that
tries everything; plus the settings the fuzz tests share.

    NASHIR_FUZZ_EXAMPLES=3000 .venv/bin/python -m pytest -p no:cacheprovider -q tests/fuzz

runs a campaign (the default, in the normal suite, is a quick pass); see docs/reliability.md.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("NASHIR_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much,
                                       HealthCheck.function_scoped_fixture])
# Talking to the bot costs a round trip per example: a fifth as many.
FUZZ_BOT = settings(FUZZ, max_examples=max(10, EXAMPLES // 5))

BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068",
        "\u2069", "\u200e", "\u200f", "\u061c"]
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\u2061", "\u2062", "\u2063", "\u2064",
             "\ufeff", "\u00ad", "\u034f", "\u180e", "\u115f", "\u3164", "\U000e0001",
             "\U000e0041", "\U000e007f"]
CONTROLS = [chr(c) for c in (*range(0x00, 0x20), *range(0x7f, 0xa0))] + [
    "\u2028", "\u2029", "\ufff9", "\ufffa", "\ufffb", "\ufffe", "\uffff", "\U0010ffff"]
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff", "\ud83d", "\ude00"]
MARKS = ["\u0300", "\u0301", "\u030a", "\u0333", "\u033f", "\u0336", "\u064b", "\u064e",
         "\u0651", "\u0652", "\u0670", "\u20dd", "\u0489", "\u1ab0", "\ufe20"]
SCRIPTS = {
    "arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنهويءآأؤإئةىـ٠١٢٣٤٥٦٧٨٩،؛؟",
    "persian": "پچژگکی۰۱۲۳۴۵۶۷۸۹",
    "hebrew": "אבגדהוזחטיכלמנסעפצקרשת",
    "latin": "abcdefghijklmnopqrstuvwxyzABCXYZ0123456789",
    "cyrillic": "абвгдежзийклмнопрстуф",
    "cjk": "的一是不了人我在有他这中",
    "devanagari": "कखगघङचछजझञ",
    "thai": "กขฃคฅฆงจฉช",
    "syriac": "ܐܒܓܕܗܘܙܚܛ",
    "nko": "ߊߋߌߍߎߏ",
}
SPECIAL = ["&", "<", ">", '"', "'", "&amp;", "&lt;", "&gt;", "&#x202E;", "&#xD800;", "&#0;",
           "&#1114112;", "&bogus;", "&#1585;", "&nbsp;", "<!--", "-->", "<![CDATA[", "]]>",
           "{", "}", "{title}", "{{", "}}", "%s", "\\", "/", "@", "#", "$", "😀",
           "👨\u200d👩\u200d👧", "🇸🇾", "🏳️\u200d🌈", "\U0001f3fb", "ﷺ", "﷽", "ﻻ", "لا",
           "https://example.org/a?b=1&c=2", "javascript:alert(1)", "www.x.org/(a)",
           "2025-09-18", "٢٨٪", " ", "\u00a0", "\u3000", "\t", "\n", "\r\n", "\r"]


def _run(draw_char: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """The same character many times over (Zalgo stacks, walls of zero-width, huge words)."""
    return st.builds(lambda c, n: c * n, draw_char, st.integers(50, 5000))


def _stack() -> st.SearchStrategy[str]:
    """A base letter with a stack of combining marks."""
    return st.builds(lambda base, marks: base + "".join(marks),
                     st.sampled_from(list(SCRIPTS["arabic"] + SCRIPTS["latin"] + " ")),
                     st.lists(st.sampled_from(MARKS), min_size=1, max_size=60))


hostile_char = st.sampled_from(BIDI + INVISIBLE + CONTROLS + SURROGATES + MARKS + SPECIAL)
script_word = st.sampled_from(sorted(SCRIPTS)).flatmap(
    lambda name: st.text(alphabet=SCRIPTS[name], min_size=1, max_size=12))
piece = st.one_of(
    hostile_char, script_word, script_word, st.just(" "), _stack(),
    st.text(max_size=8),                       # anything Hypothesis likes, surrogates included
    st.integers(0, 3).flatmap(lambda k: _run(hostile_char) if k == 0 else script_word),
)


def hostile_text(max_pieces: int = 30) -> st.SearchStrategy[str]:
    """Mixed scripts, bidi controls, combining marks, zero-width, lone surrogates, controls,
    markup characters and the odd huge run."""
    return st.lists(piece, max_size=max_pieces).map("".join)


TAGS = ["p", "div", "b", "strong", "i", "em", "u", "s", "a", "code", "pre", "blockquote",
        "span", "br", "hr", "img", "script", "style", "iframe", "svg", "math", "table", "tr",
        "td", "ul", "ol", "li", "h1", "h2", "figure", "figcaption", "noscript", "template",
        "tg-spoiler", "tg-emoji", "x-y", "P", "B", "a href", "font", "bdo", "bdi", "ruby", "rt"]
ATTRS = ["", ' href="https://example.org/x"', " href='javascript:alert(1)'", ' href="data:,x"',
         ' dir="rtl"', ' dir="ltr"', ' class="c"', " onclick=alert(1)", ' src="a.jpg"',
         ' title="&quot;<"', ' style="direction:rtl"', " href=\"https://ex\u202eample.org\"",
         ' lang="ar"', " emoji-id=5", " hidden"]


def _element(tag: str, attrs: str, kids: list[str], closed: bool) -> str:
    name = tag.split()[0]
    return f"<{tag}{attrs}>{''.join(kids)}" + (f"</{name}>" if closed else "")


hostile_html = st.recursive(
    hostile_text(12),
    lambda kids: st.one_of(
        st.builds(_element, st.sampled_from(TAGS), st.sampled_from(ATTRS),
                  st.lists(kids, max_size=4), st.booleans()),
        st.builds(lambda k, n: "<div>" * n + k + "</div>" * n, kids, st.integers(20, 400)),
        st.builds(lambda k: f"<![CDATA[{k}]]>", kids),
        st.builds(lambda k: f"<!-- {k} -->", kids),
    ),
    max_leaves=30,
)
