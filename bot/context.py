"""The typed context every handler gets: the bot's services (`BotData`) and the context and
application types built on it. Handlers import these from here, never from `bot.app`, which
registers them."""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import redis.asyncio as aioredis
from telegram.ext import Application, CallbackContext, ExtBot

from bot.pending import PendingStore
from bot.services import AuditLog, CommandLimiter, Languages, Roles
from config.schema import BotConfig
from config.settings import Settings
from model.article import FetchResult
from pipeline.publish import Publisher
from store.redis_store import Store
from store.registry import FeedRegistry

if TYPE_CHECKING:
    from bot.review import ReviewDesk


class PageFetcher(Protocol):
    """What the bot needs of feeds.fetcher.Fetcher."""

    async def fetch(self, url: str, *, etag: str | None = None,
                    last_modified: str | None = None, trusted: bool = True,
                    allow_networks: Sequence[str] = ()) -> FetchResult: ...


@dataclass(slots=True)
class BotData:
    """Everything handlers use, typed (the Application's bot_data)."""

    settings: Settings
    config: BotConfig
    redis: aioredis.Redis
    store: Store
    fetcher: PageFetcher
    roles: Roles
    audit: AuditLog
    limiter: CommandLimiter
    languages: Languages
    registry: FeedRegistry
    pending: PendingStore
    publisher: Publisher
    allow_networks: tuple[str, ...]
    max_input_chars: int = 2000
    feeds_page_size: int = 6
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    review: ReviewDesk = field(init=False)    # needs the BotData itself: set right after


class NashirContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    """CallbackContext with our services as typed attributes."""

    @property
    def data(self) -> BotData:
        return self.bot_data


NashirApp = Application[ExtBot[None], NashirContext, dict[Any, Any], dict[Any, Any], BotData, Any]
