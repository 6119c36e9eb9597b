"""Telegram's message entities as tdlib keeps them: the Entity and ParsedText records, and
`fix_entities` (merge, split and drop intersecting entities) with the character cleaning and
trimming the server applies (`td/telegram/MessageEntity.cpp`). Pure, no I/O."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from itertools import pairwise

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

# Characters the server drops: \r, U+2028..U+202E (LS, PS, LRE, RLE, PDF, LRO, RLO) and the
# combining "vertical lines" U+030A, U+0333, U+033F.
_REMOVED = frozenset({"\r", *map(chr, range(0x2028, 0x202F)), "\u030a", "\u0333", "\u033f"})
_MARK_RUN = re.compile("[\u200e\u200f]{2,}")
# is_empty_string: text made only of these is refused although it has characters.


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



def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, the unit of entity offsets."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2



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
