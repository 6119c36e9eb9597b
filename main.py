"""Nashir's command line and composition root.

    python main.py run | once | check | preview URL|FILE [--channel CH]
                   | import-opml FILE --channel CH | export-opml | why URL | release CHAT
                   | sandbox
"""
from __future__ import annotations

import os

# python-telegram-bot 22 deprecates int retry_after; opt in to timedelta before it is imported.
os.environ.setdefault("PTB_TIMEDELTA", "true")

import argparse  # noqa: E402
import asyncio
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from config.logging import configure_logging
from config.schema import BotConfig, ConfigError
from config.settings import Settings
from guards.urls import mask_urls_in_text
from pipeline.validate import load_checked_config
from sandbox.cli import add_sandbox_command
from store.embedded import EmbeddedRedisError

if TYPE_CHECKING:
    from telegram import Bot

    from config.schema import FeedConfig
    from delivery.queue import DeliveryQueue
    from delivery.sender import Sender
    from delivery.transport import Transport
    from feeds.fetcher import Fetcher
    from model.delivery import Delivery, SendOutcome
    from ops.notices import ChatNotifier
    from pipeline.poller import Poller
    from pipeline.types import PollOutcome
    from store.embedded import EmbeddedRedis
    from store.redis_store import Store

logger = logging.getLogger("nashir")

EXIT_OK, EXIT_PROBLEMS, EXIT_CONFIG, EXIT_REDIS = 0, 1, 2, 3


@dataclass(slots=True)
class Runtime:
    """Everything a command needs, opened in one place and closed in reverse."""

    settings: Settings
    config: BotConfig
    store: Store
    queue: DeliveryQueue
    fetcher: Fetcher
    transport: Transport
    bot: Bot | None


@asynccontextmanager
async def open_runtime(settings: Settings, config: BotConfig, redis_url: str,
                       *, consumer: str) -> AsyncIterator[Runtime]:
    from delivery.preview import PreviewTransport
    from delivery.queue import DeliveryQueue
    from feeds.fetcher import Fetcher, FetchLimits, make_session
    from store.redis_store import Store, connect

    async with AsyncExitStack() as stack:
        redis = await connect(redis_url)
        stack.push_async_callback(redis.aclose)
        await redis.ping()
        limits = FetchLimits()
        session = make_session(limits)
        stack.push_async_callback(session.close)
        bot = None
        if settings.dry_run:
            preview = PreviewTransport(settings.preview_dir,
                                       json_lines=settings.log_format == "json")
            stack.push_async_callback(preview.aclose)
            transport: Transport = preview
        else:  # python-telegram-bot is imported only when Telegram is talked to (0.13 s)
            from delivery.rich_transport import RichTransport
            from delivery.telegram_client import make_bot
            from delivery.telegram_transport import TelegramTransport

            bot = make_bot(settings.token or "", settings.api_url)
            await bot.initialize()
            stack.push_async_callback(bot.shutdown)
            transport = RichTransport(
                TelegramTransport(bot, allow_networks=config.allow_networks), redis,
                server=settings.api_url)
            stack.push_async_callback(transport.aclose)
        yield Runtime(settings, config, Store(redis), DeliveryQueue(redis, consumer),
                      Fetcher(session, limits), transport, bot)


class EmbeddedOrExternalRedis:
    """REDIS_URL when set; otherwise our own server under BOT_DATA_DIR (same code path after)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.embedded: EmbeddedRedis | None = None

    def __enter__(self) -> str:
        if self.settings.redis_url:
            return self.settings.redis_url
        from store.embedded import EmbeddedRedis

        self.embedded = EmbeddedRedis(self.settings.data_dir)
        self.embedded.start()
        return self.embedded.url

    def __exit__(self, *exc: object) -> None:
        if self.embedded is not None:
            self.embedded.stop()


def make_poller(config: BotConfig, rt: Runtime, *, worker_id: str | None = None,
                on_poll: Callable[[PollOutcome], None] | None = None,
                parse_workers: int = 0) -> Poller:
    """The poller, with the bot's parts it feeds: feeds and pauses added by command, review
    cards for feeds in review mode, and copies for subscribers' private chats."""
    from ops.notices import HealthNotifier
    from pipeline.poller import Poller
    from pipeline.subscribers import subscriber_copies
    from store.registry import RegistrySource
    from store.review_inbox import RedisReviewInbox

    redis = rt.store.redis

    async def subscribers(feed: FeedConfig, posts: list[Delivery | None],
                          render_in: Callable[[Delivery, str], Delivery | None]
                          ) -> list[Delivery]:
        return await subscriber_copies(redis, feed.url, posts, render_in)

    return Poller(config, rt.store, rt.fetcher, worker_id=worker_id,
                  on_health=HealthNotifier(config, rt.store), on_poll=on_poll, edits=rt.queue,
                  parse_workers=parse_workers, config_source=RegistrySource(redis),
                  review=RedisReviewInbox(redis), subscribers=subscribers)


def make_sender(settings: Settings, config: BotConfig, rt: Runtime,
                on_outcome: Callable[[SendOutcome], None] | None = None,
                notices: ChatNotifier | None = None) -> Sender:
    """The sender, with what it tells the rest of the bot: owners hear of chats it cannot post
    to (through `notices`, kept by the caller to reload it), and a user who blocked the bot is
    unsubscribed."""
    from delivery.held import HeldPolicy
    from delivery.ratelimit import RateLimits
    from delivery.sender import Sender
    from ops.notices import ChatNotifier
    from store.subscriptions import forget_chat

    notices = notices or ChatNotifier(config, rt.store)
    if hasattr(rt.transport, "on_fallback"):  # the rich transport: owners hear of refusals
        rt.transport.on_fallback = notices.rich_refused

    async def user_blocked(chat: str) -> None:
        await forget_chat(rt.store.redis, chat)

    # The preview has no rate limits to respect; Telegram's are the defaults.
    limits = RateLimits.unlimited() if settings.dry_run else RateLimits()
    return Sender(rt.queue, rt.transport, limits=limits, on_outcome=on_outcome,
                  on_chat_blocked=notices.blocked, on_user_blocked=user_blocked,
                  on_chat_migrated=notices.migrated, on_held_overflow=notices.held_overflow,
                  held=HeldPolicy(settings.held_cap, settings.probe_first_s,
                                  settings.probe_max_s))


# -- commands ----------------------------------------------------------------------------------

async def cmd_once(settings: Settings, config: BotConfig, redis_url: str) -> int:
    from ops.progress import Progress

    async with open_runtime(settings, config, redis_url, consumer="once") as rt:
        active = sum(not feed.paused for feed in config.feeds)
        with Progress(active, "polling feeds") as progress:
            poller = make_poller(config, rt, on_poll=lambda o: progress.advance(
                item=o.feed_url, failed=o.status == "error"))
            outcomes = await poller.poll_all()
        # Each failed feed was logged once by the poller (why, and when it is tried next).
        sender = make_sender(settings, config, rt)
        remaining = await sender.drain(timeout=300)
        queued = sum(o.queued for o in outcomes)
        logger.info("once: %d feeds polled, %d posts queued, %d still queued", len(outcomes),
                    queued, remaining)
    if outcomes and all(o.status == "error" for o in outcomes):
        logger.error("once: every feed failed (%d of %d): nothing could be polled; see the "
                     "errors above", len(outcomes), len(outcomes))
        return EXIT_PROBLEMS
    return EXIT_OK


ROLES = ("poller", "sender", "commands")


def parse_roles(value: str) -> frozenset[str]:
    """`poller,sender,commands` (any of them, comma-separated) -> the set of roles."""
    roles = frozenset(part.strip() for part in value.split(",") if part.strip())
    unknown = roles - set(ROLES)
    if not roles or unknown:
        raise argparse.ArgumentTypeError(
            f"{value!r}: roles are {', '.join(ROLES)} (comma-separated)")
    return roles


async def cmd_run(settings: Settings, config: BotConfig, redis_url: str,
                  roles: frozenset[str] = frozenset(ROLES)) -> int:
    import socket

    from ops.heap import settle_heap
    from ops.http import ReadinessProbes, start_http
    from ops.metrics import Metrics
    from ops.notices import ChatNotifier
    from ops.reload import Reloader, apply_to_notices, apply_to_poller, apply_to_transport
    from ops.status_data import RedisStatusSource

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker = f"{socket.gethostname()}-{os.getpid()}"
    metrics = Metrics()
    async with open_runtime(settings, config, redis_url, consumer=worker) as rt:
        redis = rt.store.redis
        metrics.attach_redis(redis)
        metrics.instrument_redis(redis)
        status = RedisStatusSource(redis, config, dry_run=settings.dry_run)
        try:
            http = await start_http(settings, ReadinessProbes.for_clients(redis, rt.bot),
                                    metrics, status)
        except OSError as exc:
            logger.error("cannot listen on %s:%d (BOT_HTTP_ADDR): %s", settings.http_host,
                         settings.http_port, exc)
            return EXIT_PROBLEMS
        reloader = Reloader(settings.config_path, config)
        reloader.add(status.set_config)
        reloader.add(apply_to_transport(rt.transport))  # photo downloads: allow_networks
        tasks = []
        if "poller" in roles:
            # feedparser holds the GIL: with a core to spare, parsing goes to its own process.
            from ops.first_run import FirstRunGuide  # says where to look after a round

            guide = FirstRunGuide(settings, config, redis, status_page=http.url)
            poller = make_poller(config, rt, worker_id=worker,
                                 on_poll=guide.watching(metrics.record_poll),
                                 parse_workers=1 if (os.cpu_count() or 1) > 1 else 0)
            reloader.add(apply_to_poller(poller))
            metrics.attach_rich_pages(poller)
            tasks.append(asyncio.create_task(poller.run(stop), name="poller"))
        if "sender" in roles:
            notices = ChatNotifier(config, rt.store)
            reloader.add(apply_to_notices(notices))
            sender = make_sender(settings, config, rt, on_outcome=metrics.record_send,
                                 notices=notices)
            metrics.attach_sender(sender)
            tasks.append(asyncio.create_task(sender.run(stop), name="sender"))
        if "commands" in roles and settings.dry_run:
            logger.info("no TELEGRAM_BOT_TOKEN: bot commands are not answered in dry-run")
        elif "commands" in roles:
            from bot.app import build_application, run_commands
            from ops.reload import apply_to_commands

            app = build_application(settings, config, redis, rt.fetcher,
                                    store=rt.store)
            reloader.add(apply_to_commands(app))
            tasks.append(asyncio.create_task(run_commands(
                app, stop, webhook_url=settings.webhook_url,
                webhook_secret=settings.webhook_secret, webhook_listen=settings.webhook_listen),
                name="commands"))
        reloader.add(lambda _config: settle_heap())  # after the others: the new tables
        reloader.install(loop)
        settle_heap()
        mode = f"dry-run (preview in {settings.preview_dir})" if settings.dry_run else "live"
        logger.info("Nashir running as %s: %d feeds, %d channels, %s",
                    ",".join(r for r in ROLES if r in roles), len(config.feeds),
                    len(config.channels), mode)
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper and task.exception() is not None:
                logger.error("%s stopped: %r", task.get_name(), task.exception())
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        if "poller" in roles:
            await poller.close()
        reloader.uninstall(loop)
        await http.stop()
        logger.info("Nashir stopped")
    return EXIT_OK


async def cmd_check(settings: Settings, config: BotConfig, redis_url: str) -> int:
    from ops.checks import check_report, print_report

    report = await check_report(settings, config, redis_url)
    print_report(report)
    return EXIT_OK if report.ok else EXIT_PROBLEMS


async def cmd_preview(settings: Settings, config: BotConfig, target: str,
                      channel: str | None) -> int:
    from ops.preview import preview_posts

    try:
        posts = await preview_posts(config, target, channel)
    except ValueError as exc:
        print(f"cannot preview {target}: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    for html in posts:
        print(html)
    return EXIT_OK


# -- entry point --------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    import textwrap

    raw = argparse.RawDescriptionHelpFormatter

    def wrap(text: str) -> str:  # descriptions wrapped; the tables below keep their layout
        return "\n".join(textwrap.fill(part, 92) for part in text.split("\n"))

    environment = """\
environment:
  TELEGRAM_BOT_TOKEN  the bot's token (from @BotFather). Unset: DRY-RUN, nothing goes to
                      Telegram; posts are written to BOT_DATA_DIR/preview/ (index.html to
                      open in a browser, posts.jsonl one JSON object per post)
  TELEGRAM_API_URL    Bot API root (default https://api.telegram.org)
  BOT_CONFIG          the YAML config (default config/bot.yaml, else the bundled
                      config/example.yaml: one sample Arabic feed, two demo channels)
  REDIS_URL           redis://, rediss:// or unix:// URL (unset: an embedded Redis keeping
                      its data under BOT_DATA_DIR/redis)
  BOT_DATA_DIR        local state and the dry-run preview (default ./data)
  BOT_HTTP_ADDR       status page at /, with /healthz /readyz /metrics (default
                      127.0.0.1:8080: open http://127.0.0.1:8080/)
  BOT_LOG_FORMAT      text or json (default: text on a terminal, json otherwise)
  BOT_HELD_CAP        most posts kept for chats the bot cannot post in (default 10000)
  BOT_PROBE_FIRST     such a chat is tried again after this (default 1m), then backing
  BOT_PROBE_MAX       off to this (default 6h); `release CHAT` releases it now"""
    exit_codes = """\
exit codes:
  0  done (check: all is well)
  1  problems: check found one; once: every feed failed; Telegram unreachable or the token
     refused; the HTTP address is taken
  2  the environment or the config file is wrong (the message names the key)
  3  Redis is not usable"""
    parser = argparse.ArgumentParser(
        prog="main.py", formatter_class=raw,
        description=wrap("Nashir: polls RSS/Atom/JSON feeds and posts right-to-left-safe summaries "
                    "to Telegram channels, once each.\nWith no command: run. To try the "
                    "editor's loop in a web chat, without a token: sandbox."),
        epilog=f"{environment}\n\n{exit_codes}\n\n"
               "`main.py COMMAND --help` tells more of each command. Docs: README.md, "
               "docs/operations.md.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser(
        "run", help="the long-running worker (default)", formatter_class=raw,
        description=wrap("Poll the feeds on their schedules, deliver the posts, answer the bot's "
                    "commands (not in dry-run), and serve the status page at BOT_HTTP_ADDR.\n"
                    "After the first round of polls it says where the posts went and when it "
                    "polls next. Ctrl-C (or SIGTERM) stops it cleanly; SIGHUP reloads the "
                    "config."),
        epilog=f"{environment}\n\n{exit_codes}")
    run.add_argument("--roles", type=parse_roles, default=frozenset(ROLES),
                     help="what this process does: poller,sender,commands (default: all); "
                          "for running several processes against one Redis")
    commands.add_parser(
        "once", help="poll every feed once now, deliver what it queued, exit",
        formatter_class=raw,
        description=wrap("Poll every active feed now (whatever its schedule), deliver what that "
                    "queued, and exit: for cron, or to try a config. In dry-run the posts go "
                    "to BOT_DATA_DIR/preview/. Exits 1 when every feed failed."),
        epilog=exit_codes)
    commands.add_parser(
        "check", help="is everything the bot needs there? exit 0 if all is well",
        formatter_class=raw,
        description=wrap("Check the config, the data dir, Redis (persistence, eviction), each feed "
                    "(fetched and parsed once; its script against its channels' language), "
                    "Telegram (the token) and each channel (may the bot post there?). Prints "
                    "one line per problem, then a table; WARN rows are advice. Nothing "
                    "printed holds the token or REDIS_URL's password."),
        epilog=exit_codes)
    preview = commands.add_parser(
        "preview", help="print the post for an article page or feed, as Telegram gets it",
        description=wrap("Print the Telegram HTML of the newest item of a feed, or of an article "
                    "page, as the bot would post it (nothing is sent or stored)."))
    preview.add_argument("target", help="URL or file of an article page, feed or feed item")
    preview.add_argument("--channel", help="render as for this configured channel "
                                           "(default: the first one)")
    opml_in = commands.add_parser(
        "import-opml", help="add the feeds of an OPML file",
        description=wrap("Add an OPML file's feeds to one channel (posting only items published "
                    "after the import)."))
    opml_in.add_argument("file", help="the OPML file")
    opml_in.add_argument("--channel", required=True, help="the channel the feeds post to")
    opml_out = commands.add_parser(
        "export-opml", help="print every feed as OPML",
        description=wrap("Print every feed the bot polls as OPML 2.0. Credentials in feed "
                         "addresses are masked unless --with-secrets is given."))
    opml_out.add_argument("--with-secrets", action="store_true",
                          help="keep credentials in feed addresses (masked otherwise)")
    why = commands.add_parser(
        "why", help="what became of an article in each channel, and why",
        description=wrap("Say, per channel, what became of the article at URL: posted (when), "
                         "queued, held (why), skipped (why: before the first run, filtered by "
                         "a keyword, a duplicate of which link by which rule, unrenderable, "
                         "paused) or never seen. Arabic when LANG is Arabic. Exits 0."))
    why.add_argument("url", help="the article's address")
    release = commands.add_parser(
        "release", help="send a blocked chat's held posts again, now",
        description=wrap("After 403 / chat not found the bot holds a chat's posts and probes it "
                         "(after BOT_PROBE_FIRST, backing off to BOT_PROBE_MAX); it releases "
                         "them at once when it is added back or the user writes /start. This "
                         "releases CHAT (@name or numeric id) now: its held posts go back to "
                         "the queue in order. Posts held by /pause stay held. Exits 0."))
    release.add_argument("chat", help="the chat: @name or numeric id")
    add_sandbox_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "run"
    if command == "sandbox":  # its own settings, config, data and Redis: none of the user's
        from sandbox.run import run_sandbox  # the fake Telegram and web chat: sandbox only

        return run_sandbox(args, cmd_run)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    from ops.secrets import redact, secrets_of
    from ops.startup import telegram_failure, warn_about_settings

    secrets = secrets_of(settings)
    configure_logging(settings.log_format, secrets=secrets, mask=mask_urls_in_text)
    warn_about_settings(settings)
    try:
        config = load_checked_config(settings.config_path)
    except ConfigError as exc:
        print(f"error: the config cannot be used:\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    if command == "preview":
        return asyncio.run(cmd_preview(settings, config, args.target, args.channel))
    # Each command imports what it needs when it runs: `once` reaches its first feed request
    # without loading python-telegram-bot (0.4 s) or the bot's commands.
    def import_opml(url: str) -> Coroutine[Any, Any, int]:
        from ops.opml import cmd_import_opml
        return cmd_import_opml(config, url, args.file, args.channel)

    def export_opml(url: str) -> Coroutine[Any, Any, int]:
        from ops.opml import cmd_export_opml
        return cmd_export_opml(config, url, with_secrets=getattr(args, "with_secrets", False))

    def release(url: str) -> Coroutine[Any, Any, int]:
        from ops.release import cmd_release
        return cmd_release(url, args.chat)

    def why(url: str) -> Coroutine[Any, Any, int]:
        from bot.why import cmd_why
        return cmd_why(config, url, args.url)

    handlers: dict[str, Callable[[str], Coroutine[Any, Any, int]]] = {
        "run": lambda url: cmd_run(settings, config, url, getattr(args, "roles", frozenset(ROLES))),
        "once": lambda url: cmd_once(settings, config, url),
        "check": lambda url: cmd_check(settings, config, url),
        "import-opml": import_opml, "export-opml": export_opml, "why": why,
        "release": release,
    }
    try:
        with EmbeddedOrExternalRedis(settings) as redis_url:
            return asyncio.run(handlers[command](redis_url))
    except (RedisError, EmbeddedRedisError, ConnectionError) as exc:
        print(f"error: Redis is not usable: {redact(str(exc), secrets)}", file=sys.stderr)
        return EXIT_REDIS
    except Exception as exc:
        if not _is_telegram_error(exc):
            raise
        # PTB's InvalidToken repeats the token in its message: never print it.
        print(f"error: {redact(telegram_failure(exc, settings), secrets)}", file=sys.stderr)
        return EXIT_PROBLEMS
    except KeyboardInterrupt:
        return EXIT_OK


def _is_telegram_error(exc: BaseException) -> bool:
    """A TelegramError, without importing python-telegram-bot for commands that never load it."""
    errors = sys.modules.get("telegram.error")
    return errors is not None and isinstance(exc, errors.TelegramError)


if __name__ == "__main__":
    sys.exit(main())
