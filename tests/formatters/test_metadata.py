"""Clean metadata (formatters.metadata): dates that can be true, real bylines, titles without
the site's name, source lines without feed boilerplate; on real items and our own examples."""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from formatters.errors import UnrenderableArticle
from formatters.metadata import (
    clean_author,
    clean_title,
    plausible_date,
    site_names,
    source_line,
)
from formatters.post import render_post
from tests.formatters.conftest import article, channel, check_post, strip_marks
from tests.formatters.real_feeds import DEFAULT, FIRST_SEEN, real_item, render_one

SEEN = datetime(2026, 3, 24, 12, 0, tzinfo=UTC)


# --- dates ---------------------------------------------------------------------------------

@pytest.mark.parametrize("moment", [
    datetime(1, 1, 1, tzinfo=UTC),                 # Hugo's date for pages without one
    datetime(1970, 1, 1, tzinfo=UTC),              # Unix time zero
    datetime(1994, 12, 31, 23, 0, tzinfo=UTC),
    SEEN + timedelta(days=2, minutes=1),           # far ahead of first sight
    datetime(9999, 12, 31, tzinfo=UTC),
])
def test_implausible_dates_are_not_the_articles_date(
        moment: datetime, caplog: pytest.LogCaptureFixture) -> None:
    """Before 1995 or days after first sight: no publication date, and one log line says why."""
    caplog.set_level(logging.INFO, logger="formatters.metadata")
    assert plausible_date(moment, SEEN, link="https://example.org/a") is None
    assert [r.getMessage() for r in caplog.records if "https://example.org/a" in r.getMessage()]


def test_plausible_dates_stay() -> None:
    """A date from 1995 on, up to two days ahead of first sight, is kept (naive ones as UTC);
    anything that is not a datetime is no date."""
    for moment in (datetime(1995, 1, 1, tzinfo=UTC), SEEN - timedelta(days=4000),
                   SEEN + timedelta(hours=30), datetime(2020, 5, 1)):
        assert plausible_date(moment, SEEN) is moment
    assert plausible_date("2026-03-24", SEEN) is None
    assert plausible_date(None, SEEN) is None


def test_hugo_page_without_a_date_says_when_it_was_first_seen() -> None:
    """techbaytk.github.io's theme pages carry 0001-01-01: the post says «رُصد في» and the day
    the bot first saw them, never «الاثنين 1 يناير 1»."""
    item = real_item("ar-blog-techbaytk-hugo-rss.xml", "https://techbaytk.github.io/ar/elements/")
    assert item.published_at is not None and item.published_at.year == 1
    post = render_one(item, DEFAULT)
    text = strip_marks(check_post(post.posts[0]))
    date_line = text.split("\n")[1]
    assert date_line.startswith("رُصد في ") and "2026" in date_line
    assert " 1 يناير 1" not in text


# --- authors -------------------------------------------------------------------------------

@pytest.mark.parametrize("author", [
    "Unknown", "unknown", "admin", "Administrator", "editor", "kheditor", "wpadmin", "webmaster",
    "noreply@blogger.com (Unknown)", "someone@example.org", "غير معروف", "مجهول", "(admin)",
])
def test_placeholder_bylines_are_dropped(author: str) -> None:
    """Placeholders, CMS account names and bare e-mail addresses are no byline."""
    assert clean_author(author, ()) == ""


def test_real_bylines_stay_and_the_sites_own_name_goes() -> None:
    """People and desks stay (an e-mail's name part too); the site's own name as author goes."""
    names = site_names(source="~عويتب", urls=("https://4rs.nl/b/x",))
    assert clean_author("عويتب", names) == ""
    assert clean_author("هيئة التحرير", names) == "هيئة التحرير"
    assert clean_author("Mosab Ibrahim", names) == "Mosab Ibrahim"
    assert clean_author("editor@example.org (Lina Haddad)", names) == "Lina Haddad"
    assert clean_author("mosab", names) == "mosab"  # a handle, but not a role's


def test_psrecord_posts_have_no_cms_account_byline() -> None:
    """psrecord.github.io's items are by "kheditor": the post has no «بقلم:» line."""
    item = real_item("ar-analysis-psrecord-wordpress-rss.xml",
                     "https://psrecord.github.io/ar/archives/2196")
    assert item.author == "kheditor"
    text = strip_marks(check_post(render_one(item, DEFAULT).posts[0]))
    assert "بقلم" not in text and "kheditor" not in text
    assert "المصدر: السجل" in text  # the operator's `name` for the feed


# --- titles --------------------------------------------------------------------------------

def test_site_suffix_goes_when_it_names_the_site() -> None:
    """« | الحرة» goes with the feed named «الحرة»; « - Hespress» with the feed's own title;
    a suffix naming something else, or leaving one word, stays."""
    alhurra = site_names(source="الحرة", urls=("https://alhurra.com/16904",))
    assert clean_title("كيميت: إيران تخوض حربًا مختلفة | الحرة", alhurra) == \
        "كيميت: إيران تخوض حربًا مختلفة"
    hespress = site_names(source="Hespress - Article Feed", urls=())
    assert clean_title("معهد ألماني يشيد بالمؤهلات المغربية - Hespress", hespress) == \
        "معهد ألماني يشيد بالمؤهلات المغربية"
    assert clean_title("تقرير عن الاقتصاد – هسبريس جريدة إلكترونية مغربية",
                       site_names(source="هسبريس", urls=())) == "تقرير عن الاقتصاد"
    assert clean_title("سوريا - روسيا", alhurra) == "سوريا - روسيا"
    assert clean_title("الحوار الأميركي - الإيراني", alhurra) == "الحوار الأميركي - الإيراني"
    assert clean_title("إعدامات | الحرة", alhurra) == "إعدامات | الحرة"  # one word would be left
    assert clean_title("Asharq Al-Awsat", site_names(source="Al-Awsat", urls=())) == \
        "Asharq Al-Awsat"


def test_alhurra_titles_lose_the_site_name() -> None:
    """Every Alhurra title ends «| الحرة»; with the feed's `name` the posts show none."""
    item = real_item("ar-news-alhurra-rss.xml", "https://alhurra.com/16904")
    assert item.title.endswith("| الحرة")
    assert render_one(item).title == "إعدامات وغزوات"


# --- source lines ----------------------------------------------------------------------------

@pytest.mark.parametrize(("title", "line"), [
    ("Hespress - Article Feed", "Hespress"),
    ("Example Review - RSS Feed", "Example Review"),
    ("RSS", ""), ("Feed", ""), ("Posts", ""), ("الرئيسية", ""),
    ("منتجاتنا on شركة الدرون التقنية المحدودة", "شركة الدرون التقنية المحدودة"),
    ("أعمالنا on مناسك الفنية ل صيانة غرف التبريد والتجميد و تركيب غرف التجميد ثلاجات العرض",
     ""),
    ("Posts on Example Blog", "Example Blog"),
    ("Notes on Python", "Notes on Python"),
    ("THE RECORD | الســــــجـــــــل", "THE RECORD | الســــــجـــــــل"),
    ("doyouknow.app - العربية", "doyouknow.app - العربية"),
])
def test_source_line_drops_feed_boilerplate(title: str, line: str) -> None:
    """Aggregator and generator boilerplate goes; what is left is the site's name, or nothing
    when only boilerplate (or a slogan) is left."""
    assert source_line(title) == line


def test_a_feeds_name_is_its_source_line() -> None:
    """The pipeline puts the feed's configured `name` in source_name: it is shown as it is."""
    post = render_post(article(source_name="الحرة"), channel(), timezone="UTC",
                       first_seen=FIRST_SEEN)
    assert "المصدر: الحرة" in strip_marks(check_post(post))


def test_a_post_without_words_is_a_logged_skip() -> None:
    """Al-Arab's PDF page nodes (title "10899-15", text only CMS fields) become no post."""
    item = real_item("ar-news-alarab-drupal-pdfpages-rss.xml", "https://alarab.co.uk/node/157907")
    with pytest.raises(UnrenderableArticle, match="no words"):
        render_post(item, DEFAULT, timezone="UTC", first_seen=FIRST_SEEN)
    numbered = render_post(article(title="23", content_html="<p>أصبح عمري اليوم 23 عاما.</p>"),
                           channel(), timezone="UTC", first_seen=FIRST_SEEN)
    assert "23" in strip_marks(check_post(numbered))
