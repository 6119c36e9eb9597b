"""Small Redis-backed services the handlers use: roles, the audit log, the per-user command
limit and each user's language. Keys come from `store.keys`; user ids are ints by then."""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import redis.asyncio as aioredis

from bot.i18n import LANGUAGES, language_for
from config.schema import BotConfig
from guards.urls import mask_urls_in_text
from store import keys

logger = logging.getLogger(__name__)


class Role(StrEnum):
    OWNER = "owner"
    EDITOR = "editor"
    USER = "user"


class Roles:
    """Owners and editors from the config, plus editors added with /addeditor (in Redis)."""

    def __init__(self, redis: aioredis.Redis, config: BotConfig) -> None:
        self.redis = redis
        self.owners = frozenset(config.owners)
        self.config_editors = frozenset(config.editors)

    async def role(self, user_id: int | None) -> Role:
        if user_id is None:
            return Role.USER
        if user_id in self.owners:
            return Role.OWNER
        if user_id in self.config_editors:
            return Role.EDITOR
        if await self.redis.sismember(keys.bot_editors(), str(int(user_id))):
            return Role.EDITOR
        return Role.USER

    async def added_editors(self) -> list[int]:
        return sorted(int(x) for x in await self.redis.smembers(keys.bot_editors()))

    async def add_editor(self, user_id: int) -> bool:
        """True when the user was not an editor before."""
        if user_id in self.owners or user_id in self.config_editors:
            return False
        return bool(await self.redis.sadd(keys.bot_editors(), str(int(user_id))))

    async def remove_editor(self, user_id: int) -> bool:
        return bool(await self.redis.srem(keys.bot_editors(), str(int(user_id))))


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One editor action: who, what, when."""

    user_id: int
    user_name: str
    action: str
    detail: str
    time: float

    def to_json(self) -> str:
        return json.dumps({"user_id": self.user_id, "user_name": self.user_name,
                           "action": self.action, "detail": self.detail, "time": self.time},
                          ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> AuditEntry:
        data = json.loads(raw)
        return cls(int(data["user_id"]), str(data.get("user_name", "")), str(data["action"]),
                   str(data.get("detail", "")), float(data["time"]))


class AuditLog:
    """Every editor action, newest first, in a capped Redis list (and in the process log)."""

    def __init__(self, redis: aioredis.Redis, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.clock = clock

    async def record(self, user_id: int, user_name: str, action: str, detail: str = "") -> None:
        """Keep one action; credentials in any URL of `detail` are masked (it is shown)."""
        detail = mask_urls_in_text(detail)
        entry = AuditEntry(int(user_id), user_name[:64], action, detail[:500], self.clock())
        logger.info("audit: %s %s", action, detail,
                    extra={"user_id": user_id, "action": action})
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(keys.bot_audit(), entry.to_json())
            pipe.ltrim(keys.bot_audit(), 0, keys.AUDIT_KEEP - 1)
            await pipe.execute()

    async def latest(self, count: int = 10) -> list[AuditEntry]:
        return [AuditEntry.from_json(str(raw))
                for raw in await self.redis.lrange(keys.bot_audit(), 0, count - 1)]


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    tell: bool            # the first refusal of a window is answered; later ones are dropped
    retry_in: int


class CommandLimiter:
    """At most `limit` commands and button presses per user per `window_s` (fixed windows in
    Redis, so the limit holds across replicas)."""

    def __init__(self, redis: aioredis.Redis, *, limit: int = 20, window_s: int = 60,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.limit = limit
        self.window_s = window_s
        self.clock = clock

    async def hit(self, user_id: int) -> RateDecision:
        now = self.clock()
        window = int(now // self.window_s)
        key = keys.bot_rate(user_id, window)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, self.window_s + 5)
            count, _ = await pipe.execute()
        retry_in = max(1, int((window + 1) * self.window_s - now))
        if count <= self.limit:
            return RateDecision(True, False, 0)
        return RateDecision(False, count == self.limit + 1, retry_in)


class Languages:
    """The language a user chose with /lang, else the one Telegram reports for them."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def get(self, user_id: int | None, language_code: str | None) -> str:
        if user_id is not None:
            chosen = await self.redis.hget(keys.bot_user_lang(), str(int(user_id)))
            if chosen in LANGUAGES:
                return chosen
        return language_for(language_code)

    async def set(self, user_id: int, lang: str) -> None:
        if lang not in LANGUAGES:
            raise ValueError(lang)
        await self.redis.hset(keys.bot_user_lang(), str(int(user_id)), lang)
