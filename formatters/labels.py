"""The fixed words of a post, per language: only what CLDR (through Babel) does not give us.

Month and weekday names, date patterns and Gregorian era names come from CLDR via Babel
(`formatters.dates`). What is here is written once per language because CLDR has no such
phrase ("By", "Source", "Read the full article", "First seen …"), or because Babel's copy of
CLDR carries only the Gregorian calendar: the Solar Hijri era, and Urdu names of the Hijri
months (hijridate knows Arabic, English, Bengali and Turkish only). Solar Hijri month names
come from jdatetime and Hebrew dates from pyluach, so neither is repeated here.

Arabic and English are the reference and are exactly what they were before other languages
were added.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Labels:
    """One language's fixed words. `template` is the default post template."""

    template: str
    read_more: str
    first_seen: str            # "{date}" is the date line
    hijri_months: tuple[str, ...] = ()   # when hijridate has no names in this language
    hijri_era: str = ""
    persian_era: str = ""


LABELS: dict[str, Labels] = {
    "ar": Labels(
        template="{title}\n{date}\n\n{excerpt}\n\nبقلم: {author}\nالمصدر: {source}\n{link}\n\n"
                 "{hashtags}",
        read_more="اقرأ المقال كاملاً",
        first_seen="رُصد في {date}",
    ),
    "en": Labels(
        template="{title}\n{date}\n\n{excerpt}\n\nBy {author}\nSource: {source}\n{link}\n\n"
                 "{hashtags}",
        read_more="Read the full article",
        first_seen="First seen {date}",
    ),
    "fa": Labels(
        template="{title}\n{date}\n\n{excerpt}\n\nنویسنده: {author}\nمنبع: {source}\n{link}\n\n"
                 "{hashtags}",
        read_more="متن کامل مقاله را بخوانید",
        first_seen="نخستین\u200cبار دیده\u200cشده در {date}",
        # CLDR's abbreviation of the Solar Hijri era in Persian (fa.xml, calendar "persian").
        persian_era="ه\u200d.ش.",
    ),
    "ur": Labels(
        template="{title}\n{date}\n\n{excerpt}\n\nتحریر: {author}\nماخذ: {source}\n{link}\n\n"
                 "{hashtags}",
        read_more="پورا مضمون پڑھیں",
        first_seen="پہلی بار دیکھا گیا: {date}",
        hijri_months=("محرم", "صفر", "ربیع الاول", "ربیع الثانی", "جمادی الاول", "جمادی الثانی",
                      "رجب", "شعبان", "رمضان", "شوال", "ذوالقعدہ", "ذوالحجہ"),
        hijri_era="ہجری",
    ),
    "he": Labels(
        template="{title}\n{date}\n\n{excerpt}\n\nמאת {author}\nמקור: {source}\n{link}\n\n"
                 "{hashtags}",
        read_more="לקריאת הכתבה המלאה",
        first_seen="נצפה לראשונה: {date}",
    ),
}

DEFAULT_TEMPLATES: dict[str, str] = {language: labels.template
                                     for language, labels in LABELS.items()}


def labels_for(language: str) -> Labels:
    """The fixed words of `language` (Arabic for a language we do not know)."""
    return LABELS.get(language, LABELS["ar"])
