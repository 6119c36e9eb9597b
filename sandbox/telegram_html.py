"""Telegram's HTML parse mode and text cleaning, re-implemented for tests (pure, no I/O).

Follows tdlib: `td/telegram/MessageEntity.cpp` (`parse_html`, `decode_html_entity`,
`fix_entities`, `clean_input_string_with_entities`, `fix_formatted_text`), `misc.cpp`
(`replace_offending_characters`) and telegram-bot-api `Client.cpp` (`get_formatted_text`,
`get_input_message_text`). The tag parser walks UTF-8 bytes like tdlib does, so error byte
offsets match the real server's. Lengths count code points (tdlib `utf8_length`); entity offsets
and lengths are UTF-16 code units, as in the Bot API.

Error tree (each carries the description tdlib or telegram-bot-api produces; the server adds
"Bad Request: " and lower-cases the first letter):

    TelegramTextError
    ├── HtmlEntityError      "Can't parse entities: ..."
    ├── EmptyTextError       "Message text is empty", "Text must be non-empty"
    ├── TextTooLongError     "Text is too long", "Message is too long",
    │                        "Message caption is too long"
    └── TextEncodingError    "Text must be encoded in UTF-8"
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass, replace

from sandbox.telegram_entities import (
    BLOCKQUOTES,
    CONTINUOUS,
    PRE_LIKE,
    SPLITTABLE,
    Entity,
    ParsedText,
    _clean_characters,
    _fix_entities,
    _sort_key,
    _trim,
    utf16_length,
)

__all__ = ["BLOCKQUOTES", "CONTINUOUS", "PRE_LIKE", "SPLITTABLE", "EmptyTextError", "Entity",
           "HtmlEntityError", "MAX_CAPTION", "MAX_RAW_BYTES", "MAX_TEXT", "ParsedText",
           "TelegramTextError", "TextEncodingError", "TextTooLongError", "checked_link",
           "clean_text", "finish_text", "parse_entities", "parse_html", "parse_plain",
           "telegram_length", "utf16_length", "validate_text"]

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_RAW_BYTES = 1 << 15  # telegram-bot-api refuses longer raw text before parsing it

_SUPPORTED_TAGS = frozenset({
    b"a", b"b", b"strong", b"i", b"em", b"s", b"strike", b"del", b"u", b"ins",
    b"tg-spoiler", b"tg-emoji", b"span", b"pre", b"code", b"blockquote",
})
_SIMPLE_TAGS = {
    b"b": "bold", b"strong": "bold", b"i": "italic", b"em": "italic",
    b"u": "underline", b"ins": "underline", b"s": "strikethrough", b"strike": "strikethrough",
    b"del": "strikethrough", b"tg-spoiler": "spoiler", b"span": "spoiler",
}
_NAME_TOKEN = frozenset(string.ascii_letters + string.digits + ".-")
_NAMED_ENTITIES = {b"lt": "<", b"gt": ">", b"amp": "&", b"quot": '"'}
_TD_SPACE = frozenset(b" \t\r\n\x00\x0b\x0c")  # td::is_space, NUL included (C strings)
# is_empty_string: text made only of these is refused although it has characters.
_INVISIBLE = frozenset(" \n\u00a0\u200b\u200c\u200d\u200e\u200f\u202e\ufeff")
_USER_LINK = re.compile(r"tg:(?://)?user/?\?(?:.*&)?id=(\d+)(?:&.*)?", re.IGNORECASE)


class TelegramTextError(ValueError):
    """A text Telegram refuses; `description` is the wording before "Bad Request: "."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class HtmlEntityError(TelegramTextError):
    """The HTML could not be parsed; the message reads "Can't parse entities: ..."."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"Can't parse entities: {detail}")
        self.detail = detail


class EmptyTextError(TelegramTextError):
    """Nothing would be left to show."""


class TextTooLongError(TelegramTextError):
    """Over one of the length limits."""


class TextEncodingError(TelegramTextError):
    """Not valid Unicode (a lone surrogate cannot be UTF-8)."""



def telegram_length(text: str) -> int:
    """Length as Telegram counts it against 4096/1024: Unicode code points (tdlib utf8_length)."""
    return len(text)



def parse_html(html: str, *, allow_empty: bool = True) -> ParsedText:
    """Parse Bot API HTML like tdlib, then clean and trim like the server.

    Raises HtmlEntityError for bad markup, TextEncodingError for lone surrogates, and
    EmptyTextError when nothing is left and `allow_empty` is false (message text, not captions).
    """
    _check_unicode(html)
    text, entities = _HtmlParser(html).parse()
    return clean_text(text, entities, allow_empty=allow_empty)


def parse_plain(text: str, *, allow_empty: bool = True) -> ParsedText:
    """Text sent without parse_mode: no markup, but the same cleaning and trimming."""
    _check_unicode(text)
    return clean_text(text, (), allow_empty=allow_empty)


def parse_entities(raw: str, parse_mode: str | None = "HTML", *,
                   caption: bool = False) -> ParsedText:
    """What telegram-bot-api checks itself, before tdlib sees the text: encoding, empty raw
    text (not for captions), raw size, parse mode, markup. The result is not yet cleaned."""
    _check_unicode(raw)
    if not raw and not caption:
        raise EmptyTextError("Message text is empty")
    if len(raw.encode("utf-8")) > MAX_RAW_BYTES:
        raise TextTooLongError("Text is too long")
    mode = (parse_mode or "").lower()
    if mode in ("", "none") or not raw:
        return ParsedText(raw, ())
    if mode != "html":
        # Markdown is not imitated; refusing loudly beats accepting it wrongly.
        raise TelegramTextError("Unsupported parse_mode")
    text, entities = _HtmlParser(raw).parse()
    return ParsedText(text, tuple(entities))


def finish_text(parsed: ParsedText, *, caption: bool = False) -> ParsedText:
    """What tdlib does next: clean and trim, refuse empty text, enforce 4096 (1024) characters."""
    result = clean_text(parsed.text, parsed.entities, allow_empty=caption)
    if telegram_length(result.text) > (MAX_CAPTION if caption else MAX_TEXT):
        raise TextTooLongError("Message caption is too long" if caption else "Message is too long")
    return result


def validate_text(raw: str, parse_mode: str | None = "HTML", *,
                  caption: bool = False) -> ParsedText:
    """The whole Bot API pipeline for a message text (or caption), in the server's order."""
    return finish_text(parse_entities(raw, parse_mode, caption=caption), caption=caption)


def clean_text(text: str, entities: tuple[Entity, ...] | list[Entity] = (), *,
               allow_empty: bool = True) -> ParsedText:
    """tdlib fix_formatted_text: fix nesting, drop/replace characters, trim, detect empty text."""
    ents = _fix_entities([e for e in entities if e.length > 0])
    text, ents = _clean_characters(text, ents)
    ents = [e for e in ents if e.length > 0]
    if not text.strip(" \n"):
        if allow_empty:
            return ParsedText("", ())
        raise EmptyTextError("Text must be non-empty")
    ents = _fix_entities(ents)
    text, ents = _trim(text, ents)
    if not allow_empty and all(ch in _INVISIBLE for ch in text):
        raise EmptyTextError("Text must be non-empty")
    return ParsedText(text, tuple(ents))


# --- the tag parser -------------------------------------------------------------------------


@dataclass(slots=True)
class _Open:
    tag: bytes
    argument: str
    offset: int     # UTF-16 offset where the entity starts
    out_pos: int    # byte position in the output, for <a> without href


class _HtmlParser:
    """tdlib parse_html over UTF-8 bytes; `_at` returns 0 past the end, like a C string."""

    def __init__(self, html: str) -> None:
        self.data = html.encode("utf-8")
        self.out = bytearray()
        self.utf16 = 0
        self.stack: list[_Open] = []
        self.entities: list[Entity] = []
        self.decoded_surrogate = False

    def _at(self, i: int) -> int:
        return self.data[i] if i < len(self.data) else 0

    def parse(self) -> tuple[str, list[Entity]]:
        i = 0
        while i < len(self.data):
            c = self.data[i]
            if c == 0x26:  # '&'
                decoded = self._decode_entity(i)
                if decoded is not None:
                    char, i = decoded
                    self.out += char.encode("utf-8", "surrogatepass")
                    self.utf16 += 1 + (ord(char) > 0xFFFF)
                    self.decoded_surrogate |= 0xD800 <= ord(char) <= 0xDFFF
                    continue
            if c != 0x3C:  # not '<': an ordinary byte, an unknown '&...' stays literal
                if c & 0xC0 != 0x80:
                    self.utf16 += 1 + (c >= 0xF0)
                self.out.append(c)
                i += 1
                continue
            i = self._end_tag(i) if self._at(i + 1) == 0x2F else self._start_tag(i)
        if self.stack:
            raise HtmlEntityError(
                f'Can\'t find end tag corresponding to start tag "{_show(self.stack[-1].tag)}"')
        text = self.out.decode("utf-8", "surrogatepass")
        if self.decoded_surrogate and _has_surrogate(text):
            raise HtmlEntityError("Text contains invalid Unicode characters after decoding HTML "
                                  "entities, check for unmatched surrogate code units")
        # tdlib keeps a code block's language only when it became pre+code.
        ents = [replace(e, language=None) if e.type == "code" else e for e in self.entities]
        return text, sorted(ents, key=_sort_key)

    def _decode_entity(self, pos: int) -> tuple[str, int] | None:
        """decode_html_entity: (character, position after it), or None to keep '&' literally."""
        end = pos + 1
        if self._at(end) == 0x23:  # '#'
            end += 1
            value = 0
            if self._at(end) == 0x78:  # only a lower-case 'x' means hexadecimal
                end += 1
                while self._at(end) and chr(self._at(end)) in string.hexdigits:
                    value = value * 16 + int(chr(self._at(end)), 16)
                    end += 1
            else:
                while 0x30 <= self._at(end) <= 0x39:
                    value = value * 10 + self._at(end) - 0x30
                    end += 1
            if value == 0 or value >= 0x10FFFF or end - pos >= 10:
                return None
            char = chr(value)
        else:
            while self._at(end) and chr(self._at(end)) in string.ascii_letters:
                end += 1
            named = _NAMED_ENTITIES.get(self.data[pos + 1:end])
            if named is None:
                return None
            char = named
        if self._at(end) == 0x3B:  # ';' is optional
            end += 1
        return char, end

    def _skip_spaces(self, i: int) -> int:
        while self._at(i) and self._at(i) in _TD_SPACE:
            i += 1
        return i

    def _start_tag(self, begin: int) -> int:
        i = begin + 1
        while self._at(i) not in _TD_SPACE and self._at(i) != 0x3E:
            i += 1
        if self._at(i) == 0:
            raise HtmlEntityError(f"Unclosed start tag at byte offset {begin}")
        tag = self.data[begin + 1:i].lower()
        if tag not in _SUPPORTED_TAGS:
            raise HtmlEntityError(f'Unsupported start tag "{_show(tag)}" at byte offset {begin}')

        argument = ""
        while self._at(i) != 0x3E:
            i = self._skip_spaces(i)
            if self._at(i) == 0x3E:
                break
            name_begin = i
            while self._at(i) not in _TD_SPACE and self._at(i) not in b"=>/\"'":
                i += 1
            name = self.data[name_begin:i]  # attribute names are compared case-sensitively
            if not name:
                raise HtmlEntityError(
                    f'Empty attribute name in the tag "{_show(tag)}" at byte offset {begin}')
            i = self._skip_spaces(i)
            if self._at(i) != 0x3D:  # an attribute without a value
                if self._at(i) == 0:
                    raise HtmlEntityError(
                        f'Unclosed start tag "{_show(tag)}" at byte offset {begin}')
                if tag == b"blockquote" and name == b"expandable":
                    argument = "1"
                continue
            i = self._skip_spaces(i + 1)
            if self._at(i) == 0:
                raise HtmlEntityError(f'Unclosed start tag "{_show(tag)}" at byte offset {begin}')
            value, i = self._attribute_value(i)
            if self._at(i) == 0:
                raise HtmlEntityError(f"Unclosed start tag at byte offset {begin}")
            argument = _tag_argument(tag, name, value, argument)

        if tag == b"span" and argument != "spoiler":
            raise HtmlEntityError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
        self.stack.append(_Open(tag, argument, self.utf16, len(self.out)))
        return i + 1

    def _attribute_value(self, i: int) -> tuple[str, int]:
        quote = self._at(i)
        if quote not in (0x22, 0x27):
            # An unquoted "name token": letters, digits, '.', '-'; case-insensitive.
            begin = i
            while self._at(i) and chr(self._at(i)) in _NAME_TOKEN:
                i += 1
            if self._at(i) not in _TD_SPACE and self._at(i) != 0x3E:
                raise HtmlEntityError(f"Unexpected end of name token at byte offset {begin}")
            return self.data[begin:i].lower().decode("ascii"), i
        i += 1
        value = bytearray()
        while self._at(i) != quote and self._at(i) != 0:
            if self._at(i) == 0x26:
                decoded = self._decode_entity(i)
                if decoded is not None:
                    char, i = decoded
                    value += char.encode("utf-8", "surrogatepass")
                    continue
            value.append(self._at(i))
            i += 1
        if self._at(i) == quote:
            i += 1
        return value.decode("utf-8", "surrogatepass"), i

    def _end_tag(self, begin: int) -> int:
        if not self.stack:
            raise HtmlEntityError(f"Unexpected end tag at byte offset {begin}")
        i = begin + 1
        while self._at(i) not in _TD_SPACE and self._at(i) != 0x3E:
            i += 1
        end_tag = self.data[begin + 2:i].lower()
        i = self._skip_spaces(i)
        if self._at(i) != 0x3E:
            raise HtmlEntityError(f"Unclosed end tag at byte offset {begin}")
        opened = self.stack[-1]
        if end_tag and end_tag != opened.tag:  # a bare "</>" closes whatever is open
            raise HtmlEntityError(
                f'Unmatched end tag at byte offset {begin}, expected "</{_show(opened.tag)}>", '
                f'found "</{_show(end_tag)}>"')
        if self.utf16 > opened.offset:
            self._close(opened)
        self.stack.pop()
        return i + 1

    def _close(self, opened: _Open) -> None:
        offset, length = opened.offset, self.utf16 - opened.offset
        last = self.entities[-1] if self.entities else None
        same_span = last is not None and (last.offset, last.length) == (offset, length)
        if opened.tag in _SIMPLE_TAGS:
            self.entities.append(Entity(_SIMPLE_TAGS[opened.tag], offset, length))
        elif opened.tag == b"tg-emoji":
            if not _is_int64(opened.argument) or int(opened.argument) == 0:
                raise HtmlEntityError("Invalid custom emoji identifier specified")
            self.entities.append(Entity("custom_emoji", offset, length,
                                        custom_emoji_id=str(int(opened.argument))))
        elif opened.tag == b"a":
            url = opened.argument or self.out[opened.out_pos:].decode("utf-8", "surrogatepass")
            user = _USER_LINK.fullmatch(url)
            if user:
                self.entities.append(Entity("text_mention", offset, length,
                                            user_id=int(user.group(1))))
            elif checked := checked_link(url):  # an invalid link silently loses its entity
                self.entities.append(Entity("text_link", offset, length, url=checked))
        elif opened.tag == b"pre":
            if same_span and last is not None and last.type == "code" and last.language:
                self.entities[-1] = replace(last, type="pre")  # <code class> inside <pre>
            else:
                self.entities.append(Entity("pre", offset, length))
        elif opened.tag == b"code":
            if (same_span and last is not None and last.type == "pre" and last.language is None
                    and opened.argument):
                self.entities[-1] = replace(last, language=opened.argument)  # <pre><code class>
            else:
                self.entities.append(Entity("code", offset, length,
                                            language=opened.argument or None))
        else:  # blockquote
            kind = "expandable_blockquote" if opened.argument else "blockquote"
            self.entities.append(Entity(kind, offset, length))


def _tag_argument(tag: bytes, name: bytes, value: str, current: str) -> str:
    """Which attribute a tag keeps; every other attribute is ignored."""
    if tag == b"a" and name == b"href":
        return value
    if tag == b"code" and name == b"class" and value.startswith("language-"):
        return value[len("language-"):]
    if tag == b"span" and name == b"class" and value.startswith("tg-"):
        return value[len("tg-"):]
    if tag == b"tg-emoji" and name == b"emoji-id":
        return value
    if tag == b"blockquote" and name == b"expandable":
        return "1"
    return current


def checked_link(url: str) -> str:
    """LinkManager::get_checked_link, simplified: the URL Telegram stores, or "" if refused.

    http(s) links need a host with a dot and always get a path ("https://x.org" ->
    "https://x.org/"); a link without a scheme becomes http://; tg:, ton: and tonsite: links
    need a plain host. Anything else (other schemes, spaces, controls) is refused.
    """
    if not url or any(ch.isspace() or ord(ch) < 32 or 0xD800 <= ord(ch) <= 0xDFFF for ch in url):
        return ""
    lowered = url.lower()
    for scheme in ("tg", "ton", "tonsite"):
        if lowered.startswith(scheme + ":"):
            rest = url[len(scheme) + 1:].removeprefix("//")
            host = re.match(r"[^/?#]*", rest).group()  # type: ignore[union-attr]
            allowed = r"[A-Za-z0-9_.-]+" if scheme == "tonsite" else r"[A-Za-z0-9_-]+"
            if not re.fullmatch(allowed, host):
                return ""
            query = "/" + rest[len(host):].removeprefix("/")
            if query.startswith("/?"):  # "tg://resolve?domain=x" keeps no slash before "?"
                query = query[1:]
            return f"{scheme}://{host}{query}"
    match = re.fullmatch(r"(?:([A-Za-z][A-Za-z0-9+.-]*)://)?([^/?#]*)(.*)", url, re.DOTALL)
    if match is None:
        return ""
    scheme, authority, rest = (match.group(1) or "http").lower(), match.group(2), match.group(3)
    userinfo, _, host_port = authority.rpartition("@")
    host, _, port = host_port.partition(":")
    if scheme not in ("http", "https") or "." not in host.strip("."):
        return ""
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        return ""
    path = rest if rest.startswith("/") else "/" + rest
    credentials = f"{userinfo}@" if userinfo else ""
    return f"{scheme}://{credentials}{host}{':' + port if port else ''}{path}"



# --- small helpers ---------------------------------------------------------------------------


def _check_unicode(text: str) -> None:
    if _has_surrogate(text):
        raise TextEncodingError("Text must be encoded in UTF-8")


def _has_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)


def _is_int64(value: str) -> bool:
    return (re.fullmatch(r"-?\d+", value) is not None and str(int(value)) == value
            and -(1 << 63) <= int(value) < (1 << 63))


def _show(tag: bytes) -> str:
    return tag.decode("utf-8", "replace")
