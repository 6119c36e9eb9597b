"""Real publishers' feeds read right: every item of the 19 real RTL feeds, parsed with the feed
parser and rendered with the formatter, has no defect a sub-editor would see (the audit in
tests/formatters/real_feeds.py), passes Telegram's strict checks, and each case the audit does
not count (no post, no excerpt, an ending with no "…") is argued here by name."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from model.article import Article
from tests.formatters.conftest import check_post
from tests.formatters.real_feeds import (
    FIRST_SEEN,
    REAL_FEEDS,
    TERMINAL,
    Post,
    all_posts,
    audit,
    check_brackets,
    check_date,
    check_empty,
    check_junk,
    check_mid_cut,
    check_skipped,
    check_truncation,
    source_lines,
)

pytestmark = pytest.mark.corpus

_ALARAB = "a Drupal node of a printed page: its only text is the CMS's fields (user, stamp, " \
          "file name p15.pdf) and its title is the page number; there is nothing to post"
# Items that become no post (a logged skip), and why that is right.
NO_POST = {
    ("ar-news-alarab-drupal-pdfpages-rss.xml", "https://alarab.co.uk/node/157907"): _ALARAB,
    ("ar-news-alarab-drupal-pdfpages-rss.xml", "https://alarab.co.uk/node/157908"): _ALARAB,
    ("ar-news-alarab-drupal-pdfpages-rss.xml", "https://alarab.co.uk/node/157909"): _ALARAB,
    ("ar-news-alarab-drupal-pdfpages-rss.xml", "https://alarab.co.uk/node/157910"): _ALARAB,
}
_LINK_ONLY = "the description is only the source's link (as text and as a link): no words to " \
             "excerpt; the title carries the news"
_NO_TEXT = "the item has no text at all"
# Posts without an excerpt although the item has some content, and why.
NO_EXCERPT = {
    **{("ar-analysis-psrecord-wordpress-rss.xml", f"https://psrecord.github.io/ar/archives/{n}"):
       _LINK_ONLY for n in (2196, 2192, 2188, 2184, 2179, 2175, 2171, 2167, 2163, 2098)},
    ("ar-academic-eis1600-hugo-rss.xml", "https://eis1600.github.io/ar/toc/"):
        "the body is the one heading «جدول المحتويات», which only repeats the title «المحتويات»",
    ("ar-academic-eis1600-hugo-rss.xml", "https://eis1600.github.io/ar/search/"): _NO_TEXT,
    ("ar-blog-techbaytk-hugo-rss.xml", "Ready to build your next project with Hugo?"): _NO_TEXT,
    ("ar-blog-techbaytk-hugo-rss.xml", "ماذا كان رأي المتابعون؟"): _NO_TEXT,
    ("fa-blog-hoder-rss.xml", "http://news.bbc.co.uk/2/hi/technology/4325918.stm"): _NO_TEXT,
    ("fa-blog-hoder-rss.xml", "http://nice.newsxphotos.biz/05/09/"
                              "2007_dv_lottery_registration_to_begin_oct_5_14589.php"): _NO_TEXT,
}
_WHOLE = "the whole summary, a complete phrase without a full stop: nothing shows a cut"
# Excerpts that end with neither a sentence end nor "…": every one was read and is whole.
OPEN_ENDINGS = {
    ("ar-blog-awiteb-zola-atom.xml", "https://4rs.nl/b/harmful-effect-of-ai-in-programming/"):
        "the post's subtitle, the whole summary",
    ("ar-blog-mosab-zola-atom.xml", "https://mosab.co.uk/ar/blog/forgive-my-complaining/"):
        "the whole text of a birthday note",
    ("ar-blog-mosab-zola-atom.xml", "https://mosab.co.uk/ar/blog/love-you-mate/"):
        "the whole text: a caption under a photo",
    ("ar-blog-techbaytk-hugo-rss.xml", "https://techbaytk.github.io/ar/comment-policy/"):
        "the page's whole summary is its effective date",
    ("ar-blog-techbaytk-hugo-rss.xml", "https://techbaytk.github.io/ar/privacy-policy/"):
        "the page's whole summary is its effective and update dates",
    ("ar-company-dtidrone-hugo-rss.xml", "https://www.dtidrone.com/ar/blog/2015/10/02/instrument/"):
        _WHOLE,
    ("ar-company-manasik-hugo-rss.xml", "https://www.manasik-sa.com/ar/blog/2022/09/24/b-3/"):
        _WHOLE,
    ("ar-news-arabi21-rss.xml", "https://arabi21.com/story/1724804/"): _WHOLE,
    ("ar-news-elaph-rss.xml", "https://elaph.com/Web/News/2026/03/1592201.html"):
        "96 characters, far from Elaph's 180-character cut; ends on a whole noun",
    ("ar-news-elaph-rss.xml", "https://elaph.com/Web/News/2026/03/1592771.html"): _WHOLE,
    ("ar-news-elaph-rss.xml", "https://elaph.com/Web/NewsPapers/2026/03/1592768.html"):
        "KNOWN MISS: Elaph cut this at 180 characters after «وبينما بدأت», two whole words "
        "after a full stop; the only rule that would catch it (a few words after the last full "
        "stop) also cuts complete texts elsewhere in the corpus (\"… Have a nice day. xxx\", "
        "«مقاسات: S/M/L»), so the excerpt shows the publisher's text as it is",
    ("fa-blog-hoder-rss.xml", "http://www.aei.org/events/type.upcoming,eventID.1166,"
                              "filter.all/event_detail.asp"): "a link blog's one-line comment",
    ("fa-blog-hoder-rss.xml", "http://www.adbrite.com/mb/commerce/purchase_form.php?"
                              "opid=24346&afsid=1"): "a link blog's one-line comment",
    ("fa-blog-hoder-rss.xml", "http://farangeopolis.blogspot.com/2005/10/blog-post_08.html"):
        "a link blog's one-line comment",
    ("he-blog-notes-co-il-rss-windows1255.xml", "http://www.notes.co.il/eshed/15211.asp"):
        "the whole first paragraph (the host's name follows as a link in the post)",
    ("he-blog-notes-co-il-rss-windows1255.xml", "http://www.notes.co.il/eshed/15171.asp"):
        "a complete announcement without a full stop",
    ("he-blog-notes-co-il-rss-windows1255.xml", "http://www.notes.co.il/eshed/14958.asp"):
        "a photo caption, the whole description",
    ("he-blog-notes-co-il-rss-windows1255.xml", "http://www.notes.co.il/eshed/14930.asp"):
        "a complete last sentence without a full stop (no mark, no cut word)",
}


def _key(post: Post) -> tuple[str, str]:
    return post.feed, post.article.url or post.article.title


def _reviewed(table: dict[tuple[str, str], str], post: Post) -> bool:
    feed, name = _key(post)
    return any(feed == f and name.startswith(n) for f, n in table)


@pytest.fixture(scope="module")
def posts() -> list[Post]:
    """Every item of every real RTL feed, rendered (the feeds' `name`s as an operator sets them)."""
    if not REAL_FEEDS.is_dir():
        pytest.skip(f"the real feeds are not at {REAL_FEEDS.resolve()}; this test needs ../shared")
    return all_posts()


def test_the_corpus_is_the_one_described(posts: list[Post]) -> None:
    """19 feed documents and 221 items, as SOURCES.md lists them."""
    assert len({post.feed for post in posts}) == 19
    assert len(posts) == 221


def test_no_post_has_a_defect(posts: list[Post]) -> None:
    """No empty excerpt, skipped line, open bracket, publisher's cut shown whole, avoidable
    mid-sentence cut, impossible date, site suffix, placeholder author, boilerplate source,
    masthead or CMS link list in any post."""
    defects = audit(posts)
    assert not defects, "\n".join(f"{d.kind}: {d.post}: {d.detail}" for d in defects)


def test_every_post_is_valid_for_telegram_and_reads_right_to_left(posts: list[Post]) -> None:
    """Both renders of every item (marker and default templates) pass the strict checks."""
    rendered = [post for post in posts if post.posts]
    assert len(rendered) == 221 - len(NO_POST)
    for post in rendered:
        for made in post.posts:
            check_post(made)


def test_items_without_a_post_are_the_argued_ones(posts: list[Post]) -> None:
    """Only the PDF page nodes become no post, each with a reason in the log."""
    skipped = {_key(post): post.skipped for post in posts if post.skipped}
    assert set(skipped) == set(NO_POST)
    assert all(reason.startswith("nothing to show") for reason in skipped.values())


def test_posts_without_an_excerpt_are_the_argued_ones(posts: list[Post]) -> None:
    """A post lacks an excerpt only where the item has no words to excerpt."""
    empty = [post for post in posts if post.posts and not post.excerpt
             and source_lines(post.article.content_html)]
    unexplained = [post.name for post in empty if not _reviewed(NO_EXCERPT, post)]
    assert not unexplained
    assert len(empty) == 11  # the 10 link-only descriptions and the table of contents


def test_open_endings_are_the_argued_ones(posts: list[Post]) -> None:
    """Every excerpt that ends with neither a sentence end nor "…" was read and is whole."""
    open_endings = []
    for post in posts:
        if not post.excerpt:
            continue
        last = post.excerpt[-1].rstrip("\"'\u201d\u2019\u00bb)]\ufd3e")
        if not last.endswith(tuple(TERMINAL)) and post.excerpt[-1][-1] not in "\"'\u201d\u00bb)]":
            open_endings.append(post)
    unexplained = [post.name for post in open_endings if not _reviewed(OPEN_ENDINGS, post)]
    assert not unexplained
    assert len(open_endings) == len(OPEN_ENDINGS)


def test_without_operator_names_only_the_arabic_site_suffix_stays(posts: list[Post]) -> None:
    """With no `name` configured, source lines are still free of boilerplate; only Alhurra's
    «| الحرة» stays, because nothing in its feed («Alhurra - Article Feed») names the site in
    Arabic: that is what the feed's `name` is for."""
    bare = all_posts(names=False)
    defects = [d for d in audit(bare)]
    assert {d.kind for d in defects} == {"junk"}
    assert all(d.post.startswith("ar-news-alhurra-rss.xml") and "site suffix" in d.detail
               for d in defects)
    assert len(defects) == 10
    sources = {post.feed: post.source for post in bare if post.posts}
    assert sources["ar-news-hespress-rss.xml"] == "Hespress"
    assert sources["ar-company-dtidrone-hugo-rss.xml"] == "شركة الدرون التقنية المحدودة"
    assert sources["ar-company-manasik-hugo-rss.xml"] == ""  # a 12-word slogan, not a name


# --------------------------------------------------------------------------------------------
# The detectors themselves: each finds the defect it names, on the output the formatter gave
# before these rules (real items, the text as it was posted).

def _old_post(**fields: object) -> Post:
    article = Article(uid="x", feed_url="", url=str(fields.pop("url", "https://example.org/1")),
                      title=str(fields.pop("raw_title", "")),
                      published_at=fields.pop("published_at", None),  # type: ignore[arg-type]
                      content_html=str(fields.pop("content", "")))
    post = Post(str(fields.pop("feed", "ar-news-elaph-rss.xml")), article)
    for name, value in fields.items():
        setattr(post, name, value)
    return post


def test_the_detectors_find_what_the_old_formatter_posted() -> None:
    """Each check flags the real defect it was written for."""
    # The shapes of the real cases, in our own words (the corpus itself stays in ../shared).
    wordpress = ("أعلنت وكالة محلية اليوم عن حملة اجتماعية سنوية لدعم الأسر المحتاجة في المدينة "
                 "قبل حلول الشهر الكريم [&#8230;] The post X appeared first on Y.")
    assert [d.kind for d in check_empty(_old_post(content=wordpress))] == ["empty"]

    dialogue = ("<p>وقفنا عند الكشك ونظر إلى الزجاجة وقال :</p><p>- كيف كانت الدنيا قبل الهاتف؟</p>"
                "<p>فأجبته بسرعة:</p><p>- مثل ما كانت قبل التلفاز!!</p>")
    skipped = _old_post(content=dialogue, excerpt=[
        "- كيف كانت الدنيا قبل الهاتف؟", "- مثل ما كانت قبل التلفاز!!"])
    found = list(check_skipped(skipped))
    assert [d.detail[:16] for d in found] == ["skips 1 line(s):"]
    late = _old_post(content="<p>السطر الأول جملة كاملة هنا.</p><p>السطر الثاني جملة أخرى هنا.</p>",
                     excerpt=["السطر الثاني جملة أخرى هنا."])
    assert [d.detail[:22] for d in check_skipped(late)] == ["starts after a sentence"[:22]]

    verse = _old_post(excerpt=["﴿إِنَّ اللَّهَ رَبِّي وَرَبُّكُمْ فَاعْبُدُوهُ…"])
    assert [d.kind for d in check_brackets(verse)] == ["bracket"]

    fixed_length = "تابعت ردود كثيرين عبر وسائل التواصل الاجتماعي رغم أهمية المشاركة فيه، هذ"
    cut = _old_post(content=fixed_length, excerpt=[fixed_length])
    assert [d.kind for d in check_truncation(cut)] == ["truncated"]
    half_word = "وهو ما يجعله شخصية بالغة الأهمية في لحظة حاسمة. وقال مس…"
    kinds = [d.kind for d in check_truncation(_old_post(content=half_word, excerpt=[half_word]))]
    assert kinds == ["truncated"]
    assert [d.kind for d in check_mid_cut(_old_post(excerpt=[half_word]))] == ["mid_cut"]

    hugo = _old_post(date="الاثنين 1 يناير 1",
                     published_at=datetime(1, 1, 1, tzinfo=UTC))
    assert [d.kind for d in check_date(hugo)] == ["date"]
    future = _old_post(date="الاثنين 1 مارس 2027", published_at=datetime(2027, 3, 1, tzinfo=UTC))
    assert [d.kind for d in check_date(future)] == ["date"]

    junk = _old_post(feed="ar-news-alhurra-rss.xml", title="إعدامات وغزوات | الحرة",
                     author="kheditor", source="Hespress - Article Feed",
                     excerpt=["الإشراف العام : إلهام أبو الفتح", "10899-15 admin Pdf p15.pdf"])
    assert len([d for d in check_junk(junk) if d.kind == "junk"]) == 5
    assert FIRST_SEEN.year == 2026
