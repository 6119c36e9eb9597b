"""What the formatters produce: a post ready for Telegram. No I/O here."""
from __future__ import annotations

from dataclasses import dataclass


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
