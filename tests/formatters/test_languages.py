"""Persian, Urdu and Hebrew posts: their own labels, CLDR's words and patterns, the digits and
calendars their readers use, and every line right to left by the same proof as Arabic posts."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import jdatetime
import pytest
from babel import Locale
from bidi import get_base_level

from config.schema import ChannelConfig, ConfigError, parse_config
from formatters.dates import format_day, post_date, zone
from formatters.dates_cldr import format_day_cldr
from formatters.hashtags import hashtag
from formatters.labels import LABELS
from formatters.post import render_post
from model.post import PostOptions, post_options
from tests.formatters.conftest import FIRST_SEEN, SHARED, article, channel, check_post, strip_marks
from tests.formatters.test_corpus import articles_from_feed

RTL_FEEDS = SHARED / "corpus" / "real" / "rtl-feeds"
FEEDS = {
    "fa": "fa-blog-hoder-rss.xml",
    "ur": "ur-news-bbcurdu-rss.xml",
    "he": "he-blog-notes-co-il-rss-windows1255.xml",
}
DAY = date(2025, 9, 18)
PUBLISHED = datetime(2025, 9, 18, 9, tzinfo=UTC)
ARABIC_LABELS = ("بقلم", "المصدر", "اقرأ المقال كاملاً", "رُصد في", "سبتمبر", "الخميس")
# Extended Arabic-Indic (Persian, Urdu), Arabic-Indic, Latin.
EXTENDED, ARABIC_INDIC = "۰۱۲۳۴۵۶۷۸۹", "٠١٢٣٤٥٦٧٨٩"
# CLDR's Solar Hijri month names in Persian (common/main/fa.xml, calendar type="persian").
CLDR_PERSIAN_MONTHS = ("فروردین", "اردیبهشت", "خرداد", "تیر", "مرداد", "شهریور", "مهر", "آبان",
                       "آذر", "دی", "بهمن", "اسفند")
# Telegram's hashtag (TDLib match_hashtags): "#", then letters, decimal digits, "_" and ZWNJ
# (marks kept with their letter), not preceded by such a character.
TELEGRAM_HASHTAG = re.compile(r"(?<![\w\u200c])#[\w\u200c]+", re.UNICODE)


def _feed(language: str) -> Path:
    path = RTL_FEEDS / FEEDS[language]
    if not path.is_file():
        pytest.skip(f"the RTL feeds are not at {RTL_FEEDS.resolve()}; these tests need ../shared")
    return path


def _options(language: str, **changes: object) -> PostOptions:
    return post_options(ChannelConfig(chat="@nashir_rtl", language=language, **changes))  # type: ignore[arg-type]


# -- dates ---------------------------------------------------------------------------------------

def test_persian_date_is_solar_hijri_with_persian_digits_by_default() -> None:
    """fa: weekday from CLDR, Solar Hijri date from jdatetime, ۰۱۲۳ digits, without asking."""
    options = _options("fa")
    assert options.digits == "extended" and options.calendars == ("persian",)
    line = post_date(PUBLISHED, FIRST_SEEN, tz=zone("Asia/Tehran"), language="fa",
                     digits=options.digits, calendars=options.calendars).text
    assert line == "پنجشنبه ۲۷ شهریور ۱۴۰۴"
    assert not any(ch in "0123456789" + ARABIC_INDIC for ch in line)


def test_persian_with_gregorian_marks_both_eras() -> None:
    """fa with [persian, gregorian]: two numeric years, so each carries its era (CLDR's م.)."""
    assert format_day(DAY, language="fa", digits="extended",
                      calendars=("persian", "gregorian")) == \
        "پنجشنبه ۲۷ شهریور ۱۴۰۴ ه\u200d.ش. — ۱۸ سپتامبر ۲۰۲۵ م."
    assert format_day(DAY, language="fa", digits="latin", calendars=("gregorian",)) == \
        "پنجشنبه 18 سپتامبر 2025"


def test_urdu_dates_follow_cldr_with_hijri_month_names_in_urdu() -> None:
    """ur: CLDR's pattern (d MMMM، y, weekday joined with "، "), Latin digits by default."""
    assert _options("ur").digits == "latin"  # CLDR: ur's default numbering system is latn
    assert Locale.parse("ur").default_numbering_system == "latn"
    assert format_day(DAY, language="ur", calendars=("gregorian",)) == "جمعرات، 18 ستمبر، 2025"
    assert format_day(DAY, language="ur", calendars=("gregorian", "hijri")) == \
        "جمعرات، 18 ستمبر، 2025 عیسوی — 26 ربیع الاول، 1447 ہجری"
    assert format_day(DAY, language="ur", digits="extended", calendars=("hijri",)) == \
        "جمعرات، ۲۶ ربیع الاول، ۱۴۴۷"


def test_hebrew_dates_gregorian_and_hebrew_calendar() -> None:
    """he: CLDR's "d בMMMM y", Latin digits; the Hebrew date in letters from pyluach."""
    assert format_day(DAY, language="he") == "יום חמישי, 18 בספטמבר 2025"
    assert format_day(DAY, language="he", calendars=("gregorian", "hebrew")) == \
        "יום חמישי, 18 בספטמבר 2025 — כ״ה באלול תשפ״ה"
    # A leap year's second Adar, and the Hebrew calendar first.
    assert format_day(date(2024, 3, 14), language="he", calendars=("hebrew", "gregorian")) == \
        "יום חמישי, ד׳ באדר ב׳ תשפ״ד — 14 במרץ 2024"


def test_the_words_come_from_cldr() -> None:
    """Weekday and Gregorian month names are Babel's CLDR data; Solar Hijri months match CLDR."""
    for language, locale in (("fa", "fa_IR"), ("ur", "ur_PK"), ("he", "he_IL")):
        cldr = Locale.parse(locale)
        line = format_day(DAY, language=language, digits="latin")
        assert cldr.days["format"]["wide"][DAY.weekday()] in line
        assert cldr.months["format"]["wide"][DAY.month] in line
    for month in range(1, 13):
        gregorian = jdatetime.date(1404, month, 10).togregorian()
        solar = format_day_cldr(gregorian, language="fa", digits="latin", calendars=("persian",))
        assert solar.endswith(f" 10 {CLDR_PERSIAN_MONTHS[month - 1]} 1404"), solar


def test_calendars_a_library_cannot_place_are_left_out() -> None:
    """Before the Solar Hijri epoch or outside 5001-5999 AM, Gregorian stands in."""
    assert format_day(date(1, 1, 1), language="fa", digits="latin", calendars=("persian",)) == \
        "دوشنبه 1 ژانویه 1"
    assert format_day(date(9999, 12, 31), language="he", calendars=("hebrew",)) == \
        "יום שישי, 31 בדצמבר 9999"
    assert format_day(date(2080, 1, 1), language="ur", calendars=("gregorian", "hijri")) == \
        "پیر، 1 جنوری، 2080"


def test_first_seen_is_said_in_each_language() -> None:
    """An undated item's line says "first seen" in the channel's language, never "published"."""
    tz = zone("UTC")
    assert post_date(None, FIRST_SEEN, tz=tz, language="fa", digits="extended",
                     calendars=("persian",)).text == \
        "نخستین\u200cبار دیده\u200cشده در پنجشنبه ۲۷ شهریور ۱۴۰۴"
    assert post_date(None, FIRST_SEEN, tz=tz, language="ur").text == \
        "پہلی بار دیکھا گیا: جمعرات، 18 ستمبر، 2025"
    assert post_date(None, FIRST_SEEN, tz=tz, language="he").text == \
        "נצפה לראשונה: יום חמישי, 18 בספטמבר 2025"


# -- config --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("settings", "key", "reason"), [
    ({"language": "fa", "calendars": ["hijri"]}, "channels[0].calendars", "cannot show the hijri"),
    ({"language": "he", "calendars": ["gregorian", "persian"]}, "channels[0].calendars",
     "cannot show the persian"),
    ({"language": "ar", "calendars": ["hebrew"]}, "channels[0].calendars",
     "cannot show the hebrew"),
    ({"language": "ur", "calendars": ["persian"]}, "channels[0].calendars",
     "cannot show the persian"),
    ({"language": "he", "digits": "extended"}, "channels[0].digits", "only as latin"),
    ({"language": "fa", "digits": "arabic"}, "channels[0].digits", "only as extended or latin"),
    ({"language": "ar", "digits": "extended"}, "channels[0].digits", "only as latin or arabic"),
    ({"language": "fa", "month_names": "levantine"}, "channels[0].month_names", "Arabic only"),
])
def test_combinations_that_cannot_be_honoured_are_refused_at_load(
        settings: dict[str, object], key: str, reason: str) -> None:
    """A calendar, digits or month names the language cannot honour stop the load, naming
    the key."""
    with pytest.raises(ConfigError) as caught:
        parse_config({"channels": [{"chat": "@nashir_rtl", **settings}]})
    assert f"config: {key} = " in str(caught.value) and reason in str(caught.value)


def test_accepted_combinations_and_defaults() -> None:
    """Each language's own calendars and digits load; Arabic and English defaults are as before."""
    loaded = parse_config({"channels": [
        {"chat": "@fa_chan", "language": "fa", "calendars": ["persian", "gregorian"],
         "digits": "latin"},
        {"chat": "@ur_chan", "language": "ur", "calendars": ["gregorian", "hijri"],
         "digits": "extended"},
        {"chat": "@he_chan", "language": "he", "calendars": ["hebrew", "gregorian"]},
        {"chat": "@ar_chan"}, {"chat": "@en_chan", "language": "en"},
    ]})
    fa, ur, he, ar, en = loaded.channels
    assert (fa.calendars, fa.digits) == (("persian", "gregorian"), "latin")
    assert (ur.calendars, ur.digits) == (("gregorian", "hijri"), "extended")
    assert (he.calendars, he.digits) == (("hebrew", "gregorian"), "latin")
    assert (ar.language, ar.calendars, ar.digits) == ("ar", ("gregorian",), "latin")
    assert (en.calendars, en.digits) == (("gregorian",), "latin")


def test_a_private_copy_in_another_language_keeps_only_what_it_can_honour() -> None:
    """A Persian channel's copy in English gets a Gregorian date in Latin digits, not ۱۴۰۴."""
    persian = ChannelConfig(chat="@fa_chan", language="fa", calendars=("persian", "gregorian"))
    english = post_options(persian, language="en")
    arabic = post_options(persian, language="ar")
    assert (english.calendars, english.digits) == (("gregorian",), "latin")
    assert (arabic.calendars, arabic.digits) == (("gregorian",), "latin")
    hebrew = post_options(ChannelConfig(chat="@ar_chan", calendars=("hijri",), digits="arabic"),
                          language="he")
    assert (hebrew.calendars, hebrew.digits) == (("gregorian",), "latin")
    post = render_post(article(), english, timezone="UTC", first_seen=FIRST_SEEN)
    assert "Thursday, 18 September 2025" in strip_marks(check_post(post))


# -- posts ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("language", ["fa", "ur", "he"])
def test_default_post_has_the_languages_labels(language: str) -> None:
    """Author, source and link lines carry the language's words; no Arabic label is left."""
    labels = LABELS[language]
    post = render_post(article(), _options(language), timezone="UTC", first_seen=FIRST_SEEN)
    text = strip_marks(check_post(post))
    by, source = {"fa": ("نویسنده: ", "منبع: "), "ur": ("تحریر: ", "ماخذ: "),
                  "he": ("מאת ", "מקור: ")}[language]
    assert by + "هيئة التحرير" in text.split("\n")
    assert source + "مركز الدراسات" in text.split("\n")
    assert labels.read_more in text.split("\n")
    assert f">{labels.read_more}</a>" in post.html
    assert not [word for word in ARABIC_LABELS if word in text.replace("هيئة التحرير", "")]
    assert post.language == language


@pytest.mark.corpus
@pytest.mark.parametrize("language", ["fa", "ur", "he"])
def test_real_feed_items_read_right_to_left_line_by_line(language: str) -> None:
    """Every item of the real Persian, Urdu and Hebrew feeds: valid HTML, each line RTL by UBA."""
    calendars = {"fa": ("persian", "gregorian"), "ur": ("gregorian", "hijri"),
                 "he": ("gregorian", "hebrew")}[language]
    variants = [_options(language), _options(language, calendars=calendars),
                _options(language, calendars=calendars, photo=True, hashtags=True,
                         template="{date} | {source}\n{title}\n{excerpt}\n{hashtags} {link}")]
    articles = articles_from_feed(_feed(language))
    assert len(articles) >= 7
    lines = 0
    for item in articles:
        for options in variants:
            post = render_post(item, options, timezone="Asia/Tehran", first_seen=FIRST_SEEN)
            text = check_post(post)
            for line in text.split("\n"):
                if line:
                    assert get_base_level(line) == 1, (item.uid, line)
                    lines += 1
            visible = strip_marks(text)
            assert not [w for w in ARABIC_LABELS if w in visible], (item.uid, visible)
            if language == "fa":
                date_line = visible.split("\n")[1] if options.template is None else \
                    visible.split("\n")[0]
                assert not any(ch in "0123456789" for ch in date_line.split(" | ")[0]), date_line
    assert lines > 100


def test_hashtags_in_these_scripts_stay_whole_telegram_hashtags() -> None:
    """Persian (with ZWNJ), Urdu, Hebrew and mixed tags are found whole by Telegram's rule."""
    categories = ("جامعه\u200cشناسی", "سیاست خارجی", "اردو ادب", "پاکستان", "צה״ל", "תל־אביב",
                  "ירושלים", "COVID-19 ایران", "Syria", "x²")
    expected = ["#جامعه\u200cشناسی", "#سیاست_خارجی", "#اردو_ادب", "#پاکستان", "#צהל"]
    assert [hashtag(c) for c in categories[:5]] == expected
    assert hashtag("x²") == "#x"  # "²" is not a decimal digit: Telegram would end the tag there
    for language in ("fa", "ur", "he", "ar", "en"):
        for first in range(0, len(categories), 5):
            art = article(categories=categories[first:first + 5])
            post = render_post(art, _options(language), timezone="UTC", first_seen=FIRST_SEEN)
            text = check_post(post)
            wanted = [t for t in (hashtag(c) for c in categories[first:first + 5]) if t]
            found = TELEGRAM_HASHTAG.findall(text.split("\n")[-1])
            assert found == wanted, (language, found, wanted)


def test_arabic_posts_are_unchanged_by_the_new_languages() -> None:
    """The Arabic reference post is byte for byte what it was (labels, date, marks)."""
    post = render_post(article(), channel(calendars=("gregorian", "hijri")),
                       timezone="Asia/Damascus", first_seen=FIRST_SEEN)
    assert post.html == (
        "\u200f<b>الدوافع الاستراتيجية للتقارب السوري الروسي</b>\n"
        "\u200fالخميس 18 سبتمبر 2025 م — 26 ربيع الأول 1447 هـ\n\n"
        "\u200fكانت روسيا حليفًا قويًا لنظام الأسد، واليوم تشرع الإدارة السورية الجديدة في "
        "التقارب مع الجانب الروسي الذي حاربته من قبل.\n\n"
        "\u200fبقلم: هيئة التحرير\n\u200fالمصدر: مركز الدراسات\n"
        "\u200f<a href=\"https://example.org/analysis/1?utm=rss&amp;id=7\">"
        "اقرأ المقال كاملاً</a>\n\n"
        "\u200f#الشأن_السوري #روسيا")
