"""The message catalogs: every message the bot can send has an Arabic translation with the same
placeholders, the compiled .mo files match the .po files, and Arabic text reads right to left."""
from __future__ import annotations

import gettext
import io
import re
import string

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from bidi import get_base_level

from bot.i18n import LOCALE_DIR, extract_messages, first_strong, rtl_lines, translator

_FIELDS = string.Formatter()


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in _FIELDS.parse(text) if name}


def catalog(lang: str):
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "nashir.po").open("rb") as handle:
        return read_po(handle)


def test_every_message_is_translated_to_arabic():
    """Each msgid used in bot/ is in the Arabic catalog, translated, with the same
    placeholders; counted messages have all six Arabic forms; no stale entries remain."""
    used = extract_messages()
    arabic = catalog("ar")
    known = {m.id: m.string for m in arabic if m.id}
    assert sorted(map(str, used - set(known))) == []
    assert sorted(map(str, set(known) - used)) == []
    for msgid, msgstr in known.items():
        assert msgstr, f"untranslated: {msgid!r}"
        if isinstance(msgid, tuple):
            assert len(msgstr) == 6 and all(msgstr), msgid
            assert fields(msgid[0]) == fields(msgid[1]) and "count" in fields(msgid[1]), msgid
            for form in msgstr:
                # "تغذية واحدة" needs no number; every other placeholder is kept.
                assert fields(form) | {"count"} == fields(msgid[1]) | {"count"}, (msgid, form)
            assert all("{count}" in form for form in msgstr[3:]), msgid
            continue
        assert fields(msgid) == fields(msgstr), msgid
        assert msgstr.count("<b>") == msgid.count("<b>"), msgid


def test_counts_go_through_plural_forms():
    """Every counted message the code uses is a plural entry of both catalogs, and none of the
    bot's messages puts a bare {count} into a sentence any more."""
    used = extract_messages()
    plural = {m for m in used if isinstance(m, tuple)}
    assert len(plural) >= 15
    for lang in ("ar", "en"):
        ids = {m.id for m in catalog(lang) if m.id}
        assert plural <= ids, lang
    singular = [m for m in used if isinstance(m, str)]
    assert [m for m in singular if "{count}" in m or "{seconds}" in m] == []


def test_plural_forms_header_agrees_with_cldr():
    """The Arabic Plural-Forms header picks, for every n, the form CLDR's Arabic rules name
    (zero, one, two, few, many, other), and English's picks one/other."""
    order = {"ar": ["zero", "one", "two", "few", "many", "other"], "en": ["one", "other"]}
    for lang in ("ar", "en"):
        rules = Locale.parse(lang).plural_form
        translations = catalog_object(lang)
        assert catalog(lang).num_plurals == len(order[lang])
        for n in range(0, 1300):
            assert translations.plural(n) == order[lang].index(rules(n)), (lang, n)


def test_arabic_counts_agree_with_the_number():
    """Counted phrases agree with their number: 1 and 2 without digits, 3-10 plural, 11-99
    accusative singular, 100 and more singular."""
    t = translator("ar")

    def say(n: int) -> str:
        return re.sub("[\u2066-\u2069\u200f]", "", t.n("{count} feed.", "{count} feeds.", n))

    assert [say(n) for n in (0, 1, 2, 3, 10, 11, 99, 100, 103, 111)] == [
        "لا تغذيات.", "تغذية واحدة.", "تغذيتان.", "3 تغذيات.", "10 تغذيات.", "11 تغذية.",
        "99 تغذية.", "100 تغذية.", "103 تغذيات.", "111 تغذية."]
    seconds = t.n("Too many commands at once. Wait {count} second, then try again.",
                  "Too many commands at once. Wait {count} seconds, then try again.", 5)
    assert "ثوانٍ" in seconds and "5 ثانية" not in seconds
    english = translator("en")
    assert english.n("{count} feed.", "{count} feeds.", 1) == "1 feed."
    assert english.n("{count} feed.", "{count} feeds.", 2) == "2 feeds."


def catalog_object(lang: str) -> gettext.GNUTranslations:
    """The shipped .mo of `lang`, loaded as the bot loads it."""
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "nashir.mo").open("rb") as handle:
        return gettext.GNUTranslations(handle)


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
        for line in sample.split("\n"):
            # Also where a client does not skip isolates (Telegram Desktop, Chromium dir=auto).
            assert first_strong(line, skip_isolates=False) in ("R", "AL"), line
    assert rtl_lines("abc\n\nعربي") == "\u200fabc\n\nعربي"
    # A line that opens with an isolated command is RTL by UBA alone, but not on Desktop:
    # it gets its RLM.
    line = "\u2066/push URL\u2069: معاينة مقال"
    assert first_strong(line) == "AL" and first_strong(line, skip_isolates=False) == "L"
    assert rtl_lines(line) == "\u200f" + line
    assert rtl_lines("\u200f" + line) == "\u200f" + line  # never two marks in a row


def test_values_are_escaped_and_cleaned():
    """User input never reaches the HTML unescaped, and its bidi controls are removed."""
    t = translator("en")
    text = t("I do not know the channel {chat}. /channels lists them.",
             chat="<b>x</b>&\u202e\u2066evil")
    assert "&lt;b&gt;x&lt;/b&gt;&amp;evil" in text
    assert not re.search("[\u202a-\u202e\u2066-\u2069]", text)
