"""The sub-editor's rules for excerpts, each on a real item of ../shared/corpus/real/rtl-feeds
(read from there, never copied) and on small texts of our own."""
from __future__ import annotations

from formatters.cutting import ELLIPSIS, close_cut, publisher_cut, sentence_ends
from formatters.excerpt import Excerpt
from formatters.furniture import is_cms_dump, is_masthead, strip_trailer
from tests.formatters.real_feeds import real_item, render_one, source_lines


def _excerpt(content: str, budget: int = 450, title: str = "") -> str:
    return Excerpt.from_content(content, title=title).text(budget)


# --- the publisher's summary, cleaned of its CMS trailer ------------------------------------

def test_wordpress_summary_is_kept_without_its_trailer() -> None:
    """Hespress's description (summary, "[…]", "The post … appeared first on …") gives an
    excerpt: the summary up to its last sentence, marked "…"; the trailer never shows."""
    item = real_item("ar-news-hespress-rss.xml", "https://www.hespress.com/%D8%A8%D9%8A%D8%AA")
    excerpt = render_one(item).excerpt
    assert len(excerpt) == 1
    assert excerpt[0].startswith("أطلقت وكالة بيت مال القدس الشريف")
    assert excerpt[0].endswith(". " + ELLIPSIS)
    assert "appeared" not in excerpt[0] and "[" not in excerpt[0]


def test_strip_trailer_keeps_the_summary_and_its_cut_mark() -> None:
    """Only the footer goes; "[…]" stays for the cut rule, and an Arabic trailer goes too."""
    text = "أعلنت الوزارة اليوم عن خطة جديدة لدعم المزارعين في [&#8230;] The post خطة appeared " \
           "first on موقع."
    assert strip_trailer(text) == "أعلنت الوزارة اليوم عن خطة جديدة لدعم المزارعين في [&#8230;]"
    arabic = "بدأت الحملة صباح اليوم في عدة مدن. ظهرت المقالة بدء الحملة أولاً على موقع المثال."
    assert strip_trailer(arabic) == "بدأت الحملة صباح اليوم في عدة مدن."
    assert _excerpt("<p>The post X appeared first on Y.</p>") == ""


# --- the body's lines in order, nothing skipped inside --------------------------------------

def test_dialogue_and_a_line_ending_in_a_colon_stay_in_their_place() -> None:
    """mosab.co.uk "سؤال وغودي": the question, the line introducing the answer (ending in ":")
    and the answer follow each other as in the post."""
    item = real_item("ar-blog-mosab-zola-atom.xml", "https://mosab.co.uk/ar/blog/weird-question/")
    assert render_one(item).excerpt == source_lines(item.content_html)


def test_section_numbers_and_stanzas_keep_their_place() -> None:
    """mosab.co.uk "shortcuts": "(1)" opens the excerpt and "(2)" stays between its sections;
    lines split by <br> stay together; the excerpt never ends on such a short line."""
    item = real_item("ar-blog-mosab-zola-atom.xml", "https://mosab.co.uk/ar/blog/shortcuts/")
    lines = render_one(item).excerpt
    source = source_lines(item.content_html)
    start = source.index(lines[0])
    assert [line.removesuffix(" " + ELLIPSIS) for line in lines] == \
        source[start:start + len(lines)]
    assert lines[0] == "(1)" and "(2)" in lines and lines[-1] not in ("(3)", "(4)", "(0)")
    stanza = _excerpt("<p>السطر الأول من المقطع هنا..<br>والسطر الثاني يتبعه..<br><br>"
                      "وهذه فقرة جديدة بعد سطر فارغ.</p>")
    assert stanza == "السطر الأول من المقطع هنا..\nوالسطر الثاني يتبعه..\n\n" \
                     "وهذه فقرة جديدة بعد سطر فارغ."


def test_list_items_are_lines_of_one_block() -> None:
    """A list's items follow each other on their own lines, with no blank line between."""
    html = ("<p>أعلنت الشركة عن مزايا الإصدار الجديد من برنامجها اليوم:</p>"
            "<ul><li>قراءة النصوص المصورة</li><li>دعم التشكيل الكامل</li></ul>"
            "<p>ويتوفر الإصدار مجانا للجميع منذ صباح اليوم.</p>")
    assert _excerpt(html) == ("أعلنت الشركة عن مزايا الإصدار الجديد من برنامجها اليوم:\n\n"
                              "قراءة النصوص المصورة\nدعم التشكيل الكامل\n\n"
                              "ويتوفر الإصدار مجانا للجميع منذ صباح اليوم.")


def test_short_lines_are_furniture_only_at_the_edges() -> None:
    """A menu before the article and a button after it go; the same short lines inside a web
    page (with <body>) go too, since pages have furniture everywhere."""
    html = ("<p>الرئيسية</p><p>سياسة</p><p>هذه أول فقرة من المقال وفيها جملة كاملة.</p>"
            "<p>عنوان فرعي</p><p>وهذه فقرة ثانية فيها جملة كاملة أيضا.</p><p>طباعة</p>")
    assert _excerpt(html) == ("هذه أول فقرة من المقال وفيها جملة كاملة.\n\nعنوان فرعي\n\n"
                              "وهذه فقرة ثانية فيها جملة كاملة أيضا.")
    page = f"<html><body>{html}</body></html>"
    assert "عنوان فرعي" not in _excerpt(page)


def test_separators_go_but_a_silent_reply_stays() -> None:
    """"٭ ٭ ٭" is no line of text; "- ..." in a dialogue is one."""
    html = ("<p>- مالك؟! شكلك مهموم اليوم يا صديقي..</p><p>- ...</p><p>٭ ٭ ٭</p>"
            "<p>- طيب احكي لي لما تحب، أنا هنا..</p>")
    assert _excerpt(html) == ("- مالك؟! شكلك مهموم اليوم يا صديقي..\n\n- ...\n\n"
                              "- طيب احكي لي لما تحب، أنا هنا..")


def test_the_title_inside_the_article_is_the_text_own() -> None:
    """mosab.co.uk "عزيزتي مصر...": the salutation repeats the title inside the letter and
    stays; only a copy of the title at the top is dropped."""
    item = real_item("ar-blog-mosab-zola-atom.xml", "https://mosab.co.uk/ar/blog/letter-to-egypt/")
    assert "عزيزتي مصر.." in render_one(item).excerpt


def test_mastheads_and_cms_link_lists_are_furniture_anywhere() -> None:
    """Staff lists and a CMS's file fields never show, even between paragraphs."""
    html = ("<p>هذه أول فقرة من الخبر وفيها جملة كاملة.</p>"
            "<p>الإشراف العام : فلان الفلاني<br>رئيس التحرير : علان</p>"
            "<p>10899-15 admin Sat, 02/17/2018 - 04:51 Pdf p15.pdf Pdf Image</p>"
            "<p>وهذه فقرة ثانية من الخبر فيها جملة كاملة.</p>")
    assert _excerpt(html) == ("هذه أول فقرة من الخبر وفيها جملة كاملة.\n\n"
                              "وهذه فقرة ثانية من الخبر فيها جملة كاملة.")
    assert is_masthead("الإشراف العام : إلهام أبو الفتح | رئيس التحرير : محمود مكاوي")
    assert not is_masthead("وقال رئيس التحرير: إن الصحيفة ستصدر غدا بعدد خاص عن الانتخابات.")
    assert is_cms_dump("الصفحات PDF") and is_cms_dump("تحميل العدد p15.pdf")
    assert not is_cms_dump("نشرت الوزارة التقرير كاملا في ملف report.pdf على موقعها.")


# --- ending on a sentence ---------------------------------------------------------------

def test_segmentation_follows_the_documented_facts() -> None:
    """Sentence ends at . ؟ ! … ۔ (also with no space before an Arabic letter), never at ، ؛,
    inside 2.5, or after a one-letter abbreviation like "د."."""
    text = ("الوضع معقد. هل ستتغير السياسة؟ ربما! لكن الأسواق، رغم ذلك، تراجعت؛ "
            "وارتفع الدولار 2.5% أمس.")
    assert [text[:end].split()[-1] for end in sentence_ends(text + " ")] == \
        ["معقد.", "السياسة؟", "ربما!", "أمس."]
    assert len(sentence_ends("معقد.هل ستتغير؟نعم")) == 2
    assert sentence_ends("قالت د. أميرة إن النتيجة واضحة. ") == [31]


def test_a_paragraph_that_does_not_fit_is_taken_to_a_sentence_or_not_at_all() -> None:
    """After whole paragraphs, the next one is cut only at a sentence end; without one in the
    room the excerpt ends after the whole paragraphs (when they are long enough)."""
    first = "هذه الفقرة الأولى من المقال وهي طويلة بما يكفي لتكون مقدمة جيدة للقارئ. " * 2
    second = "وهذه جملة قصيرة. " + "ثم تأتي جملة طويلة جدا بلا نهاية، " * 10
    text = _excerpt(f"<p>{first}</p><p>{second}</p>", budget=300)
    assert text.endswith("وهذه جملة قصيرة. " + ELLIPSIS)
    long_only = "ثم تأتي جملة طويلة جدا بلا نهاية، " * 10
    assert _excerpt(f"<p>{first}</p><p>{long_only}</p>", budget=300) == \
        first.strip() + " " + ELLIPSIS


def test_an_excerpt_never_ends_on_a_colon() -> None:
    """abarrak.com: the paragraph before an error log ("… كالتالي:") ends on its last
    sentence; dtidrone.com's Hugo summary cut at a list ends "…" instead of ":"."""
    item = real_item("ar-blog-abarrak-jekyll-rss.xml",
                     "https://www.abarrak.com/ar/2022/02/18/resolving")
    last = render_one(item).excerpt[-1]
    assert last.endswith("خارجياً. " + ELLIPSIS) and "كالتالي" not in last
    drone = real_item("ar-company-dtidrone-hugo-rss.xml", "https://www.dtidrone.com/ar/blog/2022")
    assert render_one(drone).excerpt[-1].endswith("الطائرات المسيرة" + ELLIPSIS)


# --- a publisher's cut ---------------------------------------------------------------------

def test_elaph_cut_mid_word_is_cut_back_and_marked() -> None:
    """Elaph's 180-character descriptions: «…الثلاثاء ف» loses the lone letter, «…فيه، هذ»
    the half word, and both end with "…"."""
    match = real_item("ar-news-elaph-rss.xml", "https://elaph.com/Web/Sports/2026/03/1592770")
    assert render_one(match).excerpt[-1].endswith("أمام بوليفيا الثلاثاء" + ELLIPSIS)
    facebook = real_item("ar-news-elaph-rss.xml", "https://elaph.com/Web/NewsPapers/2026/03/1592766")
    assert render_one(facebook).excerpt[-1].endswith("والمشاركة فيه" + ELLIPSIS)


def test_alhurra_half_word_before_the_mark_goes() -> None:
    """Alhurra's «…في لحظة حاسمة. وقال مس…» ends on the whole sentence before the cut."""
    item = real_item("ar-news-alhurra-rss.xml", "https://alhurra.com/16837")
    assert render_one(item).excerpt[-1].endswith("في لحظة حاسمة. " + ELLIPSIS)


def test_three_dots_glued_to_a_word_are_a_cut_too() -> None:
    """notes.co.il's "...": the half word «נורוו» goes, the text ends with "…"."""
    item = real_item("he-blog-notes-co-il-rss-windows1255.xml",
                     "http://www.notes.co.il/eshed/15615")
    assert render_one(item).excerpt[-1].endswith("במאמר בעיתון" + ELLIPSIS)


def test_publisher_cut_rules_on_our_own_texts() -> None:
    """Marks, lone letters and dangling words show a cut; a whole phrase does not."""
    assert publisher_cut("بدأت المباراة مساء الثلاثاء ف", summary=True)
    assert publisher_cut("أكد الوزير أن الحكومة ستعمل على", summary=True)
    assert publisher_cut("تحدث الوزير عن الخطة وقال مس…", summary=False)
    assert publisher_cut("وهذه هي النقاط الرئيسية:", summary=False)
    assert not publisher_cut("حذرت دراسة حديثة من فقدان الكتلة العضلية", summary=True)
    assert not publisher_cut("أكد الوزير أن الحكومة ستعمل على", summary=False)  # not a summary
    assert close_cut("تحدث الوزير عن الخطة طويلا. وقال مس…") == "تحدث الوزير عن الخطة طويلا. …"
    assert close_cut("أعلنت الشركة توقيع اتفاق جديد مع شركائها في […]") == \
        "أعلنت الشركة توقيع اتفاق جديد مع شركائها" + ELLIPSIS


# --- brackets ------------------------------------------------------------------------------

def test_a_quran_verse_is_never_left_open() -> None:
    """mosab.co.uk "صراط مستقيم": the first verse and its reference, whole; the next verse,
    which does not fit, is left out rather than cut inside «﴿…﴾»."""
    item = real_item("ar-blog-mosab-zola-atom.xml", "https://mosab.co.uk/ar/blog/straight-path/")
    excerpt = render_one(item).excerpt
    assert len(excerpt) == 2
    assert excerpt[0].startswith("\ufd3f") and excerpt[0].endswith("\ufd3e")
    assert excerpt[1].startswith("[ البقرة") and excerpt[1].endswith(ELLIPSIS)
    verse = "\ufd3f" + "وَمَنْ يَعْتَصِم بِاللَّهِ فَقَدْ هُدِيَ إِلَى صِرَاطٍ مُسْتَقِيمٍ " * 4 + "\ufd3e"
    alone = _excerpt(f"<p>{verse}</p>", budget=120)
    assert alone.startswith("\ufd3f") and alone.endswith(ELLIPSIS + "\ufd3e")
