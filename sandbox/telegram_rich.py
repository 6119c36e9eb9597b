"""Rich messages (Bot API 10.1-10.3) as the strict fake Bot API checks them.

`check_rich_message(value)` takes the `rich_message` parameter (a JSON string from a form, or
an already decoded object from a JSON body) and either returns what Telegram would store or
raises `RichMessageError` with the text of a 400 answer (without the "Bad Request: " prefix).

What is imitated, and the choices made where the documentation is silent (the same list is in
docs/rich-messages.md, "The fake's assumptions"):

* Only `blocks` is imitated. `html` and `markdown` are parsed on Telegram's own servers, whose
  rules and error texts are not published, so the fake refuses them rather than pretend:
  "rich messages in html or markdown are not imitated by the fake". Exactly one of the three
  must be given.
* Block types: heading (size 1-6), paragraph, pullquote (+credit), blockquote (nested blocks,
  +credit), footer, divider, photo (InputMediaPhoto + caption {text, credit}), list (items with
  their own blocks), details (summary + blocks), buttons (1-8). Other types of the real API
  (table, map, code, math, media other than photos...) are refused as "not imitated by the
  fake"; unknown types as unsupported. Unknown fields are ignored, as the Bot API does.
* RichText: a string, an array of RichText, or a typed object: bold, italic, underline,
  strikethrough, marked, code, subscript, superscript, spoiler (each with `text`), url (`text`,
  `url`), date_time (`text`, `unix_time`, optional `date_time_format`), button (`button`).
* Text length: the code points of every string a reader sees, counted as sent: block texts,
  credits, captions, summaries and button labels; URLs and field names are not counted. That is
  the strictest reading of "32768 UTF-8 characters in the rich message text" short of bytes.
* Blocks: every block at any depth plus every list item counts (500). Nesting (16 levels):
  a top-level block is level 1; a nested block, a list item and a typed RichText object each
  add a level (arrays add none). Media: photo blocks plus entries of `media` (50).
* Text a block needs (heading, paragraph, footer, pullquote, summary, button label) must have
  something visible once Telegram's cleaning is done: "text must be non-empty".
* Error texts are assumptions in the server's style; the shape errors follow telegram-bot-api's
  JSON wording ("Field \"size\" must be of type Number").
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from sandbox.telegram_html import EmptyTextError, clean_text

JSON = dict[str, Any]

MAX_TEXT = 32_768
MAX_BLOCKS = 500
MAX_DEPTH = 16
MAX_MEDIA = 50
MAX_BUTTONS = 8
MAX_CALLBACK_BYTES = 64

FORMATTING = frozenset({"bold", "italic", "underline", "strikethrough", "marked", "code",
                        "subscript", "superscript", "spoiler"})
# Types of the real API that the fake does not imitate (refused with a clear text).
NOT_IMITATED_BLOCKS = frozenset({
    "preformatted", "code", "table", "map", "video", "audio", "animation", "document",
    "voice_note", "collage", "slideshow", "math", "expandable_blockquote", "anchor", "embed",
})
NOT_IMITATED_TEXT = frozenset({"custom_emoji", "anchor", "reference", "math", "text_mention",
                               "email_address", "phone_number", "icon"})
BUTTON_ACTIONS = ("url", "callback_data", "web_app", "login_url", "switch_inline_query",
                  "switch_inline_query_current_chat", "switch_inline_query_chosen_chat",
                  "copy_text", "disabled")
BUTTON_STYLES = frozenset({"danger", "success", "primary", "link"})
ALIGNS = frozenset({"left", "center", "right"})
_DATE_FORMAT = re.compile(r"r|w?[dD]?[tT]?")
_MEDIA_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TEXT_LINK_SCHEMES = ("http://", "https://", "tg://", "mailto:", "tel:", "#")
_BUTTON_SCHEMES = ("http://", "https://", "tg://")


class RichMessageError(ValueError):
    """A rich message Telegram would refuse; `description` follows "Bad Request: "."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


@dataclass(slots=True)
class RichMessage:
    """A checked InputRichMessage and what was counted in it."""

    source: JSON                    # the InputRichMessage as sent (decoded)
    blocks: list[JSON]
    is_rtl: bool
    skip_entity_detection: bool
    text_length: int = 0
    block_count: int = 0
    depth: int = 0
    photos: list[Any] = field(default_factory=list)      # InputMediaPhoto `media` values
    media: list[JSON] = field(default_factory=list)       # InputRichMessageMedia entries
    button_actions: set[str] = field(default_factory=set)

    @property
    def media_count(self) -> int:
        return len(self.photos) + len(self.media)

    def check_limits(self) -> None:
        """The limits of the formatting-options section, checked after the shape."""
        if self.text_length > MAX_TEXT:
            raise RichMessageError("rich message text is too long")
        if self.block_count > MAX_BLOCKS:
            raise RichMessageError("too many blocks in the rich message")
        if self.depth > MAX_DEPTH:
            raise RichMessageError("rich message is nested too deeply")
        if self.media_count > MAX_MEDIA:
            raise RichMessageError("too many media in the rich message")


def check_rich_message(value: Any) -> RichMessage:
    """The InputRichMessage's shape and content rules (limits: `RichMessage.check_limits`)."""
    if value is None or value == "":
        raise RichMessageError('parameter "rich_message" is required')
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise RichMessageError("can't parse rich message JSON object") from None
    if not isinstance(value, dict):
        raise RichMessageError("Object expected as rich message")
    given = [key for key in ("html", "markdown", "blocks") if value.get(key) is not None]
    if len(given) != 1:
        raise RichMessageError("exactly one of html, markdown or blocks must be specified")
    if given[0] != "blocks":
        raise RichMessageError("rich messages in html or markdown are not imitated by the fake")
    is_rtl = _optional_bool(value, "is_rtl")
    skip = _optional_bool(value, "skip_entity_detection")
    blocks = value["blocks"]
    if not isinstance(blocks, list):
        raise RichMessageError('Field "blocks" must be of type Array')
    if not blocks:
        raise RichMessageError("rich message must be non-empty")
    walker = _Walker()
    for block in blocks:
        walker.block(block, 1)
    result = RichMessage(source=value, blocks=blocks, is_rtl=is_rtl, skip_entity_detection=skip,
                         text_length=walker.chars, block_count=walker.blocks,
                         depth=walker.depth, photos=walker.photos,
                         button_actions=walker.actions)
    media = value.get("media")
    if media is not None:
        result.media = _media_entries(media)
    return result


def plain_text(value: Any) -> str:
    """The text a RichText shows (for records and tests); assumes it passed the checks."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(plain_text(item) for item in value)
    if isinstance(value, dict):
        if value.get("type") == "button":
            return plain_text((value.get("button") or {}).get("text", ""))
        return plain_text(value.get("text", ""))
    return ""


def block_texts(blocks: list[JSON]) -> list[tuple[str, str]]:
    """(block type, its text) for every block with text, depth first, in order."""
    out: list[tuple[str, str]] = []
    for block in blocks:
        kind = block.get("type", "")
        if kind in ("heading", "paragraph", "pullquote", "footer"):
            out.append((kind, plain_text(block.get("text"))))
        elif kind == "photo" and isinstance(block.get("caption"), dict):
            out.append(("caption", plain_text(block["caption"].get("text"))))
        elif kind == "list":
            for item in block.get("items") or []:
                out.extend(block_texts(item.get("blocks") or []))
        elif kind in ("blockquote", "details"):
            if kind == "details":
                out.append(("summary", plain_text(block.get("summary"))))
            out.extend(block_texts(block.get("blocks") or []))
        elif kind == "buttons":
            out.extend(("button", plain_text(b.get("text"))) for b in block.get("buttons") or [])
    return out


# --- the walk ------------------------------------------------------------------------------------


class _Walker:
    """Checks blocks and RichText recursively, counting text, blocks, depth and media."""

    def __init__(self) -> None:
        self.chars = 0
        self.blocks = 0
        self.depth = 0
        self.photos: list[Any] = []
        self.actions: set[str] = set()

    def _level(self, depth: int) -> None:
        self.depth = max(self.depth, depth)
        if depth > MAX_DEPTH:  # stop walking a hostile 10,000-level nest early
            raise RichMessageError("rich message is nested too deeply")

    def block(self, block: Any, depth: int) -> None:
        if not isinstance(block, dict):
            raise RichMessageError("InputRichBlock must be an Object")
        kind = block.get("type")
        if kind is None:
            raise RichMessageError('Can\'t find field "type"')
        if not isinstance(kind, str):
            raise RichMessageError('Field "type" must be of type String')
        self._level(depth)
        self.blocks += 1
        check = getattr(self, f"_block_{kind}", None)
        if check is None:
            if kind in NOT_IMITATED_BLOCKS:
                raise RichMessageError(f'rich block type "{kind}" is not imitated by the fake')
            raise RichMessageError(f'unsupported rich block type "{kind}"')
        check(block, depth)

    def blocks_field(self, block: JSON, depth: int) -> None:
        inner = _required(block, "blocks")
        if not isinstance(inner, list):
            raise RichMessageError('Field "blocks" must be of type Array')
        if not inner:
            raise RichMessageError("nested blocks must be non-empty")
        for child in inner:
            self.block(child, depth + 1)

    def _block_heading(self, block: JSON, depth: int) -> None:
        size = _required(block, "size")
        if not isinstance(size, int) or isinstance(size, bool):
            raise RichMessageError('Field "size" must be of type Number')
        if not 1 <= size <= 6:
            raise RichMessageError("heading size must be between 1 and 6")
        self.visible_text(_required(block, "text"), depth)

    def _block_paragraph(self, block: JSON, depth: int) -> None:
        self.visible_text(_required(block, "text"), depth)

    def _block_footer(self, block: JSON, depth: int) -> None:
        self.visible_text(_required(block, "text"), depth)

    def _block_pullquote(self, block: JSON, depth: int) -> None:
        self.visible_text(_required(block, "text"), depth)
        if block.get("credit") is not None:
            self.text(block["credit"], depth)

    def _block_blockquote(self, block: JSON, depth: int) -> None:
        self.blocks_field(block, depth)
        if block.get("credit") is not None:
            self.text(block["credit"], depth)

    def _block_divider(self, block: JSON, depth: int) -> None:
        return None

    def _block_photo(self, block: JSON, depth: int) -> None:
        photo = _required(block, "photo")
        if not isinstance(photo, dict):
            raise RichMessageError('Field "photo" must be of type Object')
        if photo.get("type") != "photo":
            raise RichMessageError("InputMediaPhoto expected in a photo block")
        media = photo.get("media")
        if not isinstance(media, str) or not media:
            raise RichMessageError("there is no photo in the request")
        self.photos.append(media)
        caption = block.get("caption")
        if caption is not None:
            if not isinstance(caption, dict):
                raise RichMessageError('Field "caption" must be of type Object')
            self.text(_required(caption, "text"), depth)
            if caption.get("credit") is not None:
                self.text(caption["credit"], depth)

    def _block_list(self, block: JSON, depth: int) -> None:
        items = _required(block, "items")
        if not isinstance(items, list):
            raise RichMessageError('Field "items" must be of type Array')
        if not items:
            raise RichMessageError("list items must be non-empty")
        for item in items:
            if not isinstance(item, dict):
                raise RichMessageError("RichBlockListItem must be an Object")
            self._level(depth + 1)
            self.blocks += 1  # list items count as blocks
            if item.get("value") is not None and (not isinstance(item["value"], int)
                                                  or isinstance(item["value"], bool)):
                raise RichMessageError('Field "value" must be of type Number')
            if item.get("type") is not None and not isinstance(item["type"], str):
                raise RichMessageError('Field "type" must be of type String')
            _optional_bool(item, "has_checkbox")
            _optional_bool(item, "is_checked")
            self.blocks_field(item, depth + 1)

    def _block_details(self, block: JSON, depth: int) -> None:
        self.visible_text(_required(block, "summary"), depth)
        _optional_bool(block, "is_open")
        self.blocks_field(block, depth)

    def _block_buttons(self, block: JSON, depth: int) -> None:
        buttons = _required(block, "buttons")
        if not isinstance(buttons, list):
            raise RichMessageError('Field "buttons" must be of type Array')
        if not 1 <= len(buttons) <= MAX_BUTTONS:
            raise RichMessageError(f"a button block must have 1-{MAX_BUTTONS} buttons")
        align = block.get("align")
        if align is not None and align not in ALIGNS:
            raise RichMessageError("unsupported button alignment")
        for button in buttons:
            self.button(button, depth)

    def button(self, button: Any, depth: int) -> None:
        if not isinstance(button, dict):
            raise RichMessageError("RichMessageButton must be an Object")
        label = _required(button, "text")
        if not _label_only(label):
            raise RichMessageError("button text can hold only plain text, custom emoji and "
                                   "dates")
        self.visible_text(label, depth)
        actions = [key for key in BUTTON_ACTIONS if button.get(key) is not None]
        if len(actions) != 1:
            raise RichMessageError("a rich message button must have exactly one action")
        action = actions[0]
        self.actions.add(action)
        value = button[action]
        if action == "url" and not (
                isinstance(value, str) and value.lower().startswith(_BUTTON_SCHEMES)
                and len(value) <= 2048 and not any(ch.isspace() for ch in value)):
            raise RichMessageError("BUTTON_URL_INVALID")
        if action == "callback_data" and not (
                isinstance(value, str) and 1 <= len(value.encode()) <= MAX_CALLBACK_BYTES):
            raise RichMessageError("BUTTON_DATA_INVALID")
        style = button.get("style")
        if style is not None:
            if style not in BUTTON_STYLES:
                raise RichMessageError("unsupported button style")
            if style == "link" and action != "callback_data":
                raise RichMessageError('button style "link" is allowed only for callback '
                                       'buttons')

    # --- RichText ---

    def visible_text(self, value: Any, depth: int) -> None:
        """RichText that must show something once Telegram has cleaned it."""
        self.text(value, depth)
        try:
            clean_text(plain_text(value), allow_empty=False)
        except EmptyTextError:
            raise RichMessageError("text must be non-empty") from None

    def text(self, value: Any, depth: int) -> None:
        if isinstance(value, str):
            _check_string(value)
            self.chars += len(value)
            return
        if isinstance(value, list):
            for item in value:
                self.text(item, depth)
            return
        if not isinstance(value, dict):
            raise RichMessageError("RichText must be a String, an Array or an Object")
        kind = value.get("type")
        if not isinstance(kind, str):
            raise RichMessageError('Can\'t find field "type" of RichText')
        self._level(depth + 1)
        if kind in FORMATTING:
            self.text(_required(value, "text"), depth + 1)
        elif kind == "url":
            url = _required(value, "url")
            if not isinstance(url, str) or not url.lower().startswith(_TEXT_LINK_SCHEMES) \
                    or any(ch.isspace() for ch in url):
                raise RichMessageError("wrong URL in rich text")
            self.text(_required(value, "text"), depth + 1)
        elif kind == "date_time":
            unix = _required(value, "unix_time")
            if not isinstance(unix, int) or isinstance(unix, bool):
                raise RichMessageError('Field "unix_time" must be of type Number')
            form = value.get("date_time_format")
            if form is not None and (not isinstance(form, str)
                                     or not _DATE_FORMAT.fullmatch(form)):
                raise RichMessageError("invalid date_time_format specified")
            self.text(_required(value, "text"), depth + 1)
        elif kind == "button":
            self.button(_required(value, "button"), depth + 1)
        elif kind in NOT_IMITATED_TEXT:
            raise RichMessageError(f'rich text type "{kind}" is not imitated by the fake')
        else:
            raise RichMessageError(f'unsupported rich text type "{kind}"')


def _label_only(value: Any) -> bool:
    """Button labels: plain text and dates only (custom emoji are not imitated)."""
    if isinstance(value, str):
        return True
    if isinstance(value, list):
        return all(_label_only(item) for item in value)
    return isinstance(value, dict) and value.get("type") == "date_time"


def _check_string(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise RichMessageError("strings must be encoded in UTF-8") from None


def _required(obj: JSON, name: str) -> Any:
    value = obj.get(name)
    if value is None:
        raise RichMessageError(f'Can\'t find field "{name}"')
    return value


def _optional_bool(obj: JSON, name: str) -> bool:
    value = obj.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise RichMessageError(f'Field "{name}" must be of type Boolean')
    return value


def _media_entries(media: Any) -> list[JSON]:
    if not isinstance(media, list):
        raise RichMessageError('Field "media" must be of type Array')
    seen: set[str] = set()
    for entry in media:
        if not isinstance(entry, dict):
            raise RichMessageError("InputRichMessageMedia must be an Object")
        media_id = entry.get("id")
        if not isinstance(media_id, str) or not _MEDIA_ID.fullmatch(media_id):
            raise RichMessageError("invalid media identifier specified")
        if media_id in seen:
            raise RichMessageError("duplicate media identifier specified")
        seen.add(media_id)
        if not isinstance(entry.get("media"), dict):
            raise RichMessageError('Field "media" must be of type Object')
    return media
