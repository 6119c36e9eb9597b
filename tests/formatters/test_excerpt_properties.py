"""Property tests of the excerpt's choices: random articles made of Arabic sentences, short
lines, quotes, verses and publishers' cut marks always give an excerpt within the budget, in the
source's order, with no bracket left open."""
from __future__ import annotations

import html

from hypothesis import given
from hypothesis import strategies as st

from formatters.cutting import PAIRS
from formatters.excerpt import ELLIPSIS, Excerpt
from formatters.text import comparison_key
from tests.formatters.test_properties import SETTINGS

WORDS = ("الحكومة", "أعلنت", "اليوم", "عن", "خطة", "جديدة", "في", "المدينة", "وقال", "الوزير",
         "إن", "الأسواق", "تراجعت", "بشدة", "هذ", "ف", "CNN", "2.5%", "د.", "أميرة")
ENDS = (".", "؟", "!", "..", "…", "،", "؛", ":", "", "...", " […]")
word_runs = st.lists(st.sampled_from(WORDS), min_size=1, max_size=30).map(" ".join)


@st.composite
def sentences(draw: st.DrawFn) -> str:
    text = draw(word_runs) + draw(st.sampled_from(ENDS))
    wrap = draw(st.sampled_from(["", "«»", "\ufd3f\ufd3e", "()", "[]", "\u201c\u201d"]))
    return f"{wrap[0]}{text}{wrap[1]}" if wrap else text


paragraphs = st.lists(sentences(), min_size=1, max_size=4).map(" ".join)
lines = st.one_of(paragraphs, st.sampled_from(["(2)", "٭ ٭ ٭", "- ...", "عنوان فرعي",
                                              "[ البقرة : ١٤٢ ]", "قال لي:"]))


@st.composite
def bodies(draw: st.DrawFn) -> list[tuple[str, str]]:
    """(text, how it ends: p, br or li) for each block."""
    return draw(st.lists(st.tuples(lines, st.sampled_from(["p", "br", "li"])),
                         min_size=1, max_size=12))


def _html(blocks: list[tuple[str, str]]) -> str:
    out = []
    for text, kind in blocks:
        escaped = html.escape(text, quote=False)
        out.append(f"<p>{escaped}</p>" if kind == "p" else
                   f"{escaped}<br>" if kind == "br" else f"<ul><li>{escaped}</li></ul>")
    return "".join(out)


@SETTINGS
@given(blocks=bodies(), budget=st.integers(80, 700))
def test_excerpt_is_in_budget_in_order_and_closes_what_it_opens(
        blocks: list[tuple[str, str]], budget: int) -> None:
    """Within the budget; each line is (a cut of) a source line, in order; brackets that a
    source line closes are closed in the excerpt too."""
    text = Excerpt.from_content(_html(blocks)).text(budget)
    assert len(text) <= budget
    source = [comparison_key(block) for block, _ in blocks]
    position = 0
    for line in filter(None, text.split("\n")):
        key = comparison_key(line.rstrip(ELLIPSIS + "\ufd3e\u00bb)]\u201d"))
        if not key:
            continue
        found = next((i for i in range(position, len(source)) if source[i].startswith(key)), -1)
        assert found >= 0, (line, blocks)
        position = found + 1
    balanced = all(block.count(o) == block.count(c) for block, _ in blocks for o, c in PAIRS)
    if balanced:
        for opener, closer in PAIRS:
            assert text.count(opener) <= text.count(closer), (opener, text)
