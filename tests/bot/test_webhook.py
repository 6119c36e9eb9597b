"""Webhook mode: with a webhook URL every replica receives updates over HTTP (no lock); the
secret token is checked."""
from __future__ import annotations

import asyncio
import socket

import aiohttp

from bot.app import build_application, run_commands
from bot.services import CommandLimiter
from config.schema import parse_config
from config.settings import Settings
from feeds.fetcher import Fetcher, FetchLimits, make_session
from store import keys
from tests.bot.conftest import STRANGER, TOKEN, base_config, plain


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_webhook_receives_updates(tg, redis, tmp_path):
    """setWebhook is called with the secret; a POSTed update is answered; a POST without the
    secret is refused; no getUpdates and no lock."""
    settings = Settings(token=TOKEN, api_url=tg.api_root, redis_url=None,
                        config_path=tmp_path / "x.yaml", data_dir=tmp_path,
                        http_host="127.0.0.1", http_port=0, log_format="text")
    limits = FetchLimits()
    session = make_session(limits)
    app = build_application(settings, parse_config(base_config()), redis,
                            Fetcher(session, limits), limiter=CommandLimiter(redis))
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(run_commands(
        app, stop, webhook_url="https://bot.example.org/tg/hook", webhook_secret="s3cret_T0ken",
        webhook_listen=("127.0.0.1", port), register=False))
    try:
        await tg.wait_for(lambda: tg.webhook_url or task.done(), 15, "setWebhook")
        assert tg.webhook_url == "https://bot.example.org/tg/hook"
        assert tg.webhook_params.get("secret_token") == "s3cret_T0ken"
        update = {"update_id": 1, "message": {
            "message_id": 1, "date": 1_700_000_000, "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            "chat": {"id": STRANGER, "type": "private", "first_name": "S"},
            "from": {"id": STRANGER, "is_bot": False, "first_name": "S", "language_code": "en"}}}
        async with aiohttp.ClientSession() as client:
            url = f"http://127.0.0.1:{port}/tg/hook"
            async with client.post(url, json=update) as response:
                assert response.status == 403
            async with client.post(url, json=update,
                                   headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret_T0ken"}
                                   ) as response:
                assert response.status == 200
        [reply] = await tg.wait_for(lambda: tg.messages_to(STRANGER), 10, "the reply")
        assert "Welcome" in plain(reply.html)
        assert tg.calls("getUpdates") == []
        assert await redis.get(keys.bot_updates_lock()) is None
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await session.close()
