"""`python main.py check`: is everything the bot needs there? One line per problem."""
from __future__ import annotations

from config.schema import BotConfig
from config.settings import Settings


async def run_checks(settings: Settings, config: BotConfig, redis_url: str) -> list[str]:
    from store.redis_store import connect

    problems: list[str] = []
    try:
        redis = await connect(redis_url)
        try:
            await redis.ping()
        finally:
            await redis.aclose()
    except Exception as exc:
        problems.append(f"redis: cannot reach {_safe_url(redis_url)}: {exc}")
    if settings.dry_run:
        print("telegram: no TELEGRAM_BOT_TOKEN, dry-run: posts go to the preview")
        return problems
    problems += await _check_telegram(settings, config)
    return problems


async def _check_telegram(settings: Settings, config: BotConfig) -> list[str]:
    from telegram.error import TelegramError

    from bot.telegram_client import make_bot

    problems: list[str] = []
    bot = make_bot(settings.token or "", settings.api_url)
    try:
        try:
            await bot.initialize()
            me = bot.bot
        except TelegramError as exc:
            return [f"telegram: getMe failed: {exc}"]
        except Exception as exc:  # connection refused, DNS, TLS
            return [f"telegram: cannot reach {settings.api_url}: {exc}"]
        print(f"telegram: logged in as @{me.username}")
        for channel in config.channels:
            problem = await _check_channel(bot, channel.chat, me.id)
            if problem:
                problems.append(f"channel {channel.chat}: {problem}")
    finally:
        try:
            await bot.shutdown()
        except Exception:
            pass
    return problems


async def _check_channel(bot, chat: str, bot_id: int) -> str | None:  # type: ignore[no-untyped-def]
    from telegram.error import TelegramError

    chat_id: int | str = int(chat) if chat.lstrip("-").isdigit() else chat
    try:
        info = await bot.get_chat(chat_id)
        member = await bot.get_chat_member(chat_id, bot_id)
    except TelegramError as exc:
        return f"cannot check the chat: {exc}"
    status = getattr(member, "status", "")
    if info.type == "channel":
        if status != "administrator" or not getattr(member, "can_post_messages", False):
            return "the bot is not an administrator allowed to post messages"
    elif status in ("left", "kicked", "restricted"):
        return f"the bot cannot post here (status: {status})"
    return None


def _safe_url(url: str) -> str:
    # Never print a password that may sit in REDIS_URL.
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url
