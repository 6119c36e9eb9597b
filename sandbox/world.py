"""The editors' sandbox world: who is in it (you, the bot, two channels), the config the bot
runs with there, and the environment it reads, all kept apart from the user's own data, config,
token and REDIS_URL."""
from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from sandbox.telegram_api import FakeTelegram

TOKEN = "100000001:SANDBOX-nashir-local-only"
BOT_USERNAME = "nashir_sandbox_bot"
BOT_NAME = "Nashir (sandbox)"
USER_ID = 100200300  # "you": the owner of the sandbox bot, an administrator of its channels


@dataclass(frozen=True, slots=True)
class SandboxChannel:
    chat_id: int
    username: str
    title: str
    language: str

    @property
    def chat(self) -> str:
        return f"@{self.username}"


CHANNELS = (
    SandboxChannel(-1001000000001, "nashir_sandbox", "ناشر · قناة التجربة", "ar"),
    SandboxChannel(-1001000000002, "nashir_sandbox_en", "Nashir · sandbox channel", "en"),
)


def populate(fake: FakeTelegram, language: str) -> None:
    """You (in your language), and the channels, where both you and the bot are admins."""
    fake.add_user(USER_ID, "أنت" if language == "ar" else "You", language, username="editor")
    for channel in CHANNELS:
        fake.add_chat(channel.chat_id, "channel", username=channel.username,
                      title=channel.title, bot_status="administrator")
        fake.set_member(channel.chat_id, USER_ID, "creator")


def write_config(data_dir: Path, pages_url: str) -> Path:
    """The bot's config in the sandbox: you as owner, both channels, pages on this machine
    allowed (the sample article and feed are served locally), and the sample feed, posting its
    newest item to the Arabic channel."""
    config = {
        "timezone": "Asia/Damascus",
        "owners": [USER_ID],
        "editors": [],
        "channels": [{"chat": c.chat, "language": c.language,
                      **({"calendars": ["gregorian", "hijri"]} if c.language == "ar" else {})}
                     for c in CHANNELS],
        "allow_networks": ["127.0.0.0/8"],
        "feeds": [{"url": f"{pages_url}/samples/feed-ar.xml", "channels": [CHANNELS[0].chat],
                   "name": "مرصد ناشر", "interval": "10m", "first_run": "latest"}],
    }
    path = data_dir / "sandbox.yaml"
    # JSON is YAML: the file stays readable for whoever wants to see what the bot runs with.
    path.write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def sandbox_env(data_dir: Path, config_path: Path, api_root: str, status_port: int) -> dict[str,
                                                                                          str]:
    """The environment the bot reads in the sandbox: the fake's token and address, the sandbox
    config and data dir, the embedded Redis (no REDIS_URL), a status page of its own."""
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": api_root,
        "BOT_CONFIG": str(config_path),
        "BOT_DATA_DIR": str(data_dir),
        "BOT_HTTP_ADDR": f"127.0.0.1:{status_port}",
    }
    if os.environ.get("BOT_LOG_FORMAT", "").strip():
        env["BOT_LOG_FORMAT"] = os.environ["BOT_LOG_FORMAT"]
    return env


def free_port() -> int:
    """A port free right now on 127.0.0.1 (for the status page, whose address is shown before
    the bot starts listening there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
