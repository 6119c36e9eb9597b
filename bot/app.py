"""The bot's python-telegram-bot Application: building it, its typed context, its command list,
and running it next to the worker's other tasks.

    app = build_application(settings, config, redis, fetcher)
    await run_commands(app, stop)            # returns once `stop` is set and all is closed

Only one replica may long-poll getUpdates (Telegram answers 409 to a second one), so polling
happens while holding a Redis lock that is renewed; a replica waiting for the lock takes over
when the holder stops renewing (it died, or lost Redis). With a webhook URL every replica
receives updates instead and no lock is needed.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from telegram import (
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, ApplicationBuilder, CallbackContext, ContextTypes, Defaults, ExtBot
from telegram.request import HTTPXRequest

from bot.feed_registry import FeedRegistry
from bot.i18n import N_, translator
from bot.publishing import PendingStore, Publisher
from bot.services import AuditLog, CommandLimiter, Languages, Roles
from config.schema import BotConfig
from config.settings import Settings
from model.article import FetchResult
from store import keys
from store.redis_store import Store

if TYPE_CHECKING:
    from bot.review import ReviewDesk

logger = logging.getLogger(__name__)


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


def _request(pool: int, read_timeout: float) -> HTTPXRequest:
    return HTTPXRequest(connection_pool_size=pool, connect_timeout=10, read_timeout=read_timeout,
                        write_timeout=30, pool_timeout=10)


def build_application(settings: Settings, config: BotConfig, redis: aioredis.Redis,
                      fetcher: PageFetcher, *, store: Store | None = None,
                      limiter: CommandLimiter | None = None,
                      poll_timeout_s: float = 10.0) -> NashirApp:
    """The Application with every handler registered; nothing is started or sent yet."""
    from bot.handlers import register_handlers
    from bot.review import ReviewDesk

    if not settings.token:
        raise ValueError("the bot needs TELEGRAM_BOT_TOKEN to answer commands")
    store = store or Store(redis)
    data = BotData(
        settings=settings, config=config, redis=redis, store=store, fetcher=fetcher,
        roles=Roles(redis, config), audit=AuditLog(redis),
        limiter=limiter or CommandLimiter(redis), languages=Languages(redis),
        registry=FeedRegistry(redis, config), pending=PendingStore(redis),
        publisher=Publisher(store, timezone=config.timezone),
        allow_networks=tuple(config.allow_networks),
    )
    data.review = ReviewDesk(data)
    api = settings.api_url.rstrip("/")
    context_types = ContextTypes(context=NashirContext,
                                 bot_data=cast(type[BotData], lambda: data))
    application = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .request(_request(16, 30))
        .get_updates_request(_request(2, poll_timeout_s + 10))
        .defaults(Defaults(parse_mode=ParseMode.HTML,
                           link_preview_options=LinkPreviewOptions(is_disabled=True)))
        .context_types(context_types)
        .concurrent_updates(16)
        .job_queue(None)
        .build()
    )
    register_handlers(application)
    return cast(NashirApp, application)


# -- command lists (setMyCommands) ----------------------------------------------------------------

SUBSCRIBER_COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", N_("Welcome and what I do")),
    ("help", N_("The commands")),
    ("subscribe", N_("Get a feed's posts here")),
    ("unsubscribe", N_("Stop a feed's posts here")),
    ("list", N_("Your subscriptions")),
    ("lang", N_("Choose the language")),
)
EDITOR_COMMANDS: tuple[tuple[str, str], ...] = (
    ("push", N_("Post an article: /push URL [CHANNEL]")),
    ("feeds", N_("The feeds")),
    ("addfeed", N_("Follow a feed: /addfeed URL CHANNEL")),
    ("removefeed", N_("Stop following a feed: /removefeed URL")),
    ("pause", N_("Pause a feed or a channel")),
    ("resume", N_("Resume a feed or a channel")),
    ("channels", N_("The channels; /channels add CHANNEL")),
    ("status", N_("Queue, feeds, posts and last actions")),
)
OWNER_COMMANDS: tuple[tuple[str, str], ...] = (
    ("editors", N_("The editors")),
    ("addeditor", N_("Make a user an editor: /addeditor ID")),
    ("removeeditor", N_("Remove an editor: /removeeditor ID")),
)


def command_list(lang: str, *groups: Sequence[tuple[str, str]]) -> list[BotCommand]:
    t = translator(lang)
    return [BotCommand(name, t.raw(description)) for group in groups for name, description in group]


async def _set_commands(bot: ExtBot[None], scope: BotCommandScope,
                        groups: Sequence[Sequence[tuple[str, str]]]) -> None:
    await bot.set_my_commands(command_list("en", *groups), scope=scope)
    await bot.set_my_commands(command_list("ar", *groups), scope=scope, language_code="ar")


async def register_commands(application: NashirApp) -> None:
    """setMyCommands for subscribers (all private chats), each editor's and owner's private
    chat, and the review group; in English and (language_code=ar) Arabic."""
    data = application.bot_data
    bot = application.bot
    await _set_commands(bot, BotCommandScopeAllPrivateChats(), [SUBSCRIBER_COMMANDS])
    editors = set(data.config.editors) | set(await data.roles.added_editors())
    for user_id in sorted(editors - set(data.config.owners)):
        await register_editor_commands(application, user_id)
    for user_id in data.config.owners:
        await register_editor_commands(application, user_id, owner=True)
    if data.config.review_chat:
        chat = data.config.review_chat
        chat_id: int | str = int(chat) if chat.lstrip("-").isdigit() else chat
        await _scope_commands(bot, BotCommandScopeChat(chat_id),
                              [SUBSCRIBER_COMMANDS, EDITOR_COMMANDS])


async def register_editor_commands(application: NashirApp, user_id: int, *,
                                   owner: bool = False) -> None:
    groups = [SUBSCRIBER_COMMANDS, EDITOR_COMMANDS] + ([OWNER_COMMANDS] if owner else [])
    await _scope_commands(application.bot, BotCommandScopeChat(user_id), groups)


async def unregister_editor_commands(application: NashirApp, user_id: int) -> None:
    for language in ("", "ar"):
        try:
            await application.bot.delete_my_commands(scope=BotCommandScopeChat(user_id),
                                                     language_code=language or None)
        except TelegramError as exc:
            logger.info("could not drop the command list of %s: %s", user_id, exc)


async def _scope_commands(bot: ExtBot[None], scope: BotCommandScope,
                          groups: Sequence[Sequence[tuple[str, str]]]) -> None:
    # A user who never opened a chat with the bot has no chat yet: Telegram refuses the scope.
    try:
        await _set_commands(bot, scope, groups)
    except TelegramError as exc:
        logger.info("command list for %s not set: %s", getattr(scope, "chat_id", scope), exc)


# -- one poller for updates -----------------------------------------------------------------------

_RENEW_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class UpdatesLock:
    """The right to long-poll getUpdates: a Redis key holding this replica's id, with expiry,
    renewed while held. A holder that dies stops renewing; the key expires; another takes it."""

    def __init__(self, redis: aioredis.Redis, replica_id: str | None = None, *,
                 ttl_s: float = 30.0) -> None:
        self.redis = redis
        self.replica_id = replica_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.ttl_ms = int(ttl_s * 1000)
        self._renew = redis.register_script(_RENEW_LUA)
        self._release = redis.register_script(_RELEASE_LUA)

    @property
    def ttl_s(self) -> float:
        return self.ttl_ms / 1000

    async def try_acquire(self) -> bool:
        return bool(await self.redis.set(keys.bot_updates_lock(), self.replica_id, nx=True,
                                         px=self.ttl_ms))

    async def renew(self) -> bool:
        return bool(await self._renew(keys=[keys.bot_updates_lock()],
                                      args=[self.replica_id, self.ttl_ms]))

    async def release(self) -> None:
        await self._release(keys=[keys.bot_updates_lock()], args=[self.replica_id])

    async def holder(self) -> str | None:
        return await self.redis.get(keys.bot_updates_lock())


ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]


async def run_commands(app: NashirApp, stop: asyncio.Event, *, lock: UpdatesLock | None = None,
                       lock_ttl_s: float = 30.0, poll_timeout_s: float = 10.0,
                       webhook_url: str | None = None, webhook_secret: str | None = None,
                       webhook_listen: tuple[str, int] | None = None,
                       register: bool = True) -> None:
    """Answer bot commands until `stop` is set; then stop cleanly (in-flight updates finish).

    Long-polls while holding the updates lock, or, with `webhook_url`, receives updates on
    `webhook_listen` (host, port) with the secret token checked (any number of replicas)."""
    data = app.bot_data
    webhook_url = webhook_url if webhook_url is not None else (
        os.environ.get("TELEGRAM_WEBHOOK_URL", "").strip() or None)
    if not await _initialize(app, stop):
        return
    try:
        if register:
            try:
                await register_commands(app)
            except TelegramError as exc:
                logger.warning("could not register the command lists: %s", exc)
        await app.start()
        # The desk gets its own stop: it must also end when polling fails, and it finishes its
        # round (a scheduled piece taken from the schedule is published, not dropped).
        desk_stop = asyncio.Event()
        mirror = asyncio.create_task(_mirror(stop, desk_stop), name="review-desk-stop")
        desk = asyncio.create_task(data.review.run(app.bot, desk_stop), name="review-desk")
        data.tasks.update((mirror, desk))
        try:
            if webhook_url:
                from bot.webhook import serve_webhook

                secret = webhook_secret or os.environ.get("TELEGRAM_WEBHOOK_SECRET", "").strip()
                await serve_webhook(app, stop, url=webhook_url, secret=secret or None,
                                    listen=webhook_listen)
            else:
                lock = lock or UpdatesLock(data.redis, ttl_s=lock_ttl_s)
                await poll_with_lock(app, stop, lock, poll_timeout_s=poll_timeout_s)
        finally:
            desk_stop.set()
            mirror.cancel()
            await asyncio.gather(*data.tasks, return_exceptions=True)
            data.tasks.clear()
            if app.running:
                await app.stop()
    finally:
        await app.shutdown()


async def _mirror(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()


async def _initialize(app: NashirApp, stop: asyncio.Event) -> bool:
    """Initialize (getMe), waiting out a Telegram outage at start-up; False if stopped first.
    A wrong token is not an outage: InvalidToken is raised."""
    backoff = 1.0
    while not stop.is_set():
        try:
            await app.initialize()
            return True
        except InvalidToken:
            raise
        except (NetworkError, RetryAfter) as exc:
            logger.warning("Telegram unreachable at start (%s); retrying in %.0f s", exc, backoff)
            await _wait(stop, backoff)
            backoff = min(backoff * 2, 60.0)
    return False


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


async def poll_with_lock(app: NashirApp, stop: asyncio.Event, lock: UpdatesLock, *,
                         poll_timeout_s: float = 10.0) -> None:
    """Wait for the lock, long-poll while renewing it, stop polling the moment it is lost."""
    updater = app.updater
    assert updater is not None
    renew_every = max(0.05, lock.ttl_s / 3)
    # A waiting replica asks often (a cheap SET NX), so a clean hand-over is near-immediate.
    retry_every = min(renew_every, 1.0)
    while not stop.is_set():
        try:
            acquired = await lock.try_acquire()
        except (RedisError, OSError) as exc:
            logger.warning("cannot reach Redis for the updates lock (%s)", exc)
            acquired = False
        if not acquired:
            await _wait(stop, retry_every)
            continue
        logger.info("this replica (%s) now receives bot updates", lock.replica_id)
        try:
            await updater.start_polling(timeout=timedelta(seconds=poll_timeout_s),
                                        allowed_updates=ALLOWED_UPDATES,
                                        error_callback=_polling_error)
        except (NetworkError, RetryAfter) as exc:  # deleteWebhook at start failed: an outage
            logger.warning("could not start polling (%s); retrying", exc)
            await _release(lock)
            await _wait(stop, retry_every)
            continue
        lost = False
        last_renewed = time.monotonic()
        while not stop.is_set():
            await _wait(stop, renew_every)
            if stop.is_set():
                break
            try:
                if await lock.renew():
                    last_renewed = time.monotonic()
                else:
                    lost = True
            except (RedisError, OSError) as exc:
                # Keep polling while the lock cannot have expired yet; after that another
                # replica may hold it, and two pollers only make Telegram answer 409.
                logger.warning("cannot renew the updates lock (%s)", exc)
                lost = time.monotonic() - last_renewed > lock.ttl_s
            if lost:
                logger.warning("lost the updates lock; another replica receives updates now")
                break
        await updater.stop()
        if not lost:
            await _release(lock)


async def _release(lock: UpdatesLock) -> None:
    try:
        await lock.release()
    except (RedisError, OSError) as exc:
        logger.warning("could not release the updates lock (%s); it expires", exc)


def _polling_error(exc: TelegramError) -> None:
    logger.warning("getUpdates failed: %s", exc)


async def process_update_json(app: NashirApp, payload: dict[str, Any]) -> None:
    """Hand one update (as Telegram sends it) to the application's queue."""
    update = Update.de_json(payload, app.bot)
    if update is not None:
        await app.update_queue.put(update)
