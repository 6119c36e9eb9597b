"""What the commands say when they cannot start, and what they warn of at start: words for an
operator, naming the variable to change."""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from config.settings import Settings

logger = logging.getLogger("nashir")

DEFAULT_API_URL = "https://api.telegram.org"


def warn_about_settings(settings: Settings) -> None:
    """Log, loudly, what the environment probably got wrong (a misnamed token)."""
    for warning in settings.warnings():
        logger.warning(warning)


def telegram_failure(exc: BaseException, settings: Settings) -> str:
    """Why Telegram could not be used at start: never reached (network, DNS, TLS, a wrong
    TELEGRAM_API_URL), or reached and refused (a bad token)."""
    from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError

    host = urlsplit(settings.api_url).hostname or settings.api_url
    if isinstance(exc, NetworkError) and not isinstance(exc, BadRequest):
        where = ("TELEGRAM_API_URL is unset, so the default" if settings.api_url ==
                 DEFAULT_API_URL else f"TELEGRAM_API_URL = {settings.api_url}")
        return (f"cannot reach Telegram at {host} ({where}): {exc}. Nothing was sent; check "
                "this machine's network (DNS, firewall, proxy) or TELEGRAM_API_URL")
    if isinstance(exc, (InvalidToken, Forbidden)) or "unauthorized" in str(exc).lower():
        return (f"Telegram at {host} refused the token: {exc}. Check TELEGRAM_BOT_TOKEN "
                "(from @BotFather)")
    return f"Telegram at {host} refused to start: {exc}"


__all__ = ["telegram_failure", "warn_about_settings"]
