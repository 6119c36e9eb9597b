"""Direction, checked the way a client decides it: python-bidi's base level (first strong
character, per line) and visual order, line by line, on real sentences."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from formatters.post import render_post
from formatters.rtl import LRI, LRM, PDI, RLI, RLM, isolate_line, isolates_balanced
from tests.formatters.conftest import (
    FIRST_SEEN,
    SEED_TITLE,
    article,
    channel,
    check_post,
    seed_html,
    strip_marks,
)

bidi = pytest.importorskip("bidi", reason="python-bidi is missing: it is one of the test "
                           "tools (scripts/setup installs requirements-test.lock)")
get_base_level, get_display = bidi.get_base_level, bidi.get_display


def _seen(line: str) -> str:
    """What a reader sees on one line, left to right, without the invisible controls.
    (python-bidi reorders but does not mirror brackets; fixtures avoid relying on that.)"""
    return strip_marks(get_display(line))


def _arabic_line(text: str) -> str:
    return RLM + isolate_line(text, "ar")


# (logical text, what the reader sees): every line is RTL, LTR pieces keep their order.
ARABIC_CASES = [
    ("CNN: قالت الشبكة إن النسبة 45%", "%45 ةبسنلا نإ ةكبشلا تلاق :CNN"),
    ("بتاريخ 2025-09-18 صدر", "ردص 2025-09-18 خيراتب"),
    ("بتاريخ 2025/09/18 صدر", "ردص 2025/09/18 خيراتب"),
    ("تسيطر قسد على ٢٨٪ من مساحة سوريا", "ايروس ةحاسم نم ٪٢٨ ىلع دسق رطيست"),
    ("سحبت حوالي 30% من قواتها", "اهتاوق نم %30 يلاوح تبحس"),
    ("المصدر: https://example.com/path?id=12 للمزيد",
     "ديزملل https://example.com/path?id=12 :ردصملا"),
    ("🔥 عاجل: سقوط دمشق", "قشمد طوقس :لجاع 🔥"),
    ("#سوريا #Syria", "#Syria ايروس#"),
    ("2025 عام التحولات", "تالوحتلا ماع 2025"),
    ("2025-09-18: بدأت المفاوضات", "تاضوافملا تأدب :2025-09-18"),
    ("iPhone 17 يصل إلى الأسواق", "قاوسألا ىلإ لصي iPhone 17"),
    ("What now?", "What now?"),
    ("Sukhoi Su-35 مقاتلة روسية", "ةيسور ةلتاقم Sukhoi Su-35"),
    ("ارتفع مؤشر S&P 500 بنسبة 1.5% اليوم", "مويلا %1.5 ةبسنب S&P 500 رشؤم عفترا"),
    ("الفترة 2015-2018 كانت صعبة", "ةبعص تناك 2015-2018 ةرتفلا"),
]


@pytest.mark.parametrize(("logical", "visual"), ARABIC_CASES)
def test_arabic_lines_are_rtl_and_ltr_runs_keep_their_order(logical: str, visual: str) -> None:
    """Each line resolves RTL, whatever it starts with, and reads as an Arabic editor expects."""
    line = _arabic_line(logical)
    assert get_base_level(line) == 1
    assert _seen(line) == visual
    assert isolates_balanced(line)


def test_without_isolates_the_same_lines_go_wrong() -> None:
    """The control: without our marks, Latin-first lines turn LTR and hyphen dates flip."""
    assert get_base_level("CNN: قالت الشبكة إن النسبة 45%") == 0
    assert _seen("بتاريخ 2025-09-18 صدر") == "ردص 18-09-2025 خيراتب"


def test_seed_sentences_with_latin_and_numbers() -> None:
    """Real seed sentences with CNN, X, years and percentages read in the right order."""
    line = _arabic_line("وكشف أحمد الشرع في مقابلة مع CNN منذ أيام قليلة أن قوات ردع العدوان "
                        "أجرت مفاوضات مع روسيا في 2024.")
    assert get_base_level(line) == 1
    assert _seen(line) == (".2024 يف ايسور عم تاضوافم ترجأ ناودعلا عدر تاوق نأ ةليلق مايأ ذنم "
                           "CNN عم ةلباقم يف عرشلا دمحأ فشكو")
    line = _arabic_line("بأن روسيا سحبت حوالي 30% من إجمالي قواتها، عبر منصة X قالت فيه")
    assert _seen(line) == "هيف تلاق X ةصنم ربع ،اهتاوق يلامجإ نم %30 يلاوح تبحس ايسور نأب"


def test_seed_post_every_line_rtl() -> None:
    """Every line of the rendered seed article resolves right to left."""
    post = render_post(article(content_html=seed_html(), categories=("الشأن السوري", "Russia")),
                       channel(calendars=("gregorian", "hijri")), timezone="Asia/Damascus",
                       first_seen=FIRST_SEEN)
    lines = [line for line in check_post(post).split("\n") if line.strip()]
    assert len(lines) >= 7
    for line in lines:
        assert get_base_level(line) == 1, line
    assert _seen(lines[0]) == SEED_TITLE[::-1]
    assert _seen(lines[-1]) == "#Russia يروسلا_نأشلا#"


def test_latin_title_and_fields_in_an_arabic_post() -> None:
    """An all-Latin title stays readable (its "?" stays with it) on an RTL line."""
    post = render_post(article(title="What comes next for Syria?", author="John Smith",
                               source_name="Example Review", categories=("Middle East",)),
                       channel(), timezone="UTC", first_seen=FIRST_SEEN)
    lines = [line for line in check_post(post).split("\n") if line.strip()]
    for line in lines:
        assert get_base_level(line) == 1, line
    assert _seen(lines[0]) == "What comes next for Syria?"
    assert "John Smith" in _seen(lines[-4]) and _seen(lines[-4]).endswith(":ملقب")


def test_spoofing_controls_in_a_title_have_no_effect() -> None:
    """A title carrying RLO/LRI/PDF from the feed displays in its logical order."""
    post = render_post(article(title="تحديث \u202eأمني\u202c \u2066عاجل \u2069\u200e"),
                       channel(), timezone="UTC", first_seen=FIRST_SEEN)
    first = check_post(post).split("\n")[0]
    assert first == RLM + "تحديث أمني عاجل"
    assert _seen(first) == "لجاع ينمأ ثيدحت"


def test_english_channel_lines_are_ltr_with_arabic_isolated() -> None:
    """An English post's lines resolve LTR; an Arabic name inside keeps its own direction."""
    post = render_post(
        article(title="Interview with الشرع on CNN",
                content_html=("<p>The interview, aired on 18 September 2025, covered relations "
                              "with موسكو and the 30% troop reduction.</p>"),
                author="هيئة التحرير", categories=("سوريا", "Politics")),
        channel(language="en"), timezone="UTC", first_seen=FIRST_SEEN)
    lines = [line for line in check_post(post).split("\n") if line.strip()]
    for line in lines:
        assert line.startswith(LRM)
        assert get_base_level(line) == 0, line
    assert _seen(lines[0]) == "Interview with عرشلا on CNN"
    assert RLI + "الشرع" + PDI in lines[0]
    # An Arabic tag reads from the right, "#" first: the "#" stands on the word's right.
    assert _seen(lines[-1]) == "ايروس# #Politics"
    assert RLI + "#سوريا" + PDI in lines[-1]  # "#" then the letters: still one hashtag


def test_isolates_never_nest_and_always_close_on_their_line() -> None:
    """Isolates opened on a line are closed on it, and none is opened inside another."""
    text = isolate_line("قال John (Reuters) إن 2025-09-18 موعد https://x.org/a_(b) و#Tag الأخير",
                        "ar")
    assert isolates_balanced(text)
    depth = 0
    for ch in text:
        depth += ch in (LRI, RLI)
        depth -= ch == PDI
        assert depth in (0, 1)
    assert LRI + "John (Reuters)" + PDI in text
    assert LRI + "https://x.org/a_(b)" + PDI in text


def test_dates_render_rtl_on_every_line_for_each_style() -> None:
    """Date lines with Arabic-Indic digits, Levantine months or first-seen labels are RTL."""
    for published in (datetime(2025, 9, 18, 9, tzinfo=UTC), None):
        for style in ({"digits": "arabic"}, {"month_names": "levantine"},
                      {"calendars": ("hijri", "gregorian")}):
            post = render_post(article(published_at=published), channel(**style),
                               timezone="Asia/Damascus", first_seen=FIRST_SEEN)
            date_line = check_post(post).split("\n")[1]
            assert get_base_level(date_line) == 1
