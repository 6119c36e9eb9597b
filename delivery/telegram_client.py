"""Building python-telegram-bot's Bot against TELEGRAM_API_URL."""
from __future__ import annotations

from telegram import Bot
from telegram.request import HTTPXRequest


def make_request(pool_size: int = 32) -> HTTPXRequest:
    return HTTPXRequest(connection_pool_size=pool_size, connect_timeout=10, read_timeout=30,
                        write_timeout=30, pool_timeout=10)


def make_bot(token: str, api_url: str) -> Bot:
    """A Bot whose every call goes to `{api_url}/bot{token}/{method}`."""
    return Bot(token, base_url=f"{api_url}/bot", base_file_url=f"{api_url}/file/bot",
               request=make_request(), get_updates_request=make_request(2))
