"""The excerpt: paragraphs from HTML, page furniture dropped, cut at the right place."""
from __future__ import annotations

import pytest
import regex

from formatters import paragraphs as paragraphs_module
from formatters.excerpt import ELLIPSIS, Excerpt, cut_text
from tests.formatters.conftest import SEED_TITLE, seed_html

_CLUSTER = regex.compile(r"\X")


def _clusters(text: str) -> list[str]:
    return _CLUSTER.findall(text)


def _paragraphs(html: str, title: str = "", count: int = 100) -> list[str]:
    excerpt = Excerpt.from_content(html, title=title)
    excerpt._fill(count)
    return excerpt.paragraphs


def test_seed_article_furniture_is_dropped() -> None:
    """Login box, captcha, contact link, date line and title never show; the subheadings inside
    the article stay in their place (short lines are furniture only at the article's edges)."""
    excerpt = Excerpt.from_content(seed_html(), title=SEED_TITLE)
    excerpt._fill(100)
    paragraphs = excerpt.paragraphs
    joined = "\n".join(paragraphs)
    for furniture in ("تسجيل الدخول", "اسم المستخدم", "كلمة المرور", "Captcha", "تواصل معنا",
                      "الموافق"):
        assert furniture not in joined
    assert SEED_TITLE not in joined
    assert "أعلى" not in paragraphs
    assert paragraphs[0].startswith("كانت روسيا حليفًا قويًا لنظام الأسد")
    heading = paragraphs.index("الدوافع والأسباب")
    assert paragraphs[heading - 1].startswith("فمن عداء وقتال، إلى شراكة استراتيجية مأمولة")
    assert paragraphs[heading + 1].startswith("بالنسبة للحكومة السورية بزعامة أحمد الشرع")
    assert not excerpt.items[heading].prose and excerpt.items[heading + 1].prose


def test_seed_article_pull_quotes_are_dropped_where_they_first_appear() -> None:
    """A paragraph repeated later (a pull quote) is kept once, at its later place in the text."""
    paragraphs = _paragraphs(seed_html(), SEED_TITLE)
    quote = "فالتقارب بين الروس وحكومة أحمد الشرع يرسل رسالة للغرب"
    assert sum(p.startswith(quote) for p in paragraphs) == 1
    index = next(i for i, p in enumerate(paragraphs) if p.startswith(quote))
    assert paragraphs[index - 1].startswith("وكشف أحمد الشرع في مقابلة مع CNN")
    # "ذلك الأمر يحتم ..." is repeated inside "وذلك الأمر يحتم ...": only the latter stays.
    assert not any(p.startswith("ذلك الأمر يحتم") for p in paragraphs)
    assert sum(p.startswith("وذلك الأمر يحتم") for p in paragraphs) == 1


def test_seed_excerpt_default_budget() -> None:
    """The default 450-character excerpt is the standfirst, ending on its sentence: the next
    paragraph is one long sentence that does not fit, so no cut is made inside it."""
    text = Excerpt.from_content(seed_html(), title=SEED_TITLE).text(450)
    assert "\n\n" not in text
    assert text.endswith("طوال سنوات الثورة السابقة. " + ELLIPSIS)
    assert len(text) <= 450
    longer = Excerpt.from_content(seed_html(), title=SEED_TITLE).text(600)
    first, second = longer.split("\n\n")
    assert second.endswith("لإسقاط نظام الأسد. " + ELLIPSIS)


def test_entities_decoded_tags_dropped_whitespace_normalised() -> None:
    """Entities are decoded, inline tags vanish into the text, blocks become paragraphs."""
    html = ("<div><p>قال   المحلل&nbsp;إن <b>الاقتصاد</b> &amp; <a href='x'>السياسة</a>\n"
            "مترابطان بشكل وثيق جدا.</p>"
            "<p>وأضاف أن الأمر &quot;معقد&quot; للغاية في هذه المرحلة.</p>"
            "<script>alert('x')</script><style>p{}</style></div>")
    assert _paragraphs(html) == [
        "قال المحلل إن الاقتصاد & السياسة مترابطان بشكل وثيق جدا.",
        'وأضاف أن الأمر "معقد" للغاية في هذه المرحلة.',
    ]


def test_plain_text_summary_lines_are_paragraphs() -> None:
    """A summary without tags is split into lines, and its entities are decoded."""
    text = "السطر الأول من الملخص هنا &amp; هناك.\n\nالسطر الثاني من الملخص بعد فراغ."
    assert _paragraphs(text) == ["السطر الأول من الملخص هنا & هناك.",
                                 "السطر الثاني من الملخص بعد فراغ."]


def test_share_prompts_navigation_and_footers_are_dropped() -> None:
    """Share prompts, "read also" links, navigation and WordPress footers never enter an excerpt."""
    html = ("<nav><a>الرئيسية</a> <a>من نحن</a></nav>"
            "<p>شارك على فيسبوك وتويتر وواتساب وتيليغرام.</p>"
            "<p>اقرأ أيضاً: تحليل سابق عن العلاقات الروسية السورية في العقد الماضي.</p>"
            "<p>هذه هي الفقرة الأولى الحقيقية من المقال وفيها جملة كاملة.</p>"
            "<p>Back to top</p>"
            "<p>The post Syria and Russia appeared first on Example Analysis Site.</p>"
            "<footer><p>جميع الحقوق محفوظة لموقع المثال 2025.</p></footer>")
    assert _paragraphs(html) == ["هذه هي الفقرة الأولى الحقيقية من المقال وفيها جملة كاملة."]


def test_title_repeated_in_body_is_dropped() -> None:
    """The body's copy of the title (even with the site name after it) is not part of the
    excerpt."""
    title = "روسيا وسوريا: شراكة جديدة؟"
    html = (f"<h1>{title}</h1><p>روسيا وسوريا شراكة جديدة - موقع المثال</p>"
            "<p>بدأت العلاقات بين البلدين تتحسن تدريجيا بعد شهور من الجفاء والحرب.</p>")
    assert _paragraphs(html, title) == [
        "بدأت العلاقات بين البلدين تتحسن تدريجيا بعد شهور من الجفاء والحرب."]


def test_a_short_summary_is_used_when_it_is_all_there_is() -> None:
    """A one-line summary without a full stop is still the excerpt when nothing else exists."""
    assert Excerpt.from_content("<p>Apple releases a new phone</p>").text(450) == \
        "Apple releases a new phone"
    assert Excerpt.from_content("<p>تسجيل الدخول</p><p>Captcha</p>").empty


def test_no_text_at_all() -> None:
    """Empty content, only images, or only markup gives an empty excerpt, not an error."""
    for content in ("", "   ", "<img src='a.jpg'>", "<p><br></p><div></div>", "<!-- x -->"):
        excerpt = Excerpt.from_content(content)
        assert excerpt.empty
        assert excerpt.text(450) == ""


def test_cut_prefers_a_sentence_end() -> None:
    """The cut ends at the last full sentence that fits, followed by an ellipsis."""
    text = ("السياسة معقدة جدا في هذه الأيام. هل ستتغير السياسة قريبا؟ ربما! "
            "لكن الأسواق، رغم ذلك، تراجعت؛ وارتفع الدولار 2.5% أمس.")
    cut = cut_text(text, 70)
    assert cut == "السياسة معقدة جدا في هذه الأيام. هل ستتغير السياسة قريبا؟ ربما! " + ELLIPSIS
    assert len(cut) <= 70
    # A decimal point is not a sentence end: the cut falls at a word after the number.
    number = "ارتفع الدولار بنسبة 2.5 بالمئة أمس في الأسواق"
    for limit in range(22, 30):
        assert not cut_text(number, limit).endswith(". " + ELLIPSIS)


def test_cut_falls_back_to_a_clause_then_a_word() -> None:
    """Without a sentence end the cut is at ، or ؛, and without those at a space."""
    clause = "لكن الأسواق رغم كل التوقعات المتفائلة، تراجعت بشدة خلال الأسبوع الماضي كله"
    assert cut_text(clause, 60) == "لكن الأسواق رغم كل التوقعات المتفائلة" + ELLIPSIS
    words = "كلمة " * 30
    cut = cut_text(words.strip(), 52)
    assert cut.endswith("كلمة" + ELLIPSIS) and len(cut) <= 52


def test_cut_never_splits_a_letter_from_its_diacritics() -> None:
    """Every cut of a fully vowelled text ends on a grapheme cluster boundary."""
    text = "مُحَمَّدٌ رَسُولُ اللَّهِ وَالَّذِينَ مَعَهُ أَشِدَّاءُ عَلَى الْكُفَّارِ رُحَمَاءُ بَيْنَهُمْ"
    nospace = text.replace(" ", "")
    clusters = _clusters(text)
    for limit in range(2, len(text) + 5):
        for source in (text, nospace):
            cut = cut_text(source, limit).removesuffix(ELLIPSIS)
            assert len(cut) <= limit
            assert source.startswith(cut)
            assert "".join(_clusters(source)[:len(_clusters(cut))]) == cut, (limit, cut)
    assert clusters[0] == "مُ"


def test_cut_never_cuts_a_url() -> None:
    """A URL is kept whole or left out entirely, never cut in the middle."""
    url = "https://example.org/analysis/2025/09/18/syria-russia?ref=rss&id=12345"
    text = f"التفاصيل الكاملة في الرابط {url} وفي التقرير المرفق."
    for limit in range(10, len(text) + 2):
        cut = cut_text(text, limit)
        if "https" in cut:
            assert url in cut, (limit, cut)
    only = url + "/" + "x" * 40
    assert cut_text(only, 50) == ""
    assert cut_text(url, 2) == ""  # even where the limit is shorter than "https://"


def test_long_content_parsed_in_two_steps_gives_the_same_paragraphs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Parsing a prefix first never loses, cuts or repeats a paragraph, wherever the cut lands."""
    prose = [f"<p>الفقرة رقم {i} من المقال، وفيها جملة كاملة طويلة بما يكفي لتكون نثرا حقيقيا.</p>"
             for i in range(120)]
    for furniture_lines in (0, 37, 61, 95):
        html = "".join(f"<li>قائمة {i}</li>" for i in range(furniture_lines)) + "".join(prose)
        assert len(html) > 9000
        two_steps = _paragraphs(html, count=1000)
        monkeypatch.setattr(paragraphs_module, "_FIRST_PARSE", 10**9)
        one_step = _paragraphs(html, count=1000)
        monkeypatch.undo()
        assert two_steps == one_step
        assert len(one_step) == 120


def test_a_short_title_does_not_swallow_paragraphs_that_start_like_it() -> None:
    """Only the title itself (or the title plus a site name) is dropped, not prose starting
    alike."""
    html = "<p>أعلنت الحكومة اليوم قرارا جديدا.</p><p>وقالت مصادر إن القرار نهائي ولا رجعة فيه.</p>"
    assert _paragraphs(html, title="أعلنت") == ["أعلنت الحكومة اليوم قرارا جديدا.",
                                                 "وقالت مصادر إن القرار نهائي ولا رجعة فيه."]
