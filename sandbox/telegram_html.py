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
from itertools import pairwise

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_RAW_BYTES = 1 << 15  # telegram-bot-api refuses longer raw text before parsing it

SPLITTABLE = frozenset({"bold", "italic", "underline", "strikethrough", "spoiler"})
BLOCKQUOTES = frozenset({"blockquote", "expandable_blockquote"})
PRE_LIKE = frozenset({"code", "pre"})  # nothing may be nested inside these
# tdlib's "continuous" entities (code and pre are not among them).
CONTINUOUS = frozenset({"text_link", "text_mention", "custom_emoji", "mention", "hashtag",
                        "cashtag", "bot_command", "url", "email", "phone_number",
                        "bank_card_number"})

# MessageEntity::get_type_priority: the tie-break when two entities share offset and length.
_PRIORITY = {
    "bold": 90, "italic": 91, "underline": 92, "strikethrough": 93, "spoiler": 94,
    "code": 20, "pre": 11, "pre_code": 10, "text_link": 49, "text_mention": 49,
    "blockquote": 0, "expandable_blockquote": 0, "custom_emoji": 99,
}

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

# Characters the server drops: \r, U+2028..U+202E (LS, PS, LRE, RLE, PDF, LRO, RLO) and the
# combining "vertical lines" U+030A, U+0333, U+033F.
_REMOVED = frozenset({"\r", *map(chr, range(0x2028, 0x202F)), "\u030a", "\u0333", "\u033f"})
_MARK_RUN = re.compile("[\u200e\u200f]{2,}")
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


@dataclass(frozen=True, slots=True)
class Entity:
    """A Bot API MessageEntity; offset and length in UTF-16 code units."""

    type: str
    offset: int
    length: int
    url: str | None = None
    language: str | None = None
    custom_emoji_id: str | None = None
    user_id: int | None = None

    @property
    def end(self) -> int:
        return self.offset + self.length

    def to_api(self) -> dict[str, object]:
        """The JSON object the Bot API returns for this entity."""
        data: dict[str, object] = {"type": self.type, "offset": self.offset, "length": self.length}
        if self.url is not None:
            data["url"] = self.url
        if self.language is not None:
            data["language"] = self.language
        if self.custom_emoji_id is not None:
            data["custom_emoji_id"] = self.custom_emoji_id
        if self.user_id is not None:
            data["user"] = {"id": self.user_id, "is_bot": False, "first_name": ""}
        return data


@dataclass(frozen=True, slots=True)
class ParsedText:
    """Text as Telegram stores it: cleaned, trimmed, with its entities."""

    text: str
    entities: tuple[Entity, ...] = ()

    def entity_text(self, entity: Entity) -> str:
        """The characters an entity covers."""
        units = self.text.encode("utf-16-le")
        return units[2 * entity.offset:2 * entity.end].decode("utf-16-le")


def telegram_length(text: str) -> int:
    """Length as Telegram counts it against 4096/1024: Unicode code points (tdlib utf8_length)."""
    return len(text)


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, the unit of entity offsets."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


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


# --- fixing entities (tdlib fix_entities) -----------------------------------------------------


def _kind(entity: Entity) -> str:
    return "pre_code" if entity.type == "pre" and entity.language else entity.type


def _sort_key(entity: Entity) -> tuple[int, int, int]:
    """tdlib's order: by offset, longer first, then by type priority."""
    return entity.offset, -entity.length, _PRIORITY.get(_kind(entity), 50)


def _are_valid(entities: list[Entity]) -> bool:
    """are_entities_valid: whether tdlib keeps the entities as they are (its fast path)."""
    stack: list[Entity] = []
    split_end: dict[str, int] = {}
    for entity in entities:
        while stack and entity.offset >= stack[-1].end:
            stack.pop()
        if stack and not _may_nest(entity, stack):
            return False
        if entity.type in SPLITTABLE:
            if split_end.get(entity.type, -1) >= entity.offset:  # touching: would be merged
                return False
            split_end[entity.type] = entity.end
        stack.append(entity)
    return True


def _may_nest(entity: Entity, stack: list[Entity]) -> bool:
    parent = stack[-1]
    if entity.end > parent.end or _kind(entity) in {_kind(e) for e in stack}:
        return False
    if parent.type in PRE_LIKE:  # nothing inside code and pre
        return False
    if entity.type in PRE_LIKE and any(e.type not in BLOCKQUOTES for e in stack):
        return False  # code and pre only inside a blockquote
    if ((entity.type in CONTINUOUS or entity.type in BLOCKQUOTES)
            and any(e.type in CONTINUOUS for e in stack)):
        return False
    if entity.type in BLOCKQUOTES and any(e.type in BLOCKQUOTES for e in stack):
        return False
    # tdlib re-splits anything nested in bold/italic/..., so it never takes the fast path.
    return not any(e.type in SPLITTABLE for e in stack)


def _remove_intersecting(entities: list[Entity]) -> list[Entity]:
    """Keep an entity only if it starts at or after the end of the last kept one."""
    kept: list[Entity] = []
    for entity in sorted(entities, key=_sort_key):
        if not kept or entity.offset >= kept[-1].end:
            kept.append(entity)
    return kept


def _fix_entities(entities: list[Entity]) -> list[Entity]:
    """Make entities valid the way tdlib does: drop what may not intersect, merge and split
    bold/italic/... around the others, and drop their parts inside code and pre."""
    entities = sorted(entities, key=_sort_key)
    if _are_valid(entities):
        return entities
    splittable = [e for e in entities if e.type in SPLITTABLE]
    quotes = _remove_intersecting([e for e in entities if e.type in BLOCKQUOTES])
    # Everything else (links, code, pre, custom emoji) may not intersect at all.
    continuous = _remove_intersecting(
        [e for e in entities if e.type not in SPLITTABLE and e.type not in BLOCKQUOTES])
    # A blockquote may contain continuous entities but not cut through them.
    continuous = [e for e in continuous
                  if all(e.end <= q.offset or e.offset >= q.end
                         or (q.offset <= e.offset and e.end <= q.end) for q in quotes)]
    others = sorted(continuous + quotes, key=_sort_key)
    return sorted(_split(splittable, others) + others, key=_sort_key)


def _split(splittable: list[Entity], others: list[Entity]) -> list[Entity]:
    """split_entities: per type, merge touching ranges, remove code/pre ranges, cut the rest at
    every other entity's boundaries."""
    cuts = sorted({p for e in others for p in (e.offset, e.end)})
    blocked = [(e.offset, e.end) for e in others if e.type in PRE_LIKE]
    result: list[Entity] = []
    for kind in sorted({e.type for e in splittable}):
        for start, end in _merge(sorted((e.offset, e.end) for e in splittable if e.type == kind)):
            for a, b in _subtract((start, end), blocked):
                points = [a, *(p for p in cuts if a < p < b), b]
                result.extend(Entity(kind, x, y - x) for x, y in pairwise(points))
    return result


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in ranges:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _subtract(span: tuple[int, int], holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    pieces = [span]
    for h_start, h_end in holes:
        pieces = [piece for a, b in pieces
                  for piece in ((a, min(b, h_start)), (max(a, h_end), b)) if piece[0] < piece[1]]
    return pieces


# --- cleaning and trimming -----------------------------------------------------------------


def _clean_characters(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    """clean_input_string_with_entities: drop and replace characters, moving entity bounds."""
    kept: list[str] = []
    new_at: dict[int, int] = {}  # old UTF-16 position -> new one, at character boundaries
    old = new = 0
    for ch in text:
        new_at[old] = new
        width = 2 if ord(ch) > 0xFFFF else 1
        old += width
        if ch in _REMOVED:
            continue
        kept.append(" " if ord(ch) < 32 and ch != "\n" else ch)
        new += width
    new_at[old] = new
    # A run of LRM/RLM keeps only its last mark; the others become ZWNJ (same length).
    cleaned = _MARK_RUN.sub(lambda m: "\u200c" * (len(m.group()) - 1) + m.group()[-1],
                            "".join(kept))
    moved = [replace(e, offset=new_at[e.offset], length=new_at[e.end] - new_at[e.offset])
             for e in entities]
    return cleaned, moved


def _trim(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    """Right-trim spaces/newlines (cutting entities), left-trim only up to the first entity."""
    text = text.rstrip(" \n")
    end = utf16_length(text)
    entities = sorted((replace(e, length=min(e.end, end) - e.offset)
                       for e in entities if e.offset < end), key=_sort_key)
    first = entities[0].offset if entities else len(text)
    ltrim = 0
    while ltrim < first and text[ltrim] in " \n":
        ltrim += 1
    return text[ltrim:], [replace(e, offset=e.offset - ltrim) for e in entities]


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
