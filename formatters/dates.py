"""The date line of a post: which moment it shows, and how it is written.

Honesty rule: the post states a publication date only when the feed gave one we can believe.
A missing date, or one in the future (a broken feed, or a scheduled post leaking early), is
replaced by the moment the bot first saw the item, and the line says exactly that:
"رُصد في ..." / "First seen ...", never "published".

Formatting comes from CLDR via Babel (weekday and month names; `ar_EG` for the يناير/سبتمبر set,
`ar_SY` for the كانون الثاني/أيلول set) and from hijridate for the Umm al-Qura calendar, which
only covers 1924-08-01 .. 2077-11-16: outside that range the Hijri part is left out.

Persian, Urdu and Hebrew (`formatters.dates_cldr`) take the weekday, the Gregorian month names,
the date pattern and the era names from CLDR too; the Solar Hijri date from jdatetime, the
Hebrew date from pyluach.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import timezone as dt_timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date
from hijridate import Gregorian

from formatters.dates_cldr import format_day_cldr
from formatters.labels import LABELS

logger = logging.getLogger(__name__)

# A feed clock a little ahead of ours is normal; beyond this the date is not believed.
FUTURE_TOLERANCE = timedelta(minutes=10)
_ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")  # U+0660..U+0669
_LOCALES = {("ar", "standard"): "ar_EG", ("ar", "levantine"): "ar_SY"}
_CALENDAR_SEPARATOR = " — "
_CLDR_LANGUAGES = frozenset({"fa", "ur", "he"})


@dataclass(frozen=True, slots=True)
class PostDate:
    """The date line's text, and whether it is the feed's publication date (`published`) or
    the first-seen fallback."""

    text: str
    published: bool
    moment: datetime | None


def zone(name: str | None) -> ZoneInfo | dt_timezone:
    """The named zone; UTC if the name is unknown (config validation should have caught it)."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("unknown time zone %r, using UTC", name)
        return UTC


def _aware(moment: object) -> datetime | None:
    if not isinstance(moment, datetime):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _in_future(published: datetime, seen: datetime) -> bool:
    try:
        return published - seen > FUTURE_TOLERANCE
    except OverflowError:  # datetime.min/max from a broken parser
        return published > seen


def _local_day(moment: datetime, tz: ZoneInfo | dt_timezone) -> date | None:
    try:
        return moment.astimezone(tz).date()
    except (OverflowError, ValueError):  # year 1 or 9999 pushed over the edge by the offset
        return None


def _hijri(day: date, language: str) -> str | None:
    try:
        hijri = Gregorian(day.year, day.month, day.day).to_hijri()
    except (OverflowError, ValueError):
        return None  # outside Umm al-Qura tables (1924-08-01 .. 2077-11-16): say nothing
    if language == "ar":
        return f"{hijri.day} {hijri.month_name('ar')} {hijri.year} {hijri.notation('ar')}"
    return f"{hijri.day} {hijri.month_name('en')} {hijri.year} {hijri.notation('en')}"


@lru_cache(maxsize=4096)
def format_day(day: date, *, language: str = "ar", month_names: str = "standard",
               digits: str = "latin", calendars: Sequence[str] = ("gregorian",)) -> str:
    """A calendar day as the channel writes it, e.g.
    "الخميس 18 سبتمبر 2025 م — 26 ربيع الأول 1447 هـ" or "Thursday, 18 September 2025".

    The weekday is written once, in front; calendars follow the configured order. "م" marks the
    Gregorian year only when a Hijri date stands next to it. Cached: Babel takes ~80 µs a call
    and a channel's posts share few distinct days. Persian, Urdu and Hebrew: `format_day_cldr`.
    """
    if language in _CLDR_LANGUAGES:
        return format_day_cldr(day, language=language, digits=digits, calendars=tuple(calendars))
    wanted = [c for c in dict.fromkeys(calendars) if c in ("gregorian", "hijri")] or ["gregorian"]
    hijri = _hijri(day, language) if "hijri" in wanted else None
    if hijri is None:
        wanted = ["gregorian"]
    if language == "ar":
        locale = _LOCALES.get((language, month_names), "ar_EG")
        weekday = format_date(day, "EEEE", locale=locale)
        gregorian = format_date(day, "d MMMM y", locale=locale)
        if len(wanted) > 1:
            gregorian += " م"
        parts = [gregorian if c == "gregorian" else hijri for c in wanted]
        text = f"{weekday} {_CALENDAR_SEPARATOR.join(p for p in parts if p)}"
    else:
        weekday = format_date(day, "EEEE", locale="en")
        gregorian = format_date(day, "d MMMM y", locale="en")
        parts = [gregorian if c == "gregorian" else hijri for c in wanted]
        text = f"{weekday}, {_CALENDAR_SEPARATOR.join(p for p in parts if p)}"
    # CLDR patterns may carry RLM/ALM; our own marks are added per line, so none here.
    text = "".join(ch for ch in text if ch not in "\u200e\u200f\u061c")
    return text.translate(_ARABIC_INDIC) if digits == "arabic" else text


def post_date(published_at: object, first_seen: object, *, tz: ZoneInfo | dt_timezone,
              language: str = "ar", month_names: str = "standard", digits: str = "latin",
              calendars: Sequence[str] = ("gregorian",)) -> PostDate:
    """The date line for an article: its publication day if believable, else "first seen"."""
    style = {"language": language, "month_names": month_names, "digits": digits,
             "calendars": tuple(calendars)}
    seen = _aware(first_seen)
    published = _aware(published_at)
    if published is not None and seen is not None and _in_future(published, seen):
        logger.debug("feed date %s is after first sight %s; using first sight", published, seen)
        published = None
    if published is not None:
        day = _local_day(published, tz)
        if day is not None:
            return PostDate(format_day(day, **style), True, published)
    if seen is not None:
        day = _local_day(seen, tz)
        if day is not None:
            label = (LABELS.get(language) or LABELS["en"]).first_seen
            return PostDate(label.format(date=format_day(day, **style)), False, seen)
    return PostDate("", False, None)  # no moment we can vouch for: no date line at all
