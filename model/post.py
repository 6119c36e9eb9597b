"""What the formatters take and produce: plain post options, and a post ready for Telegram.

No I/O here. The formatters see only these plain values, never the config models: the pipeline
turns a channel's config into `PostOptions` (`post_options`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from config.schema import ChannelConfig

Language = Literal["ar", "en"]
Digits = Literal["latin", "arabic"]
Calendar = Literal["gregorian", "hijri"]
MonthNames = Literal["standard", "levantine"]


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
    """A channel's post options (in another `language` for a subscriber's private copy)."""
    return PostOptions(
        language=language or channel.language, digits=channel.digits,
        calendars=tuple(channel.calendars), month_names=channel.month_names,
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
