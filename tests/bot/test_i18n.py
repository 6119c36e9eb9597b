"""The message catalogs: every message the bot can send has an Arabic translation with the same
placeholders, the compiled .mo files match the .po files, and Arabic text reads right to left."""
from __future__ import annotations

import gettext
import io
import re
import string

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from bidi import get_base_level

from bot.i18n import LOCALE_DIR, extract_messages, rtl_lines, translator

_FIELDS = string.Formatter()


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in _FIELDS.parse(text) if name}


def catalog(lang: str):
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "nashir.po").open("rb") as handle:
        return read_po(handle)


def test_every_message_is_translated_to_arabic():
    """Each msgid used in bot/ is in the Arabic catalog, translated, with the same
    placeholders; no stale entries remain."""
    used = extract_messages()
    arabic = catalog("ar")
    known = {m.id: m.string for m in arabic if m.id}
    assert sorted(used - set(known)) == []
    assert sorted(set(known) - used) == []
    for msgid, msgstr in known.items():
        assert msgstr, f"untranslated: {msgid!r}"
        assert fields(msgid) == fields(msgstr), msgid
        assert msgstr.count("<b>") == msgid.count("<b>"), msgid


def test_compiled_catalogs_match_sources():
    """The shipped .mo files are the compiled .po files (run `python -m bot.i18n compile`)."""
    for lang in ("ar", "en"):
        buffer = io.BytesIO()
        write_mo(buffer, catalog(lang))
        shipped = (LOCALE_DIR / lang / "LC_MESSAGES" / "nashir.mo").read_bytes()
        assert gettext.GNUTranslations(io.BytesIO(buffer.getvalue()))._catalog == \
            gettext.GNUTranslations(io.BytesIO(shipped))._catalog, lang


def test_arabic_lines_start_right_to_left():
    """Lines that begin with a command, a number, a URL or an emoji still read RTL."""
    t = translator("ar")
    samples = [
        t("Usage: /push URL [CHANNEL]"),
        t("{url}", url="https://example.org/a-b"),
        t("⏸ Feed paused: {url}", url="https://example.org/feed.xml"),
        t("{time} {who}: {action} {detail}", time="2025/09/18 10:00", who="@eddie",
          action="push.publish", detail="https://example.org -> @chan"),
        t("/feeds: the feeds; /addfeed URL CHANNEL; /removefeed URL"),
    ]
    for sample in samples:
        assert get_base_level(sample) == 1, sample
    assert rtl_lines("abc\n\nعربي") == "\u200fabc\n\nعربي"


def test_values_are_escaped_and_cleaned():
    """User input never reaches the HTML unescaped, and its bidi controls are removed."""
    t = translator("en")
    text = t("I do not know the channel {chat}. /channels lists them.",
             chat="<b>x</b>&\u202e\u2066evil")
    assert "&lt;b&gt;x&lt;/b&gt;&amp;evil" in text
    assert not re.search("[\u202a-\u202e\u2066-\u2069]", text)
