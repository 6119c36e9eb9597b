"""Values of the delivery stage. No I/O here."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

# Delivery.kind
POST = "post"                  # a new message (text, or photo with caption)
EDIT_TEXT = "edit_text"        # editMessageText of an earlier post
EDIT_CAPTION = "edit_caption"  # editMessageCaption of an earlier photo post
EDIT_RICH = "edit_rich"        # editMessageText with rich_message of an earlier rich message


@dataclass(frozen=True, slots=True)
class Delivery:
    """One post for one chat, as queued in Redis."""

    chat: str                      # "@username" or a numeric id as text
    uid: str                       # the article's identity
    url: str                       # the article's link
    html: str                      # the post (text, or caption when photo_url is set)
    feed_id: str = ""              # "" for editors' pushes
    topic: int | None = None       # forum topic (message_thread_id)
    photo_url: str | None = None
    preview_url: str | None = None
    language: str = "ar"
    article_time: float = 0.0      # unix time of the article, for ordering
    queued_at: float = 0.0
    priority: int = 0              # 1 for editors' pushes: they go ahead of bulk fan-out
    kind: str = POST               # post | edit_text | edit_caption
    message_id: int | None = None  # for edits: the message to change
    # A channel with `format: rich`: the InputRichMessage as JSON text ("" = a summary post;
    # `html` is then the fallback summary), and a note on where its body came from
    rich: str = ""
    rich_note: str = ""

    def to_fields(self) -> dict[str, str]:
        """Flat string fields for a Redis stream entry."""
        return {"d": self.to_json()}

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_fields(cls, data: dict[str, str]) -> Delivery:
        return cls.from_json(data["d"])

    @classmethod
    def from_json(cls, text: str) -> Delivery:
        raw = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})

    @property
    def chat_id(self) -> int | str:
        """The chat as python-telegram-bot wants it: an int id or an @username."""
        return int(self.chat) if self.chat.lstrip("-").isdigit() else self.chat

    @property
    def is_edit(self) -> bool:
        return self.kind in (EDIT_TEXT, EDIT_CAPTION, EDIT_RICH)


@dataclass(frozen=True, slots=True)
class Posted:
    """What a transport did with one delivery that Telegram accepted."""

    message_id: int
    media: str = "text"            # text | photo | rich: what the message is (for later edits)
    plain_fallback: bool = False   # Telegram refused the HTML; sent as plain text
    photo: str = ""                # "" | url | upload | dropped: how the photo went
    rich_fallback: str = ""        # a rich delivery sent as its HTML summary: why


@dataclass(frozen=True, slots=True)
class SentRecord:
    """The "sent" record of (chat, article): written before the queue entry is acknowledged."""

    message_id: int
    chat: str                      # where the message is (differs after a group migration)
    media: str = "text"

    def to_json(self) -> str:
        return json.dumps({"message_id": self.message_id, "chat": self.chat,
                           "media": self.media}, separators=(",", ":"))

    @classmethod
    def parse(cls, value: str, chat: str) -> SentRecord:
        """Both this JSON and the bare message id earlier versions wrote."""
        if value.lstrip("-").isdigit():
            return cls(int(value), chat)
        raw = json.loads(value)
        return cls(int(raw["message_id"]), str(raw.get("chat") or chat),
                   str(raw.get("media") or "text"))


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What happened to one delivery."""

    delivery: Delivery
    status: str                    # sent | edited | duplicate | held | retry | migrated
    message_id: int | None = None
    reason: str = ""
    chat: str = ""                 # where it went (the new id after a migration)
    possible_duplicate: bool = False   # an earlier attempt may have been posted too
    answered_at: float = 0.0       # unix time of Telegram's answer (0: no answer)
