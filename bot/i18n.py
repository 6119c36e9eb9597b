"""The bot's replies in Arabic and English, from gettext catalogs, reading the right way.

Source strings (msgids) are English; `bot/locales/<lang>/LC_MESSAGES/nashir.mo` holds each
language. The .mo files are compiled from the .po files (`python -m bot.i18n compile`) and
shipped as package data; when a .mo is missing (a checkout that never compiled them) the .po is
compiled in memory with Babel, so a reply is never left untranslated.

`Translator.__call__` formats a message with its values HTML-escaped, and for Arabic
  * wraps a value with no Arabic letter in it (a URL, @channel, a number or date) in an isolate
    (LRI…PDI) so it keeps its own order inside the Arabic sentence, and
  * starts every line that does not begin with an Arabic letter with RLM, so each line is a
    right-to-left paragraph on every client (the same rule the posts follow). "Begin" counts
    what is inside isolates: Telegram Desktop and Chromium's dir=auto take the first strong
    letter they meet, so a line opening with an isolated "/push" would go left to right there.

Counts go through gettext's plural forms (`Translator.n` for a whole line, `Translator.counted`
for a phrase inside one): Arabic has six (zero, one, two, 3-10, 11-99, 100 and more; see the
Plural-Forms header of ar/LC_MESSAGES/nashir.po), English two.
"""
from __future__ import annotations

import gettext
import html
import io
import re
import sys
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

from formatters.text import strip_controls
from guards.urls import mask_urls_in_text

DOMAIN = "nashir"
LOCALE_DIR = Path(__file__).resolve().parent / "locales"
LANGUAGES = ("ar", "en")

RLM = "\u200f"
LRI = "\u2066"
PDI = "\u2069"
_ISOLATE_OPEN = "\u2066\u2067\u2068"
_TAG = re.compile(r"<[^>]*>")
# Latin runs written into Arabic messages (commands, "URL", "OPML (.opml)", "http://"): kept in
# their own order with an isolate. Tags and {placeholders} are skipped (values get their own).
_LATIN_RUN = re.compile(
    r"<[^>]*>|\{[^}]*\}|[/@A-Za-z](?:[A-Za-z0-9_/@.:\-\[\]|() ]*[A-Za-z0-9\])/])?")
# Bidi controls in user-supplied values could reorder our own text (Trojan-Source style).
_BIDI_CONTROLS = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")


class Html(str):
    """A value that is already safe HTML: formatted in as it is, not escaped."""


def N_(message: str) -> str:
    """Mark a string for extraction without translating it here (translated where shown)."""
    return message


def language_for(code: str | None) -> str:
    """Arabic for any Telegram language code ar*, English otherwise."""
    return "ar" if (code or "").lower().startswith("ar") else "en"


def _compile_po(po_path: Path) -> gettext.GNUTranslations:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po_path.open("rb") as handle:
        catalog = read_po(handle)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@cache
def catalog(lang: str) -> gettext.NullTranslations:
    """The gettext catalog of `lang` (English is the source language)."""
    folder = LOCALE_DIR / lang / "LC_MESSAGES"
    mo_path = folder / f"{DOMAIN}.mo"
    if mo_path.is_file():
        with mo_path.open("rb") as handle:
            return gettext.GNUTranslations(handle)
    po_path = folder / f"{DOMAIN}.po"
    if po_path.is_file():
        return _compile_po(po_path)
    return gettext.NullTranslations()


def first_strong(text: str, *, skip_isolates: bool = True) -> str:
    """Bidi class (L, R or AL) of the first strong character; '' if none. With
    `skip_isolates` (UAX #9 rule P2) the text inside isolates does not count; without, it does,
    as in Telegram Desktop's StringDirection() and Chromium's dir=auto."""
    depth = 0
    for char in text:
        if char in _ISOLATE_OPEN:
            depth += 1
            continue
        if char == PDI:
            depth = max(0, depth - 1)
            continue
        if depth and skip_isolates:
            continue
        kind = unicodedata.bidirectional(char)
        if kind in ("L", "R", "AL"):
            return kind
    return ""


def has_arabic(text: str) -> bool:
    return any(unicodedata.bidirectional(c) in ("R", "AL") for c in text)


def rtl_lines(text: str) -> str:
    """Prefix RLM to each non-empty line of HTML whose first strong character, isolates
    included, is not RTL (so no client can read it left to right, whichever rule it follows)."""
    lines = []
    for line in text.split("\n"):
        plain = html.unescape(_TAG.sub("", line))
        if plain.strip() and first_strong(plain, skip_isolates=False) not in ("R", "AL"):
            line = RLM + line
        lines.append(line)
    return "\n".join(lines)


def isolate_latin(template: str) -> str:
    """Wrap each Latin run of an Arabic message in LRI…PDI (tags and placeholders untouched)."""
    def wrap(match: re.Match[str]) -> str:
        text = match.group(0)
        if text.startswith(("<", "{")):
            return text
        rest = ""
        while text.endswith(")") and text.count(")") > text.count("("):
            text, rest = text[:-1], ")" + rest  # the sentence's own parenthesis, not the run's
        return f"{LRI}{text}{PDI}{rest}"

    return _LATIN_RUN.sub(wrap, template)


def clean_value(value: object, limit: int = 300) -> str:
    """User-supplied text made safe to show: bidi controls, zero-width and control characters
    and lone surrogates removed (formatters.text, as for posts), credentials in any URL in it
    masked (guards.urls), cut to `limit`. Every value of every reply and button goes through
    here, so a feed's title or a secret in a feed's address cannot slip into one."""
    text = mask_urls_in_text(_BIDI_CONTROLS.sub("", strip_controls(str(value))))
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Translator:
    """Replies in one language: `t("Hello {name}", name=user)` -> safe HTML."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else "en"
        self._catalog = catalog(self.lang)

    @property
    def rtl(self) -> bool:
        return self.lang == "ar"

    def raw(self, message: str) -> str:
        """The translated msgid, unformatted (for button labels and command descriptions)."""
        translated = self._catalog.gettext(message)
        return isolate_latin(translated) if self.rtl and translated != message else translated

    def value(self, value: object) -> str:
        """One value as HTML, isolated inside Arabic text when it has no Arabic letter."""
        if isinstance(value, Html):
            text = str(value)
        else:
            text = html.escape(clean_value(value), quote=False)
        if self.rtl and text and not has_arabic(text):
            return f"{LRI}{text}{PDI}"
        return text

    def __call__(self, message: str, **values: Any) -> Html:
        translated = self.raw(message)
        formatted = translated.format(**{k: self.value(v) for k, v in values.items()})
        return Html(self.finish(formatted))

    def n(self, singular: str, plural: str, count: int, **values: Any) -> Html:
        """A counted message in the form the language needs for `count` (gettext ngettext;
        `{count}` in it is the number), as a whole reply or line."""
        return Html(self.finish(self.counted(singular, plural, count, **values)))

    def counted(self, singular: str, plural: str, count: int, **values: Any) -> Html:
        """A counted phrase to put into another message as a value ("5 تغذيات"): like `n`,
        without the line's direction mark."""
        translated = self._catalog.ngettext(singular, plural, count)
        if self.rtl and translated not in (singular, plural):
            translated = isolate_latin(translated)
        return Html(translated.format(**{k: self.value(v)
                                         for k, v in {**values, "count": count}.items()}))

    def button_n(self, singular: str, plural: str, count: int, **values: Any) -> str:
        """A counted button label: plain text (no HTML), values cleaned."""
        translated = self._catalog.ngettext(singular, plural, count)
        cleaned = {k: clean_value(v, 40) for k, v in values.items()}
        return translated.format(**cleaned, count=count)

    def finish(self, text: str) -> str:
        """Apply the direction rule to a whole reply (lines joined from several messages)."""
        return rtl_lines(text) if self.rtl else text

    def button(self, message: str, **values: Any) -> str:
        """A button label: plain text (no HTML), values cleaned."""
        translated = self._catalog.gettext(message)
        return translated.format(**{k: clean_value(v, 40) for k, v in values.items()})


@cache
def translator(lang: str) -> Translator:
    return Translator(lang)


# -- catalogs maintenance -------------------------------------------------------------------------

def compile_catalogs() -> list[Path]:
    """Compile every locales/*/LC_MESSAGES/nashir.po to its .mo; returns the files written."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po_path in sorted(LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        with po_path.open("rb") as handle:
            catalog_ = read_po(handle)
        mo_path = po_path.with_suffix(".mo")
        with mo_path.open("wb") as handle:
            write_mo(handle, catalog_)
        written.append(mo_path)
    catalog.cache_clear()
    translator.cache_clear()
    return written


def extract_messages() -> set[str | tuple[str, str]]:
    """Every msgid used in the bot package: calls of t(...), t.raw(...), t.button(...), N_(...),
    and the (singular, plural) pairs of t.n(...), t.counted(...), t.button_n(...)."""
    from babel.messages.extract import extract_from_dir

    keywords: dict[str, Any] = {"t": None, "raw": None, "button": None, "N_": None, "_": None,
                                "n": (1, 2), "counted": (1, 2), "button_n": (1, 2)}
    found: set[str | tuple[str, str]] = set()
    root = Path(__file__).resolve().parent
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(root), method_map=[("**.py", "python")], keywords=keywords,
    ):
        if isinstance(message, str) and message:
            found.add(message)
        elif isinstance(message, tuple) and len(message) == 2 and all(message):
            found.add((str(message[0]), str(message[1])))
    return found


if __name__ == "__main__":  # python -m bot.i18n compile
    if sys.argv[1:] == ["compile"]:
        for path in compile_catalogs():
            print(path)
    else:
        print("usage: python -m bot.i18n compile", file=sys.stderr)
        sys.exit(2)
