"""Process settings from the environment (the contract's variables), read once at start."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from config.schema import ConfigError

BUNDLED_EXAMPLE = Path(__file__).resolve().parent / "example.yaml"
DEFAULT_CONFIG = Path("config/bot.yaml")


@dataclass(frozen=True, slots=True)
class Settings:
    token: str | None
    api_url: str
    redis_url: str | None
    config_path: Path
    data_dir: Path
    http_host: str
    http_port: int
    log_format: str

    @property
    def dry_run(self) -> bool:
        return not self.token

    @property
    def preview_dir(self) -> Path:
        return self.data_dir / "preview"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        token = env.get("TELEGRAM_BOT_TOKEN", "").strip() or None
        api_url = (env.get("TELEGRAM_API_URL", "").strip() or "https://api.telegram.org").rstrip("/")
        if "BOT_CONFIG" in env and env["BOT_CONFIG"].strip():
            config_path = Path(env["BOT_CONFIG"].strip())
        elif DEFAULT_CONFIG.exists():
            config_path = DEFAULT_CONFIG
        else:
            config_path = BUNDLED_EXAMPLE
        host, port = _parse_addr(env.get("BOT_HTTP_ADDR", "").strip() or "127.0.0.1:8080")
        log_format = env.get("BOT_LOG_FORMAT", "").strip().lower()
        if log_format not in ("", "json", "text"):
            raise ConfigError(f"BOT_LOG_FORMAT = {log_format!r}: must be json or text")
        if not log_format:
            log_format = "text" if sys.stderr.isatty() else "json"
        return cls(
            token=token,
            api_url=api_url,
            redis_url=env.get("REDIS_URL", "").strip() or None,
            config_path=config_path,
            data_dir=Path(env.get("BOT_DATA_DIR", "").strip() or "./data"),
            http_host=host,
            http_port=port,
            log_format=log_format,
        )


def _parse_addr(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"BOT_HTTP_ADDR = {value!r}: must be host:port, like 127.0.0.1:8080")
    return host.strip("[]") or "0.0.0.0", int(port)
