"""`main.py sandbox`: the real bot (the same `run` as in production, all roles) against the
local Telegram stand-in, with an embedded Redis and a data dir of its own, and the web chat
where an editor plays the other side. Ctrl-C stops it cleanly."""
from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import webbrowser
from collections.abc import Awaitable, Callable
from pathlib import Path

from config.logging import configure_logging
from config.schema import BotConfig, ConfigError
from config.settings import Settings
from guards.urls import mask_urls_in_text
from pipeline.validate import load_checked_config
from sandbox.telegram_api import FakeTelegram
from sandbox.webchat import WebChat
from sandbox.world import (
    BOT_NAME,
    BOT_USERNAME,
    CHANNELS,
    TOKEN,
    free_port,
    populate,
    sandbox_env,
    write_config,
)
from store.embedded import EmbeddedRedis, EmbeddedRedisError

RunBot = Callable[[Settings, BotConfig, str], Awaitable[int]]


def run_sandbox(args: argparse.Namespace, run: RunBot) -> int:
    """Set the sandbox up, run the bot with `run` (main.py's cmd_run) until Ctrl-C, tidy up.
    Exit status: `run`'s, 0 on Ctrl-C, 2 when the sandbox cannot be set up."""
    temporary = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="nashir-sandbox-") if temporary else args.data_dir)
    redis: EmbeddedRedis | None = None
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        redis = EmbeddedRedis(data_dir)
        redis.start()
        return asyncio.run(_serve(args, data_dir, redis.url, run, temporary=temporary))
    except KeyboardInterrupt:  # Ctrl-C before the bot took over the signal
        return 0
    except (EmbeddedRedisError, ConfigError, OSError) as exc:
        print(f"error: the sandbox cannot start: {exc}", file=sys.stderr)
        return 2
    finally:
        if redis is not None:
            redis.stop()
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)


async def _serve(args: argparse.Namespace, data_dir: Path, redis_url: str, run: RunBot, *,
                 temporary: bool) -> int:
    fake = FakeTelegram(TOKEN, bot_username=BOT_USERNAME, bot_name=BOT_NAME)
    status_port = free_port()
    chat = WebChat(fake, status_url=f"http://127.0.0.1:{status_port}/")
    try:
        await fake.start(args.telegram_port)
        populate(fake, args.lang)
        await chat.start(args.port)
        config_path = write_config(data_dir, chat.url)
        settings = Settings.from_env(sandbox_env(data_dir, config_path, fake.api_root,
                                                 status_port))
        configure_logging(settings.log_format, secrets=[TOKEN], mask=mask_urls_in_text)
        config = load_checked_config(config_path)
        _banner(chat, data_dir, temporary=temporary)
        if args.open:
            webbrowser.open(f"{chat.url}/")
        return await run(settings, config, redis_url)
    finally:
        await chat.stop()
        await fake.stop()


def _banner(chat: WebChat, data_dir: Path, *, temporary: bool) -> None:
    kept = "removed at exit" if temporary else "kept"
    lines = [
        "Nashir sandbox: the real bot against a local stand-in for Telegram; nothing leaves "
        "this machine.",
        f"  web chat     {chat.url}/   <- open this in your browser",
        f"  try          /push {chat.samples()[0]}  then press \"Publish\" under the card",
        f"  channels     {', '.join(c.chat for c in CHANNELS)} (you own the bot and both)",
        f"  status page  {chat.status_url}",
        f"  data         {data_dir} ({kept})",
        "  Ctrl-C stops it.",
    ]
    print("\n".join(lines), flush=True)
