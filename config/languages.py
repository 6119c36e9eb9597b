"""The languages a channel can post in, and what each one can honour.

One table, read twice: by the config (to refuse at load a `calendars`, `digits` or
`month_names` value a language cannot honour, naming the key) and, through `model.post`, by the
formatters (to pick the labels, the date style and the direction). Plain data, no imports.

Why these sets:
* calendars: the ones each readership reads and that a maintained library computes. Persian:
  the Solar Hijri calendar (Iran's civil calendar, jdatetime) and Gregorian; Iran's lunar Hijri
  dates follow local sighting, not the Umm al-Qura tables, so `hijri` is refused for `fa`.
  Urdu: Gregorian and Hijri (Umm al-Qura, as for Arabic). Hebrew: Gregorian and the Hebrew
  calendar (pyluach). Arabic and English: Gregorian and Hijri, as before.
* digits: CLDR's default numbering system of the language first (Persian `arabext`; Urdu and
  Hebrew `latn`), then the alternatives its readers also use. `extended` is Extended
  Arabic-Indic (U+06F0-U+06F9, ۰۱۲۳۴۵۶۷۸۹); `arabic` is Arabic-Indic (U+0660-U+0669), Arabic only
  (a Persian or Urdu reader reads ٤٥٦ as foreign shapes). English keeps what it always accepted.
"""
from __future__ import annotations

from typing import Literal, get_args

Language = Literal["ar", "en", "fa", "ur", "he"]
Digits = Literal["latin", "arabic", "extended"]
Calendar = Literal["gregorian", "hijri", "persian", "hebrew"]
MonthNames = Literal["standard", "levantine"]

LANGUAGES: tuple[Language, ...] = get_args(Language)
RTL_LANGUAGES = frozenset({"ar", "fa", "ur", "he"})

# Allowed calendars per language, and what a channel shows when it names none.
CALENDARS: dict[str, tuple[Calendar, ...]] = {
    "ar": ("gregorian", "hijri"),
    "en": ("gregorian", "hijri"),
    "fa": ("persian", "gregorian"),
    "ur": ("gregorian", "hijri"),
    "he": ("gregorian", "hebrew"),
}
DEFAULT_CALENDARS: dict[str, tuple[Calendar, ...]] = {
    "ar": ("gregorian",), "en": ("gregorian",), "fa": ("persian",), "ur": ("gregorian",),
    "he": ("gregorian",),
}
# Allowed digits per language; the first is the default.
DIGITS: dict[str, tuple[Digits, ...]] = {
    "ar": ("latin", "arabic"),
    "en": ("latin", "arabic"),
    "fa": ("extended", "latin"),
    "ur": ("latin", "extended"),
    "he": ("latin",),
}
# `levantine` month names are an Arabic variant (CLDR ar_SY); English ignores the key as before.
MONTH_NAMES: dict[str, tuple[MonthNames, ...]] = {
    "ar": ("standard", "levantine"),
    "en": ("standard", "levantine"),
    "fa": ("standard",),
    "ur": ("standard",),
    "he": ("standard",),
}


def default_digits(language: str) -> Digits:
    """The digits a channel in `language` uses when the config names none."""
    return DIGITS.get(language, DIGITS["ar"])[0]


def default_calendars(language: str) -> tuple[Calendar, ...]:
    """The calendars a channel in `language` shows when the config names none."""
    return DEFAULT_CALENDARS.get(language, DEFAULT_CALENDARS["ar"])


def is_rtl(language: str) -> bool:
    """Whether posts in `language` read right to left."""
    return language in RTL_LANGUAGES
