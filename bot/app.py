"""The bot's python-telegram-bot Application: building it, and running it next to the worker's
other tasks.

    app = build_application(settings, config, redis, fetcher)
    await run_commands(app, stop)            # returns once `stop` is set and all is closed

Only one replica may long-poll getUpdates (Telegram answers 409 to a second one), so polling
happens while holding a Redis lock that is renewed (`bot.updates`); a replica waiting for the
lock takes over when the holder stops renewing (it died, or lost Redis). With a webhook URL
every replica receives updates instead and no lock is needed.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import cast

import redis.asyncio as aioredis
from telegram import LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import ApplicationBuilder, ContextTypes, Defaults
from telegram.request import HTTPXRequest

from bot.context import BotData, NashirApp, NashirContext, PageFetcher
from bot.handlers import register_handlers
from bot.menu import register_commands
from bot.pending import PendingStore
from bot.review import ReviewDesk
from bot.services import AuditLog, CommandLimiter, Languages, Roles
from bot.updates import UpdatesLock, poll_with_lock, wait_or_stop
from config.schema import BotConfig
from config.settings import Settings
from pipeline.publish import Publisher
from store.redis_store import Store
from store.registry import FeedRegistry

logger = logging.getLogger(__name__)


def _request(pool: int, read_timeout: float) -> HTTPXRequest:
    return HTTPXRequest(connection_pool_size=pool, connect_timeout=10, read_timeout=read_timeout,
                        write_timeout=30, pool_timeout=10)


def build_application(settings: Settings, config: BotConfig, redis: aioredis.Redis,
                      fetcher: PageFetcher, *, store: Store | None = None,
                      limiter: CommandLimiter | None = None,
                      poll_timeout_s: float = 10.0) -> NashirApp:
    """The Application with every handler registered; nothing is started or sent yet."""
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
    if webhook_url:
        from bot.webhook import check_secret  # aiohttp's server: only when used

        # Checked before anything starts: a webhook without a secret takes anyone's updates.
        webhook_secret = check_secret(
            webhook_secret or os.environ.get("TELEGRAM_WEBHOOK_SECRET", "").strip())
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
                from bot.webhook import serve_webhook  # aiohttp's server: only when used

                await serve_webhook(app, stop, url=webhook_url, secret=webhook_secret,
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
            await wait_or_stop(stop, backoff)
            backoff = min(backoff * 2, 60.0)
    return False


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
