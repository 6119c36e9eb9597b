"""Webhook mode never runs without a secret: with TELEGRAM_WEBHOOK_URL set and no (or a
malformed) TELEGRAM_WEBHOOK_SECRET the bot does not start, `check` included, and says how to
make one; nothing reaches Telegram. A running listener answers a forged update (no secret
header, or a wrong one) with 403, and nothing changes."""
from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from bot.app import build_application, run_commands
from bot.services import CommandLimiter, Role
from config.schema import parse_config
from config.settings import Settings
from feeds.fetcher import Fetcher, FetchLimits, make_session
from sandbox.telegram_api import FakeTelegram
from tests.bot.conftest import OWNER, TOKEN, base_config, plain
from tests.hostile.conftest import redis_state
from tests.support import bot_env, run_bot, write_config

HOOK = "https://bot.example.org/tg/hook"
SECRET = "s3cret_T0ken-for_the-hook"
NEW_EDITOR = 5555


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env_for(tmp_path: Path, tg: FakeTelegram, **webhook: str) -> dict[str, str]:
    config = write_config(tmp_path / "bot.yaml", base_config(allow_networks=[]))
    return bot_env(config=config, data_dir=tmp_path / "data", api_root=tg.api_root,
                   token=TOKEN, extra={"TELEGRAM_WEBHOOK_LISTEN": f"127.0.0.1:{free_port()}",
                                       **webhook})


@pytest.mark.parametrize("command", ["run", "check"])
async def test_webhook_without_a_secret_does_not_start(
        tmp_path: Path, tg: FakeTelegram, command: str) -> None:
    """Exit 2 at once, naming TELEGRAM_WEBHOOK_SECRET and how to make one; Telegram is not
    asked anything (no getMe, no setWebhook)."""
    env = env_for(tmp_path, tg, TELEGRAM_WEBHOOK_URL=HOOK)
    env.pop("TELEGRAM_WEBHOOK_SECRET", None)
    result = await run_bot(command, env=env, within=60)
    assert result.code == 2, result.stderr[-2000:]
    assert "TELEGRAM_WEBHOOK_SECRET is not" in result.stderr
    assert "secrets.token_urlsafe(32)" in result.stderr
    assert tg.calls("setWebhook") == [] and tg.calls("getMe") == []


@pytest.mark.parametrize("secret, why", [
    ("has spaces and !", "it holds other characters"),
    ("x" * 257, "it is 257 characters long"),
])
async def test_a_secret_telegram_would_refuse_is_refused_at_load(
        tmp_path: Path, tg: FakeTelegram, secret: str, why: str) -> None:
    """A secret outside Telegram's 1-256 of A-Z a-z 0-9 _ - stops `check` (and `run`) at load,
    with what is wrong and never the secret itself."""
    env = env_for(tmp_path, tg, TELEGRAM_WEBHOOK_URL=HOOK, TELEGRAM_WEBHOOK_SECRET=secret)
    result = await run_bot("check", env=env, within=60)
    assert result.code == 2, result.stderr[-2000:]
    assert "TELEGRAM_WEBHOOK_SECRET" in result.stderr and why in result.stderr
    assert secret not in result.stderr + result.stdout
    assert tg.calls("setWebhook") == []


def test_settings_refuse_webhook_mode_without_a_secret() -> None:
    """The same rule where every command reads its environment: Settings.from_env."""
    from config.schema import ConfigError

    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET is not"):
        Settings.from_env({"TELEGRAM_WEBHOOK_URL": HOOK})
    with pytest.raises(ConfigError, match="HTTPS only"):
        Settings.from_env({"TELEGRAM_WEBHOOK_URL": "http://bot.example.org/hook",
                           "TELEGRAM_WEBHOOK_SECRET": SECRET})
    ok = Settings.from_env({"TELEGRAM_WEBHOOK_URL": HOOK, "TELEGRAM_WEBHOOK_SECRET": SECRET,
                            "TELEGRAM_WEBHOOK_LISTEN": "127.0.0.1:9443"})
    assert (ok.webhook_url, ok.webhook_secret, ok.webhook_listen) == (
        HOOK, SECRET, ("127.0.0.1", 9443))


def owner_update(update_id: int, text: str) -> dict[str, object]:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1_700_000_000, "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": text.index(" ")}],
        "chat": {"id": OWNER, "type": "private", "first_name": "O"},
        "from": {"id": OWNER, "is_bot": False, "first_name": "O", "language_code": "en"}}}


async def test_forged_updates_to_the_listener_are_refused(
        tg: FakeTelegram, redis: aioredis.Redis, tmp_path: Path) -> None:
    """An owner's /addeditor POSTed without the secret header, with a wrong one, or with a
    near miss: 403 each, no reply, Redis unchanged. The same update with the secret: done."""
    settings = Settings(token=TOKEN, api_url=tg.api_root, redis_url=None,
                        config_path=tmp_path / "x.yaml", data_dir=tmp_path,
                        http_host="127.0.0.1", http_port=0, log_format="text")
    limits = FetchLimits()
    async with make_session(limits) as session:
        app = build_application(settings, parse_config(base_config()), redis,
                                Fetcher(session, limits), limiter=CommandLimiter(redis))
        port = free_port()
        stop = asyncio.Event()
        task = asyncio.create_task(run_commands(
            app, stop, webhook_url=HOOK, webhook_secret=SECRET,
            webhook_listen=("127.0.0.1", port), register=False))
        try:
            await tg.wait_for(lambda: tg.webhook_url or task.done(), 15, "setWebhook")
            assert tg.webhook_params.get("secret_token") == SECRET
            before = await redis_state(redis)
            url = f"http://127.0.0.1:{port}/tg/hook"
            forged = owner_update(1, f"/addeditor {NEW_EDITOR}")
            async with aiohttp.ClientSession() as client:
                for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"},
                                {"X-Telegram-Bot-Api-Secret-Token": SECRET[:-1]},
                                {"X-Telegram-Bot-Api-Secret-Token": SECRET + "x"}):
                    async with client.post(url, json=forged, headers=headers) as answer:
                        assert answer.status == 403, headers
                assert await redis_state(redis) == before
                assert tg.messages_to(OWNER) == []
                assert await app.bot_data.roles.role(NEW_EDITOR) is Role.USER
                async with client.post(url, json=owner_update(2, f"/addeditor {NEW_EDITOR}"),
                                       headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
                                       ) as answer:
                    assert answer.status == 200
            [reply] = await tg.wait_for(lambda: tg.messages_to(OWNER), 10, "the reply")
            assert f"{NEW_EDITOR} is now an editor" in plain(reply.html)
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)


async def test_the_listener_does_not_run_without_a_secret(
        tg: FakeTelegram, redis: aioredis.Redis, tmp_path: Path) -> None:
    """Called directly (not through main.py's checked settings), the command loop refuses
    webhook mode without a secret before asking Telegram anything or listening."""
    settings = Settings(token=TOKEN, api_url=tg.api_root, redis_url=None,
                        config_path=tmp_path / "x.yaml", data_dir=tmp_path,
                        http_host="127.0.0.1", http_port=0, log_format="text")
    limits = FetchLimits()
    async with make_session(limits) as session:
        app = build_application(settings, parse_config(base_config()), redis,
                                Fetcher(session, limits), limiter=CommandLimiter(redis))
        with pytest.raises(ValueError, match="TELEGRAM_WEBHOOK_SECRET"):
            await asyncio.wait_for(run_commands(
                app, asyncio.Event(), webhook_url=HOOK, webhook_secret="",
                webhook_listen=("127.0.0.1", free_port()), register=False), 15)
    assert tg.calls("setWebhook") == [] and tg.calls("getMe") == []
