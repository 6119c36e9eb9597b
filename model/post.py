"""What the formatters take and produce: plain post options, and a post ready for Telegram.

No I/O here. The formatters see only these plain values, never the config models: the pipeline
turns a channel's config into `PostOptions` (`post_options`)."""
from __future__ import annotations

from dataclasses import dataclass

from config.languages import (
    CALENDARS,
    DIGITS,
    MONTH_NAMES,
    Calendar,
    Digits,
    Language,
    MonthNames,
    default_calendars,
    default_digits,
    is_rtl,
)
from config.schema import ChannelConfig

__all__ = ["Calendar", "Digits", "Language", "MonthNames", "PostOptions", "RenderedPost",
           "is_rtl", "post_options"]


@dataclass(frozen=True, slots=True)
class PostOptions:
    """How one channel's posts look. `timezone` None: the caller's default zone."""

    language: Language = "ar"
    digits: Digits = "latin"
    calendars: tuple[Calendar, ...] = ("gregorian",)
    month_names: MonthNames = "standard"
    timezone: str | None = None
    template: str | None = None
    photo: bool = False
    link_preview: bool = True
    excerpt_chars: int = 450
    hashtags: bool = True


def post_options(channel: ChannelConfig, *, language: Language | None = None) -> PostOptions:
    """A channel's post options (in another `language` for a subscriber's private copy).

    In another language, the channel's digits, calendars and month names are kept where that
    language can honour them and replaced by its own defaults where not (a Persian channel's
    Solar Hijri date and ۰۱۲۳ digits become a Gregorian date with Latin digits in English)."""
    if not language or language == channel.language:
        return PostOptions(
            language=channel.language, digits=channel.digits,
            calendars=tuple(channel.calendars), month_names=channel.month_names,
            timezone=channel.timezone, template=channel.template, photo=channel.photo,
            link_preview=channel.link_preview, excerpt_chars=channel.excerpt_chars,
            hashtags=channel.hashtags)
    digits = channel.digits if channel.digits in DIGITS[language] else default_digits(language)
    calendars = tuple(c for c in channel.calendars if c in CALENDARS[language]) \
        or default_calendars(language)
    month_names = channel.month_names if channel.month_names in MONTH_NAMES[language] \
        else "standard"
    return PostOptions(
        language=language, digits=digits, calendars=calendars, month_names=month_names,
        timezone=channel.timezone, template=channel.template, photo=channel.photo,
        link_preview=channel.link_preview, excerpt_chars=channel.excerpt_chars,
        hashtags=channel.hashtags)


@dataclass(frozen=True, slots=True)
class RenderedPost:
    """A post exactly as it goes to Telegram with parse_mode=HTML.

    `html` is the message text, or the caption when `photo_url` is set (then it fits 1024
    characters as Telegram counts them; otherwise 4096). `preview_url` is the URL Telegram should
    show a link preview for (None: previews off)."""

    html: str
    photo_url: str | None = None
    preview_url: str | None = None
    language: str = "ar"
