"""The values and ports of the pipeline: what a poll reports, and the parts other layers plug in
(the registry of feeds added by command, the editors' review inbox, subscribers' copies, edits)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from config.schema import BotConfig, FeedConfig
from feeds.schedule import HealthEvent
from model.article import Article
from model.delivery import Delivery
from model.errors import FetchErrorKind


@dataclass(slots=True)
class PollOutcome:
    """What one poll of one feed did."""

    feed_url: str
    status: str                          # new | unchanged | error
    new_articles: int = 0
    queued: int = 0
    error: str = ""
    error_kind: FetchErrorKind | None = None
    retry_after: float | None = None
    max_age: float | None = None
    ttl: float | None = None
    seconds: float = 0.0                 # how long the poll took
    event: HealthEvent | None = None     # broken / gone / recovered, announced once
    skipped: list[str] = field(default_factory=list)
    parsed: str = ""                     # "" (no parse) | partial | full
    changed: int = 0                     # items edited since they were first seen
    edits: int = 0                       # edits of posted messages queued
    # (fate, reason) -> how many chats' fates this poll recorded (store.fates), for the metric
    fates: Counter[tuple[str, str]] = field(default_factory=Counter)


class EditQueue(Protocol):
    """Where edits of posted messages go (delivery.queue.DeliveryQueue fits)."""

    async def queue_edit(self, chat: str, uid: str, html: str, *, url: str = "",
                         article_time: float = 0.0, preview_url: str | None = None,
                         language: str = "ar", feed_id: str = "", priority: int = 0,
                         rich: str = "") -> bool: ...


class ConfigSource(Protocol):
    """Feeds and channels added or paused at run time (by bot commands), over the file's."""

    async def version(self) -> int: ...

    async def effective(self, base: BotConfig) -> BotConfig: ...


class ReviewInbox(Protocol):
    """Where the new pieces of review-mode feeds go (store.review_inbox)."""

    async def submit(self, feed: FeedConfig, feed_id: str, article: Article) -> bool:
        """Make the piece's card unless it has one; True when it was made."""

    async def withdraw(self, feed_id: str, article: Article) -> None:
        """Take back a card `submit` just made: the piece turned out to be seen already."""


HealthListener = Callable[[FeedConfig, HealthEvent, str], Awaitable[None]]
PollListener = Callable[[PollOutcome], None]
# (post, language) -> the post in that language, or None when it does not render so
RenderIn = Callable[[Delivery, str], Delivery | None]
# (feed, the channels' deliveries, render one of them in a language) -> subscribers' copies
SubscriberHook = Callable[[FeedConfig, list[Delivery | None], RenderIn],
                          Awaitable[list[Delivery]]]
