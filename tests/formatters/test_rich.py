"""Articles become rich messages (formatters/rich.py) that the strict fake Bot API accepts: the
seed article, hand-made bodies for each rule, and every item of the real RTL feeds."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from feeds.parser import parse_feed
from formatters.errors import UnrenderableArticle
from formatters.excerpt import Excerpt
from formatters.rich import (
    CONTINUE_LABEL,
    READ_LABEL,
    RichLimits,
    block_count,
    build_rich,
    render_rich,
    text_length,
)
from formatters.rich_html import render_rich_preview_html, rich_message_html
from formatters.rtl import LRM, RLM, isolates_balanced
from model.post import PostOptions
from sandbox.telegram_rich import RichMessageError, block_texts, check_rich_message
from tests.formatters.conftest import (
    CORPUS,
    FIRST_SEEN,
    FORBIDDEN,
    SEED_TITLE,
    article,
    channel,
    seed_html,
    strip_marks,
)

RTL_FEEDS = CORPUS / "real" / "rtl-feeds"
JSON = dict[str, Any]


def rich(art: Any, options: PostOptions | None = None, **kwargs: Any) -> Any:
    return build_rich(art, options or channel(), timezone="Asia/Riyadh", first_seen=FIRST_SEEN,
                      **kwargs)


def accepted(payload: JSON, limits: RichLimits | None = None) -> None:
    """The fake Bot API's own checks (shape, rules, Telegram's limits) pass, our counts agree
    with its counts, and `limits` (if given) are kept."""
    checked = check_rich_message(payload)
    checked.check_limits()
    assert (checked.text_length, checked.block_count) == (text_length(payload["blocks"]),
                                                          block_count(payload["blocks"]))
    if limits is not None:
        assert checked.text_length <= limits.text and checked.block_count <= limits.blocks


def check_texts(payload: JSON) -> list[tuple[str, str]]:
    """Every text: no character Telegram deletes or a feed could spoof with, balanced isolates,
    starting with the message's strong mark; no empty paragraph. Returns (type, text) pairs."""
    mark = RLM if payload.get("is_rtl") else LRM
    texts = block_texts(payload["blocks"])
    for kind, text in texts:
        assert not FORBIDDEN & set(text), (kind, text)
        assert isolates_balanced(text), (kind, text)
        if kind != "button":
            assert text.startswith(mark) and text.count(RLM) + text.count(LRM) == 1, (kind, text)
        assert strip_marks(text).strip(), f"empty {kind}"
    return texts


def body_texts(payload: JSON) -> list[tuple[str, str]]:
    """(type, text without our marks) of the blocks between the head and the buttons."""
    return [(kind, strip_marks(text)) for kind, text in block_texts(payload["blocks"])
            if kind not in ("footer", "button") and not (kind == "heading" and text.endswith(
                SEED_TITLE))]


# --- the seed article ------------------------------------------------------------------------


def test_seed_article_mapping() -> None:
    """The seed page becomes: title heading, date footer, photo, the body in order with its two
    subheadings, its repeated paragraph once as a pull quote (and the sentence it pulls from a
    later paragraph as another), then the read-on button."""
    post = rich(article(content_html=seed_html()))
    payload = post.payload
    accepted(payload)
    assert (payload["is_rtl"], payload["skip_entity_detection"]) == (True, True)
    blocks = payload["blocks"]
    assert blocks[0] == {"type": "heading", "size": 1, "text": RLM + SEED_TITLE}
    assert blocks[1] == {"type": "footer",
                         "text": RLM + "الخميس 18 سبتمبر 2025 · مركز الدراسات · هيئة التحرير"}
    assert blocks[2] == {"type": "photo", "photo": {"type": "photo",
                                                     "media": "https://example.org/img/1.jpg"}}
    assert blocks[-1] == {"type": "buttons", "align": "center", "buttons": [
        {"text": "اقرأ على الموقع", "url": "https://example.org/analysis/1?utm=rss&id=7"}]}
    assert (post.cut, post.left_out, post.photo) == (None, (), "https://example.org/img/1.jpg")

    texts = check_texts(payload)
    headings = [strip_marks(t) for k, t in texts if k == "heading"]
    assert headings == [SEED_TITLE, "الدوافع والأسباب", "النظام السوري واللعبة الدولية"]
    assert [b["size"] for b in blocks if b["type"] == "heading"] == [1, 2, 2]
    pulls = [strip_marks(b["text"]) for b in blocks if b["type"] == "pullquote"]
    assert len(pulls) == 2
    assert pulls[0].startswith("فالتقارب بين الروس") and pulls[1].startswith("ذلك الأمر يحتم")
    everything = " ".join(strip_marks(t) for _, t in texts)
    assert everything.count("يرسل رسالة للغرب") == 1   # the word-for-word repeat: once
    assert everything.count("الأمر يحتم على النظام الجديد") == 2  # pulled, and in its paragraph
    for furniture in ("تسجيل الدخول", "Captcha", "تواصل معنا", "كلمة المرور", "الموافق"):
        assert furniture not in everything
    assert not any(strip_marks(t) == "أعلى" for _, t in texts)
    # A Latin run inside Arabic, isolated as posts do.
    assert any("مع \u2066CNN\u2069 منذ" in t for _, t in texts)


def test_seed_body_holds_the_excerpts_prose_in_order() -> None:
    """The paragraphs are the prose the excerpt finds, in order (the same cleaning, nothing
    lost, nothing added), except what became a pull quote."""
    html = seed_html()
    payload = render_rich(article(content_html=html), channel(), timezone="UTC",
                          first_seen=FIRST_SEEN)
    paragraphs = [text for kind, text in body_texts(payload) if kind == "paragraph"]
    pulls = {text for kind, text in body_texts(payload) if kind == "pullquote"}
    # The excerpt keeps subheadings in the text's order as lines; here they are headings.
    headings = {text for kind, text in body_texts(payload) if kind == "heading"}
    expected = Excerpt.from_content(html, title=SEED_TITLE)
    expected.text(10**6)
    prose = [p for p in expected.paragraphs if p not in headings]
    assert paragraphs == [p for p in prose if p not in pulls]
    assert len(paragraphs) == len(prose) - 1  # the repeat the excerpt keeps too


def test_english_channel_is_left_to_right() -> None:
    """An English channel: no is_rtl, LRM-led texts with Arabic runs isolated, English label."""
    payload = rich(article(content_html=seed_html()), channel(language="en")).payload
    accepted(payload)
    assert "is_rtl" not in payload
    check_texts(payload)
    assert payload["blocks"][-1]["buttons"][0]["text"] == READ_LABEL["en"] == "Read on the site"
    assert payload["blocks"][0]["text"] == f"{LRM}\u2067{SEED_TITLE}\u2069"


# --- the cut rule ---------------------------------------------------------------------------


def _long_body(copies: int) -> str:
    """Distinct paragraphs from the seed, `copies` times over (numbered, so never repeats)."""
    paragraphs = Excerpt.from_content(seed_html(), title=SEED_TITLE)
    paragraphs.text(10**6)
    return "".join(f"<p>{p} ({n}-{i})</p>" for n in range(copies)
                   for i, p in enumerate(paragraphs.paragraphs))


def _assert_cut_at_block(full: JSON, cut: JSON, reason: str | None,
                         language: str = "ar") -> None:
    """`cut` is `full` with the body ended early at a block boundary and the continue button
    (or, when the reason says so, with its first body block cut inside: a shorter start)."""
    body_full, body_cut = full["blocks"][:-1], cut["blocks"][:-1]
    assert len(body_cut) <= len(body_full) and body_cut[-1]["type"] != "heading"
    if reason and "cut inside" in reason:
        assert body_full[:len(body_cut) - 1] == body_cut[:-1]
        last, whole = body_cut[-1], body_full[len(body_cut) - 1]
        assert last["type"] == whole["type"] and last != whole
    else:
        assert body_full[:len(body_cut)] == body_cut and len(body_cut) < len(body_full)
    assert cut["blocks"][-1]["buttons"][0]["text"] == CONTINUE_LABEL[language]


def test_too_long_is_cut_between_blocks_with_continue_button() -> None:
    """Over 32,768 characters: whole blocks up to the limit, then «تابع القراءة على الموقع»."""
    art = article(content_html=_long_body(4))
    post = rich(art)
    accepted(post.payload)
    assert post.chars <= 32_768 and post.cut and "characters" in post.cut
    whole = rich(art, limits=RichLimits(text=10**6))
    assert whole.cut is None and whole.chars > 32_768
    _assert_cut_at_block(whole.payload, post.payload, post.cut)
    assert post.payload["blocks"][-1]["buttons"][0] == {
        "text": "تابع القراءة على الموقع", "url": "https://example.org/analysis/1?utm=rss&id=7"}


def test_too_many_blocks_is_cut_at_the_block_limit() -> None:
    """700 short paragraphs: cut to at most 500 blocks, at a block boundary."""
    body = "".join(f"<p>هذه الفقرة القصيرة رقم {i} من المقال الطويل.</p>" for i in range(700))
    post = rich(article(content_html=body))
    accepted(post.payload)
    assert post.blocks == 500 and post.cut and "blocks" in post.cut
    _assert_cut_at_block(rich(article(content_html=body),
                              limits=RichLimits(blocks=10**4)).payload, post.payload, post.cut)


def test_one_paragraph_alone_too_long_is_cut_at_a_sentence_end() -> None:
    """A first paragraph longer than the whole message: cut inside it, at a sentence end."""
    sentence = "تتجه الأنظار هذا الأسبوع إلى جولة جديدة من المحادثات الإقليمية المعقدة"
    paragraph = " ".join(f"{sentence} رقم {i}." for i in range(600))
    post = rich(article(content_html=f"<p>{paragraph}</p><p>فقرة ثانية لن تظهر أبدا هنا.</p>"),
                limits=RichLimits(text=5000))
    accepted(post.payload, RichLimits(text=5000))
    body = [t for k, t in body_texts(post.payload) if k == "paragraph"]
    assert len(body) == 1
    kept = body[0].removesuffix(" …")
    assert kept.endswith(".") and paragraph.startswith(kept) and len(kept) > 4000
    assert post.payload["blocks"][-1]["buttons"][0]["text"] == CONTINUE_LABEL["ar"]


def test_a_long_list_first_keeps_the_items_that_fit() -> None:
    """A list too long for the message, first in the body, keeps its first items."""
    items = "".join(f"<li>البند رقم {i} من قائمة طويلة جدا من البنود المرقمة.</li>"
                    for i in range(300))
    post = rich(article(content_html=f"<p>مقدمة المقال قصيرة لكنها جملة كاملة تماما.</p>"
                                     f"<ol>{items}</ol>"), limits=RichLimits(blocks=60))
    accepted(post.payload, RichLimits(blocks=60))
    listing = [b for b in post.payload["blocks"] if b["type"] == "list"]
    assert not listing  # the list did not fit whole after the intro: cut before it
    alone = rich(article(content_html=f"<ol>{items}</ol><p>خاتمة المقال جملة كاملة هنا.</p>"),
                 limits=RichLimits(blocks=60))
    accepted(alone.payload, RichLimits(blocks=60))
    kept = [b for b in alone.payload["blocks"] if b["type"] == "list"][0]["items"]
    assert 0 < len(kept) < 300 and [i["value"] for i in kept] == list(range(1, len(kept) + 1))


# --- body rules --------------------------------------------------------------------------------

LONG = ("قالت مصادر مطلعة إن المحادثات بين الطرفين تسير ببطء شديد، "
        "لكنها لم تصل إلى طريق مسدود حتى الآن.")
OTHER = "وأضافت المصادر أن الجولة المقبلة ستعقد في العاصمة العمانية مسقط خلال الأسبوع المقبل."


def kinds(payload: JSON) -> list[str]:
    return [b["type"] for b in payload["blocks"]]


def test_headings_quotes_and_lists_keep_their_shape() -> None:
    """h2/h3 become size 2/3 headings, a repeated <aside> one pull quote, an unrepeated
    <blockquote> a quotation with its credit, a list of sentences a list."""
    body = (f"<h2>الخلفية</h2><p>{LONG}</p><aside>{LONG[:60]}</aside><h3>المستقبل</h3>"
            f"<p>{OTHER}</p><blockquote><p>لن نتراجع عن مطالبنا.</p><cite>الوزير</cite>"
            f"</blockquote><ul><li>النقطة الأولى في الخطة الجديدة.</li>"
            f"<li>النقطة الثانية في الخطة الجديدة.</li></ul><p>وفي الختام، لا يتوقع أحد حلا "
            f"سريعا لهذه الأزمة المعقدة.</p>")
    payload = rich(article(content_html=body)).payload
    accepted(payload)
    check_texts(payload)
    assert kinds(payload) == ["heading", "footer", "photo", "heading", "paragraph", "pullquote",
                              "heading", "paragraph", "blockquote", "list", "paragraph",
                              "buttons"]
    blocks = payload["blocks"]
    assert [b["size"] for b in blocks if b["type"] == "heading"] == [1, 2, 3]
    quote = blocks[8]
    assert strip_marks(quote["credit"]) == "الوزير"
    assert strip_marks(quote["blocks"][0]["text"]) == "لن نتراجع عن مطالبنا."
    assert [strip_marks(i["blocks"][0]["text"]) for i in blocks[9]["items"]] == [
        "النقطة الأولى في الخطة الجديدة.", "النقطة الثانية في الخطة الجديدة."]


def test_furniture_is_dropped() -> None:
    """Menus, link lists, prompts, sidebars, orphan headings and WordPress trailers go; the
    summary before a trailer stays; code and tables are reported as left out."""
    body = ("<ul><li><a href='/'>الرئيسية</a></li><li><a href='/a'>أخبار</a></li></ul>"
            f"<p>{LONG}</p><aside>تابعونا على تويتر للمزيد من الأخبار العاجلة اليوم</aside>"
            "<p>اقرأ أيضاً: مقال آخر عن الموضوع نفسه في موقعنا.</p>"
            f"<pre>print('x')</pre><table><tr><td>1</td></tr></table><p>{OTHER}</p>"
            "<h3>مقالات ذات صلة</h3><ul><li><a href='/b'>رابط مقال أول عن المفاوضات</a></li>"
            "<li><a href='/c'>رابط مقال ثان عن المفاوضات</a></li></ul><h4>التعليقات</h4>"
            "<p>ورأى محللون أن فرص التوصل إلى اتفاق نهائي ما زالت قائمة […] The post "
            "عنوان appeared first on Hespress.</p>")
    post = rich(article(content_html=body))
    accepted(post.payload)
    texts = [strip_marks(t) for k, t in block_texts(post.payload["blocks"])
             if k in ("paragraph", "heading")]
    assert texts == [SEED_TITLE, LONG, OTHER,
                     "ورأى محللون أن فرص التوصل إلى اتفاق نهائي ما زالت قائمة …"]
    assert post.left_out == ("1 code block", "1 table")


def test_short_lines_runs_stay_paragraphs_and_references_are_not_headings() -> None:
    """Verse (short lines in a row) stays as paragraphs; a short line after an unfinished one
    (a quotation's reference) is not taken for a subheading."""
    body = (f"<p>{LONG}</p><p>على قدر أهل العزم تأتي العزائم</p>"
            f"<p>وتأتي على قدر الكرام المكارم</p><p>{OTHER}</p>"
            "<p>﴿إِنَّ اللَّهَ رَبِّي وَرَبُّكُمْ فَاعْبُدُوهُ هَذَا صِرَاطٌ مُسْتَقِيمٌ﴾</p>"
            f"<p>[ آل عمران : ٥١ ]</p><p>{LONG} وهذا تعليق.</p>")
    payload = rich(article(content_html=body)).payload
    assert kinds(payload).count("heading") == 1  # the title only


def test_title_only_and_nothing_at_all() -> None:
    """A title with no body is still a message (heading, footer, button); no title and no body
    text is UnrenderableArticle with a reason."""
    payload = rich(article(content_html="", image_url=None)).payload
    accepted(payload)
    assert kinds(payload) == ["heading", "footer", "buttons"]
    with pytest.raises(UnrenderableArticle, match="nothing to show"):
        rich(article(title="", content_html="<p>قصير</p><nav>القائمة الرئيسية هنا</nav>"))


def test_no_title_starts_with_the_footer() -> None:
    """Feeds with empty titles (Jekyll) get no heading; the footer leads."""
    payload = rich(article(title="", content_html=f"<p>{LONG}</p>")).payload
    accepted(payload)
    assert kinds(payload)[:2] == ["footer", "photo"]


def test_photo_choices() -> None:
    """photo=False leaves the lead image out; a non-http(s) image URL is never a photo block;
    a missing link means no button."""
    assert "photo" not in kinds(rich(article(), photo=False).payload)
    assert "photo" not in kinds(rich(article(image_url="javascript:alert(1)")).payload)
    no_link = rich(article(url="")).payload
    accepted(no_link)
    assert "buttons" not in kinds(no_link)


def test_hostile_text_is_cleaned() -> None:
    """Bidi overrides, zero-width characters and markup in a feed become plain clean text."""
    payload = rich(article(
        title="\u202eعنوان\u200b <b>مزيف</b>", author="\u2066admin\u2069",
        content_html=f"<p>\u202e{LONG}\u2067</p><script>alert(1)</script>")).payload
    accepted(payload)
    texts = check_texts(payload)
    assert strip_marks(texts[0][1]) == "عنوان <b>مزيف</b>"
    assert all("alert" not in t for _, t in texts)
    assert "admin" not in payload["blocks"][1]["text"]   # a placeholder author is not shown


# --- the real RTL feeds ------------------------------------------------------------------------


def _feeds() -> list[Path]:
    if not RTL_FEEDS.is_dir():
        pytest.skip(f"the RTL corpus is not at {RTL_FEEDS.resolve()}; these tests need ../shared")
    return sorted(RTL_FEEDS.glob("*.xml"))


@pytest.mark.corpus
def test_every_real_rtl_feed_item_becomes_an_accepted_rich_message() -> None:
    """Every item of every real RTL feed: accepted by the fake, title heading first, no empty
    paragraph, a read-on button when it has a link, is_rtl for the Arabic channel; and with
    small limits, cut at a block boundary with the continue button."""
    small = RichLimits(text=1200, blocks=14)
    count = cut = 0
    for path in _feeds():
        feed = parse_feed(path.read_bytes(), feed_url=f"https://example.org/{path.name}")
        for item in feed.articles:
            for options in (channel(), channel(language="en")):
                try:
                    post = rich(item, options)
                except UnrenderableArticle as exc:  # a reason is all a skip needs
                    assert exc.reason and not item.title.strip()
                    continue
                payload = post.payload
                where = f"{path.name}: {item.title[:40]!r}"
                try:
                    accepted(payload)
                except RichMessageError as exc:
                    raise AssertionError(f"{where}: refused: {exc.description}") from exc
                check_texts(payload)
                blocks = payload["blocks"]
                if item.title.strip():
                    assert blocks[0]["type"] == "heading" and blocks[0]["size"] == 1, where
                if item.url.startswith(("http://", "https://")):
                    assert blocks[-1]["type"] == "buttons", where
                assert payload.get("is_rtl") is (True if options.language == "ar" else None)
                count += 1
            small_post = rich(item, limits=small)
            if small_post.cut and small_post.payload["blocks"][-1]["type"] == "buttons":
                accepted(small_post.payload, small)
                _assert_cut_at_block(rich(item).payload, small_post.payload, small_post.cut)
                cut += 1
    assert count >= 400 and cut >= 20, (count, cut)


# --- the preview HTML ----------------------------------------------------------------------------


class _Checker(HTMLParser):
    """Collects tags and checks that every opened element is closed in order."""

    VOID = {"img", "hr", "meta", "br"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"


def _parse(page: str) -> _Checker:
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert not checker.stack, f"unclosed {checker.stack}"
    return checker


def test_preview_html_shows_every_part() -> None:
    """The seed's payload as HTML: dir=rtl, h1 title, h2 subheadings, the pull quote, photo,
    footer and a link button, well-formed."""
    payload = rich(article(content_html=seed_html())).payload
    page = render_rich_preview_html([("seed", payload)])
    tags = _parse(page).tags
    names = [t for t, _ in tags]
    assert ("article", {"class": "rich", "dir": "rtl"}) in tags
    assert names.count("h1") == 1 and names.count("h2") == 3  # the card label + 2 subheadings
    assert ("aside", {"class": "pullquote"}) in tags and "footer" in names
    assert ("img", {"src": "https://example.org/img/1.jpg", "alt": "", "loading": "lazy"}) in tags
    assert ("a", {"href": "https://example.org/analysis/1?utm=rss&id=7",
                  "rel": "nofollow noopener"}) in tags
    assert SEED_TITLE in page and "اقرأ على الموقع" in page


def test_preview_html_is_escaped_and_safe() -> None:
    """Hostile payload content stays text; only http(s) URLs become links or images; unknown or
    malformed parts are skipped without an error."""
    payload = {"blocks": [
        {"type": "heading", "size": 99, "text": "<script>alert(1)</script>"},
        {"type": "paragraph", "text": ["a", {"type": "url", "text": "x",
                                             "url": "javascript:alert(1)"},
                                       {"type": "bold", "text": {"type": "italic", "text": "&"}}]},
        {"type": "photo", "photo": {"type": "photo", "media": "data:image/png;base64,xx"}},
        {"type": "buttons", "buttons": [{"text": "\"><b>", "url": "tg://resolve?domain=x"}]},
        {"type": "list", "items": [{"blocks": [{"type": "paragraph", "text": "i"}], "value": 2}]},
        {"type": "table"}, "not a block", {"type": "blockquote", "blocks": "oops"},
    ]}
    html = rich_message_html(payload)
    tags = _parse(html).tags
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert not any("javascript" in str(attrs) or "data:" in str(attrs) for _, attrs in tags)
    assert "<b><i>&amp;</i></b>" in html and '"&gt;&lt;b&gt;' in html
    assert ("article", {"class": "rich", "dir": "ltr"}) in tags and ("h2", {}) in tags
    assert ('<ol><li value="2">' in html) and re.search(r"<figure>", html) is None
    assert rich_message_html({"blocks": None}) == '<article class="rich" dir="ltr"></article>'


def test_a_subheading_does_not_stop_the_first_paragraph_being_cut() -> None:
    """A body opening with a subheading and one huge paragraph keeps both, the paragraph cut."""
    paragraph = " ".join(f"جملة طويلة من المقال تحمل الرقم {i} في هذا النص." for i in range(900))
    post = rich(article(content_html=f"<h2>المقدمة</h2><p>{paragraph}</p>"),
                limits=RichLimits(text=4000))
    accepted(post.payload, RichLimits(text=4000))
    assert kinds(post.payload)[3:] == ["heading", "paragraph", "buttons"]
    assert post.cut and "cut inside" in post.cut
