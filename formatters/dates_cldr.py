"""Date lines of Persian, Urdu and Hebrew posts: the words and the pattern from CLDR (through
Babel), each non-Gregorian calendar from a maintained library.

    fa: "پنجشنبه ۲۷ شهریور ۱۴۰۴"              Solar Hijri (jdatetime), digits ۰۱۲۳ by default
    ur: "جمعرات، 18 ستمبر، 2025 عیسوی — 26 ربیع الاول، 1447 ہجری"   Gregorian + Hijri (hijridate)
    he: "יום חמישי, 18 בספטמבר 2025 — כ״ה באלול תשפ״ה"        Gregorian + Hebrew (pyluach)

From CLDR: the weekday; the Gregorian date in the locale's long pattern (`d MMMM y`,
`d MMMM، y`, `d בMMMM y`), which the other calendars' dates follow too; the way the full pattern
joins the weekday to that (fa " ", ur "، ", he ", "); the Gregorian era name. The weekday is
written once, in front; calendars follow the configured order. When two dates with numeric years
stand side by side, each carries its era, so a reader can tell 1404 from 2025; a Hebrew date
needs none (its year is written in letters).

A calendar that cannot place the day is left out: before the Solar Hijri epoch, outside the Umm
al-Qura tables (1924-08-01 .. 2077-11-16), or a Hebrew year outside 5001-5999 (1240-2239 CE),
where the customary year without its thousands would be ambiguous. Gregorian stands in when
nothing else is left. The Hebrew date is the civil day's date: the Hebrew day that begins at
the evening before is not shown.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import lru_cache

import jdatetime
from babel import Locale
from babel.dates import format_date
from hijridate import Gregorian
from pyluach import dates as hebrew_dates

from formatters.labels import labels_for

_LOCALES = {"fa": "fa_IR", "ur": "ur_PK", "he": "he_IL"}
_DIGITS = {
    "extended": str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"),  # U+06F0..U+06F9
    "arabic": str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"),    # U+0660..U+0669
}
_SEPARATOR = " — "
_MARKS = str.maketrans("", "", "\u200e\u200f\u061c")  # our own marks are added per line


class _Fields(dict[str, str]):
    """Values for a CLDR pattern; a field we do not fill stays empty rather than raising."""

    def __missing__(self, key: str) -> str:
        return ""


@lru_cache(maxsize=8)
def _style(language: str) -> tuple[Locale, str, str]:
    """The locale, its long date pattern (as a %-format) and the weekday joiner."""
    locale = Locale.parse(_LOCALES[language])
    long, full = locale.date_formats["long"], locale.date_formats["full"]
    joiner = " "
    if full.pattern.startswith("EEEE") and full.pattern.endswith(long.pattern):
        joiner = full.pattern[len("EEEE"):len(full.pattern) - len(long.pattern)] or " "
    return locale, str(long.format), joiner


def _fill(pattern: str, day: str, month: str, year: str) -> str:
    return pattern % _Fields(d=day, MMMM=month, y=year)


def _gregorian(day: date, language: str, era: bool) -> str | None:
    locale, _pattern, _joiner = _style(language)
    text = format_date(day, "long", locale=locale)
    return f"{text} {format_date(day, 'G', locale=locale)}" if era else text


def _persian(day: date, language: str, era: bool) -> str | None:
    try:
        solar = jdatetime.date.fromgregorian(date=day)
    except (ValueError, OverflowError):
        return None  # before the Solar Hijri epoch
    text = _fill(_style(language)[1], str(solar.day), str(solar.j_months_fa[solar.month - 1]),
                 str(solar.year))
    return f"{text} {labels_for(language).persian_era}" if era else text


def _hijri(day: date, language: str, era: bool) -> str | None:
    months = labels_for(language).hijri_months
    try:
        hijri = Gregorian(day.year, day.month, day.day).to_hijri()
    except (OverflowError, ValueError):
        return None  # outside the Umm al-Qura tables
    if not months:
        return None
    text = _fill(_style(language)[1], str(hijri.day), months[hijri.month - 1], str(hijri.year))
    return f"{text} {labels_for(language).hijri_era}" if era else text


def _hebrew(day: date, language: str, era: bool) -> str | None:
    jewish = hebrew_dates.GregorianDate(day.year, day.month, day.day).to_heb()
    if not 5001 <= jewish.year <= 5999:
        return None
    return _fill(_style(language)[1], str(jewish.hebrew_day()),
                 str(jewish.month_name(hebrew=True)), str(jewish.hebrew_year(thousands=False)))


_MAKERS: dict[str, Callable[[date, str, bool], str | None]] = {
    "gregorian": _gregorian, "persian": _persian, "hijri": _hijri, "hebrew": _hebrew,
}
_NUMERIC_YEAR = frozenset({"gregorian", "persian", "hijri"})


def format_day_cldr(day: date, *, language: str, digits: str,
                    calendars: tuple[str, ...]) -> str:
    """A calendar day as a Persian, Urdu or Hebrew channel writes it (see the module doc)."""
    wanted = [c for c in dict.fromkeys(calendars) if c in _MAKERS]
    # Which calendars can place this day decides whether eras are needed, so try them first.
    placed = [c for c in wanted if _MAKERS[c](day, language, False) is not None] or ["gregorian"]
    era = len([c for c in placed if c in _NUMERIC_YEAR]) > 1
    parts = [_MAKERS[c](day, language, era) or "" for c in placed]
    locale, _pattern, joiner = _style(language)
    text = f"{format_date(day, 'EEEE', locale=locale)}{joiner}{_SEPARATOR.join(parts)}"
    text = text.translate(_MARKS)
    table = _DIGITS.get(digits)
    return text.translate(table) if table else text
