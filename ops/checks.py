"""`python main.py check`: is everything the bot needs there?

One line per problem (as the contract says), then a table of every check, fine or not:

    check              result  detail
    config             ok      config/bot.yaml: 3 feeds, 2 channels
    redis              ok      redis://***@redis:6379/0 answers (Redis 7.2.4)
    redis memory       WARN    maxmemory-policy is allkeys-lru: Redis may evict queued posts …
    telegram           ok      logged in as @nashir_bot
    channel @news      FAIL    the bot is not an administrator allowed to post messages

FAIL rows are the problems (exit 1); WARN rows are advice and do not fail the check. Nothing
printed ever holds the token or REDIS_URL's password.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any, TextIO

from config.schema import BotConfig
from config.settings import Settings
from ops.progress import Progress
from ops.secrets import redact, safe_url, secrets_of

OK, WARN, FAIL = "ok", "WARN", "FAIL"
CHANNEL_CONCURRENCY = 8


@dataclass(frozen=True, slots=True)
class CheckRow:
    what: str
    result: str                   # ok | WARN | FAIL
    detail: str


@dataclass(slots=True)
class CheckReport:
    rows: list[CheckRow] = field(default_factory=list)

    def add(self, what: str, result: str, detail: str) -> None:
        self.rows.append(CheckRow(what, result, detail))

    @property
    def problems(self) -> list[str]:
        """One line per failed check."""
        return [f"{row.what}: {row.detail}" for row in self.rows if row.result == FAIL]

    @property
    def ok(self) -> bool:
        return not self.problems

    def table(self) -> str:
        """Every check as an aligned table, the verdict last."""
        header = ("check", "result", "detail")
        rows = [header] + [(r.what, r.result, r.detail) for r in self.rows]
        width0 = max(len(r[0]) for r in rows)
        width1 = max(len(r[1]) for r in rows)
        lines = [f"{a:<{width0}}  {b:<{width1}}  {c}".rstrip() for a, b, c in rows]
        lines.insert(1, f"{'-' * width0}  {'-' * width1}  {'-' * 6}")
        failed = sum(r.result == FAIL for r in self.rows)
        warned = sum(r.result == WARN for r in self.rows)
        verdict = f"{failed} problem{'s' if failed != 1 else ''}" if failed else "all is well"
        if warned:
            verdict += f" ({warned} warning{'s' if warned != 1 else ''})"
        return "\n".join(lines + ["", verdict])

    def redacted(self, secrets: list[str]) -> CheckReport:
        return CheckReport([CheckRow(redact(r.what, secrets), r.result, redact(r.detail, secrets))
                            for r in self.rows])


async def check_report(settings: Settings, config: BotConfig, redis_url: str, *,
                       progress_stream: TextIO | None = None) -> CheckReport:
    """Run every check; the report is already free of secrets."""
    report = CheckReport()
    feeds, channels = len(config.feeds), len(config.channels)
    report.add("config", OK, f"{settings.config_path}: {feeds} feed{'s' if feeds != 1 else ''}, "
               f"{channels} channel{'s' if channels != 1 else ''}")
    _check_data_dir(settings, report)
    await _check_redis(redis_url, report)
    await _check_feeds(config, report, progress_stream)
    if settings.dry_run and settings.token_lookalikes:
        names = " and ".join(settings.token_lookalikes)
        report.add("telegram", FAIL, f"{names} {'is' if ' and ' not in names else 'are'} set "
                   "but TELEGRAM_BOT_TOKEN is not: the bot runs in dry-run and posts nothing "
                   "to Telegram; name the variable TELEGRAM_BOT_TOKEN")
    elif settings.dry_run:
        report.add("telegram", OK, "no TELEGRAM_BOT_TOKEN: dry-run, posts go to the preview "
                   f"in {settings.preview_dir}")
        for channel in config.channels:
            report.add(f"channel {channel.chat}", OK, "not checked in dry-run")
    else:
        await _check_telegram(settings, config, report, progress_stream)
    return report.redacted(secrets_of(settings))


def print_report(report: CheckReport, out: TextIO | None = None) -> None:
    """Problems first, one per line, then the table."""
    out = out or sys.stdout
    for problem in report.problems:
        print(problem, file=out)
    if report.problems:
        print(file=out)
    print(report.table(), file=out)


def _check_data_dir(settings: Settings, report: CheckReport) -> None:
    path = settings.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".check-", delete=True):
            pass
    except OSError as exc:
        report.add("data dir", FAIL, f"{path} is not writable: {exc.strerror or exc} "
                   f"(uid {os.getuid()})")
        return
    report.add("data dir", OK, f"{path} is writable")


async def _check_redis(redis_url: str, report: CheckReport) -> None:
    from store.redis_store import connect

    shown = safe_url(redis_url)
    try:
        redis = await connect(redis_url)
    except Exception as exc:
        report.add("redis", FAIL, f"cannot use {shown}: {exc}")
        return
    try:
        try:
            await asyncio.wait_for(redis.ping(), 10)
        except Exception as exc:
            detail = str(exc) or type(exc).__name__
            report.add("redis", FAIL, f"cannot reach {shown}: {detail}")
            return
        info: dict[str, Any] = {}
        # Some managed services refuse INFO; the ping is what matters.
        with contextlib.suppress(Exception):
            info = await redis.info()
        version = info.get("redis_version")
        report.add("redis", OK, f"{shown} answers" + (f" (Redis {version})" if version else ""))
        _redis_advice(info, report)
    finally:
        await redis.aclose()


def _redis_advice(info: dict[str, Any], report: CheckReport) -> None:
    if not info:
        report.add("redis settings", WARN, "INFO is refused: persistence and memory policy "
                   "not checked (they must be append-only and noeviction)")
        return
    policy = str(info.get("maxmemory_policy", ""))
    if policy and policy != "noeviction":
        report.add("redis memory", WARN, f"maxmemory-policy is {policy}: Redis may evict "
                   "queued posts and sent records; set it to noeviction")
    elif policy:
        report.add("redis memory", OK, "maxmemory-policy noeviction")
    aof = str(info.get("aof_enabled", "0")) == "1"
    if aof:
        report.add("redis persistence", OK, "append-only file on")
    else:
        report.add("redis persistence", WARN, "appendonly is off: a Redis restart can lose "
                   "recent queue entries and memory of what was posted; set appendonly yes")


async def _check_feeds(config: BotConfig, report: CheckReport,
                       progress_stream: TextIO | None) -> None:
    """Each feed fetched and parsed once; its script against its channels' language."""
    from feeds.fetcher import Fetcher, FetchLimits, make_session
    from ops.feed_checks import check_feeds, language_mismatches

    active = [feed for feed in config.feeds if not feed.paused]
    if not active:
        return
    limits = FetchLimits()
    session = make_session(limits)
    try:
        with Progress(len(active), "checking feeds", stream=progress_stream) as progress:
            results = await check_feeds(config, Fetcher(session, limits),
                                        lambda url, failed: progress.advance(item=url,
                                                                             failed=failed))
    finally:
        await session.close()
    for found in results:
        if found.problem:
            report.add(f"feed {found.feed.url}", FAIL, found.problem)
            continue
        report.add(f"feed {found.feed.url}", OK,
                   f"{found.items} item{'s' if found.items != 1 else ''}")
        for chat, advice in language_mismatches(config, found):
            report.add(f"language of {chat}", WARN, f"feed {found.feed.url}: {advice}")


async def _check_telegram(settings: Settings, config: BotConfig, report: CheckReport,
                          progress_stream: TextIO | None) -> None:
    from telegram.error import TelegramError

    from delivery.telegram_client import make_bot

    bot = make_bot(settings.token or "", settings.api_url)
    try:
        try:
            await bot.initialize()
            me = bot.bot
        except TelegramError as exc:
            report.add("telegram", FAIL, f"getMe failed: {exc}")
            return
        except Exception as exc:  # connection refused, DNS, TLS
            report.add("telegram", FAIL, f"cannot reach {settings.api_url}: {exc}")
            return
        report.add("telegram", OK, f"logged in as @{me.username}")
        slots = asyncio.Semaphore(CHANNEL_CONCURRENCY)
        with Progress(len(config.channels), "checking channels",
                      stream=progress_stream) as progress:

            async def one(chat: str) -> tuple[str, str | None, int | None]:
                async with slots:
                    problem, chat_id = await _check_channel(bot, chat, me.id)
                progress.advance(item=chat, failed=problem is not None)
                return chat, problem, chat_id

            results = await asyncio.gather(*(one(c.chat) for c in config.channels))
        for chat, problem, _ in results:
            if problem:
                report.add(f"channel {chat}", FAIL, problem)
            else:
                report.add(f"channel {chat}", OK, "the bot may post here")
        _check_same_chat(results, report)
    finally:
        with contextlib.suppress(Exception):
            await bot.shutdown()


def _check_same_chat(results: list[tuple[str, str | None, int | None]],
                     report: CheckReport) -> None:
    """One chat listed twice under different names (@name and its numeric id): the bot keeps
    what was posted, and its rate limits, per configured name, so that chat would get every
    article twice."""
    names: dict[int, list[str]] = {}
    for chat, _, chat_id in results:
        if chat_id is not None:
            names.setdefault(chat_id, []).append(chat)
    for chat_id, same in names.items():
        if len(same) > 1:
            report.add("channels " + " and ".join(same), FAIL,
                       f"these are one chat ({chat_id}); it would get every post once per "
                       "name: list it once")


async def _check_channel(bot: Any, chat: str, bot_id: int) -> tuple[str | None, int | None]:
    """The problem with posting to `chat` (None: none), and the chat's numeric id when known."""
    from telegram.error import TelegramError

    chat_id: int | str = int(chat) if chat.lstrip("-").isdigit() else chat
    try:
        info = await bot.get_chat(chat_id)
        member = await bot.get_chat_member(chat_id, bot_id)
    except TelegramError as exc:
        return f"cannot check the chat: {exc}", None
    except Exception as exc:
        return f"cannot check the chat: {type(exc).__name__}: {exc}", None
    status = getattr(member, "status", "")
    if info.type == "channel":
        if status not in ("administrator", "creator"):
            return "the bot is not an administrator allowed to post messages", info.id
        if status == "administrator" and not getattr(member, "can_post_messages", False):
            return "the bot is not an administrator allowed to post messages", info.id
    elif status in ("left", "kicked", "restricted"):
        return f"the bot cannot post here (status: {status})", info.id
    return None, info.id
