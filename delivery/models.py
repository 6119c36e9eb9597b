"""Values of the delivery stage. No I/O here."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields


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

    def to_fields(self) -> dict[str, str]:
        """Flat string fields for a Redis stream entry."""
        return {"d": json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))}

    @classmethod
    def from_fields(cls, data: dict[str, str]) -> Delivery:
        raw = json.loads(data["d"])
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})

    @property
    def chat_id(self) -> int | str:
        """The chat as python-telegram-bot wants it: an int id or an @username."""
        return int(self.chat) if self.chat.lstrip("-").isdigit() else self.chat


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What happened to one delivery."""

    delivery: Delivery
    status: str                    # sent | duplicate | held | retry
    message_id: int | None = None
    reason: str = ""
