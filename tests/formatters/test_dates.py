"""The date line: the right day in the channel's zone, in the channel's style, and never a lie."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from formatters.dates import post_date, zone
from formatters.post import render_post
from tests.formatters.conftest import (
    FIRST_SEEN,
    article,
    channel,
    check_post,
    strip_marks,
)

BOTH = ("gregorian", "hijri")


def _line(published: object, first_seen: datetime = FIRST_SEEN, **style: object) -> str:
    tz = zone(str(style.pop("tz", "Asia/Damascus")))
    return post_date(published, first_seen, tz=tz, **style).text  # type: ignore[arg-type]


def test_the_issue_example_exactly() -> None:
    """Gregorian with Egyptian month names and the Umm al-Qura date, as in the issue."""
    published = datetime(2025, 9, 18, 9, 0, tzinfo=UTC)
    assert _line(published, calendars=BOTH) == "الخميس 18 سبتمبر 2025 م — 26 ربيع الأول 1447 هـ"


def test_the_example_in_a_rendered_post() -> None:
    """A rendered post's second line is that date, with only our RLM in front of it."""
    post = render_post(article(published_at=datetime(2025, 9, 18, 9, tzinfo=UTC)),
                       channel(calendars=BOTH), timezone="Asia/Damascus", first_seen=FIRST_SEEN)
    text = check_post(post)
    assert text.split("\n")[1] == "\u200fالخميس 18 سبتمبر 2025 م — 26 ربيع الأول 1447 هـ"


def test_levantine_month_names() -> None:
    """month_names: levantine gives أيلول and كانون الثاني (CLDR ar_SY)."""
    assert _line(datetime(2025, 9, 18, 9, tzinfo=UTC), month_names="levantine") == \
        "الخميس 18 أيلول 2025"
    assert _line(datetime(2025, 1, 5, 9, tzinfo=UTC), month_names="levantine") == \
        "الأحد 5 كانون الثاني 2025"


def test_arabic_indic_digits() -> None:
    """digits: arabic writes every number of the date with U+0660..U+0669."""
    line = _line(datetime(2025, 9, 18, 9, tzinfo=UTC), calendars=BOTH, digits="arabic",
                 month_names="levantine")
    assert line == "الخميس ١٨ أيلول ٢٠٢٥ م — ٢٦ ربيع الأول ١٤٤٧ هـ"
    assert not any(ch.isascii() and ch.isdigit() for ch in line)


def test_hijri_only() -> None:
    """calendars: [hijri] gives the weekday and the Hijri date alone."""
    assert _line(datetime(2025, 9, 18, 9, tzinfo=UTC), calendars=("hijri",)) == \
        "الخميس 26 ربيع الأول 1447 هـ"


def test_english_dates() -> None:
    """An English channel gets an English date, with the Hijri date in English if asked."""
    published = datetime(2025, 9, 18, 9, tzinfo=UTC)
    assert _line(published, language="en") == "Thursday, 18 September 2025"
    assert _line(published, language="en", calendars=BOTH) == \
        "Thursday, 18 September 2025 — 26 Rabi' al-Awwal 1447 AH"


def test_the_day_is_the_channel_timezone_day() -> None:
    """23:30 UTC on the 17th is already the 18th in Damascus but still the 17th in New York."""
    late = datetime(2025, 9, 17, 23, 30, tzinfo=UTC)
    assert _line(late, tz="Asia/Damascus").endswith("18 سبتمبر 2025")
    assert _line(late, tz="America/New_York").endswith("17 سبتمبر 2025")


def test_channel_timezone_overrides_the_top_level_one() -> None:
    """ChannelConfig.timezone wins over the timezone passed in."""
    late = datetime(2025, 9, 17, 23, 30, tzinfo=UTC)
    post = render_post(article(published_at=late), channel(timezone="Asia/Riyadh"),
                       timezone="America/New_York", first_seen=FIRST_SEEN)
    assert "الخميس 18 سبتمبر 2025" in strip_marks(check_post(post))


def test_missing_date_says_first_seen_not_published() -> None:
    """No feed date: the line is the first-seen day, labelled as such."""
    assert _line(None) == "رُصد في الخميس 18 سبتمبر 2025"
    assert _line(None, language="en") == "First seen Thursday, 18 September 2025"


def test_future_date_is_not_believed() -> None:
    """A feed date after the moment we first saw the item is replaced by first-seen."""
    future = FIRST_SEEN + timedelta(days=3)
    result = post_date(future, FIRST_SEEN, tz=zone("UTC"))
    assert not result.published
    assert result.text == "رُصد في الخميس 18 سبتمبر 2025"
    # A feed clock a few minutes ahead is normal and still believed.
    assert post_date(FIRST_SEEN + timedelta(minutes=5), FIRST_SEEN, tz=zone("UTC")).published


def test_unusable_dates_do_not_crash() -> None:
    """Naive, extreme and non-date values give a sensible line, never an exception."""
    assert _line(datetime(2025, 9, 18, 9)) == "الخميس 18 سبتمبر 2025"  # naive: taken as UTC
    assert _line(datetime.min.replace(tzinfo=UTC), tz="Asia/Tokyo").startswith("الاثنين 1 يناير 1")
    assert _line("2025-09-18") == "رُصد في الخميس 18 سبتمبر 2025"  # type: ignore[arg-type]
    assert post_date(None, None, tz=zone("UTC")).text == ""
    assert post_date(datetime.max.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC),
                     tz=zone("Pacific/Kiritimati")).text == ""


def test_outside_the_hijri_range_only_gregorian_is_shown() -> None:
    """Umm al-Qura covers 1924-08-01..2077-11-16; outside it the Hijri part is left out."""
    assert _line(datetime(1924, 7, 31, 12, tzinfo=UTC), calendars=BOTH, tz="UTC") == \
        "الخميس 31 يوليو 1924"
    assert _line(datetime(1924, 8, 1, 12, tzinfo=UTC), calendars=BOTH, tz="UTC") == \
        "الجمعة 1 أغسطس 1924 م — 1 محرم 1343 هـ"
    later = datetime(2080, 1, 1, tzinfo=UTC)  # seen after the date, so the date is believed
    assert _line(datetime(2077, 11, 16, 12, tzinfo=UTC), later, calendars=("hijri",),
                 tz="UTC") == "الثلاثاء 30 ذو الحجة 1500 هـ"
    assert _line(datetime(2077, 11, 17, 12, tzinfo=UTC), later, calendars=("hijri",),
                 tz="UTC") == "الأربعاء 17 نوفمبر 2077"


def test_unknown_timezone_falls_back_to_utc() -> None:
    """A zone name the system does not know gives UTC, not an exception."""
    assert zone("Mars/Olympus_Mons") == UTC
    assert zone(None) == UTC


def test_first_seen_post_is_honest_end_to_end() -> None:
    """A rendered post for an undated item never claims a publication date."""
    post = render_post(article(published_at=None), channel(calendars=BOTH),
                       timezone="Asia/Damascus", first_seen=FIRST_SEEN)
    line = strip_marks(check_post(post)).split("\n")[1]
    assert line == "رُصد في الخميس 18 سبتمبر 2025 م — 26 ربيع الأول 1447 هـ"
