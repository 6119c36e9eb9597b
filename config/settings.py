"""Process settings from the environment (the contract's variables), read once at start."""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from config.schema import ConfigError, parse_duration

BUNDLED_EXAMPLE = Path(__file__).resolve().parent / "example.yaml"
DEFAULT_CONFIG = Path("config/bot.yaml")
TOKEN_VARIABLE = "TELEGRAM_BOT_TOKEN"
# Names people give the token by mistake: TELEGRAM_TOKEN, TG_TOKEN, TG_BOT_TOKEN, BOT_TOKEN,
# telegram_bot_token, … (TOKEN with TELEGRAM or a TG word; or a bare BOT_TOKEN / TOKEN).
_TOKEN_LOOKALIKE = re.compile(
    r"(?i)^(?=.*TOKEN)(?:.*TELEGRAM.*|(?:.*_)?TG(?:_.*)?|(?:BOT_)?(?:API_)?TOKEN)$")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
# What Telegram accepts as a webhook's secret_token.
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
MAKE_SECRET = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


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
    # Set variables that look like a misnamed TELEGRAM_BOT_TOKEN (only when it is unset).
    token_lookalikes: tuple[str, ...] = ()
    # Held posts (delivery/held.py): how many the held stream keeps (BOT_HELD_CAP), and when a
    # chat the bot could not post in is tried again (BOT_PROBE_FIRST, then backing off to
    # BOT_PROBE_MAX).
    held_cap: int = 10_000
    probe_first_s: float = 60.0
    probe_max_s: float = 6 * 3600.0
    # Webhook mode (TELEGRAM_WEBHOOK_URL): never without a valid secret (checked at load).
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_listen: tuple[str, int] = ("0.0.0.0", 8443)

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
        redis_url = env.get("REDIS_URL", "").strip() or None
        if redis_url is not None:
            _check_redis_url(redis_url)
        webhook_url, webhook_secret, webhook_listen = _webhook(env)
        lookalikes: tuple[str, ...] = ()
        if token is None:
            lookalikes = tuple(sorted(name for name, value in env.items()
                                      if name != TOKEN_VARIABLE and value.strip()
                                      and _TOKEN_LOOKALIKE.match(name)))
        held_cap = _positive_int(env, "BOT_HELD_CAP", 10_000)
        probe_first = _duration(env, "BOT_PROBE_FIRST", 60.0)
        probe_max = _duration(env, "BOT_PROBE_MAX", 6 * 3600.0)
        if probe_max < probe_first:
            raise ConfigError(f"BOT_PROBE_MAX = {env.get('BOT_PROBE_MAX', '6h')!r}: must not be "
                              f"shorter than BOT_PROBE_FIRST")
        return cls(
            token=token,
            api_url=api_url,
            redis_url=redis_url,
            config_path=config_path,
            data_dir=Path(env.get("BOT_DATA_DIR", "").strip() or "./data"),
            http_host=host,
            http_port=port,
            log_format=log_format,
            token_lookalikes=lookalikes,
            held_cap=held_cap,
            probe_first_s=probe_first,
            probe_max_s=probe_max,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            webhook_listen=webhook_listen,
        )

    def warnings(self) -> list[str]:
        """What the environment probably got wrong, for the log at start (WARNING)."""
        found = []
        if self.token_lookalikes:
            names = " and ".join(self.token_lookalikes)
            found.append(f"{names} {'is' if len(self.token_lookalikes) == 1 else 'are'} set "
                         f"but {TOKEN_VARIABLE} is not: running in DRY-RUN, nothing is posted "
                         f"to Telegram. The bot reads its token from {TOKEN_VARIABLE} only.")
        return found


def _positive_int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{name} = {raw!r}: must be a whole number of at least 1")
    return int(raw)


def _duration(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        seconds = parse_duration(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} = {raw!r}: {exc}") from None
    if seconds <= 0:
        raise ConfigError(f"{name} = {raw!r}: must be longer than 0")
    return seconds
def _webhook(env: dict[str, str]) -> tuple[str | None, str | None, tuple[str, int]]:
    """TELEGRAM_WEBHOOK_URL, _SECRET and _LISTEN, checked: webhook mode without a secret
    would let anyone who finds the address post updates as any user, so it does not start."""
    url = env.get("TELEGRAM_WEBHOOK_URL", "").strip() or None
    secret = env.get("TELEGRAM_WEBHOOK_SECRET", "").strip() or None
    listen_raw = env.get("TELEGRAM_WEBHOOK_LISTEN", "").strip() or "0.0.0.0:8443"
    try:
        listen = _parse_addr(listen_raw)
    except ConfigError:
        raise ConfigError(f"TELEGRAM_WEBHOOK_LISTEN = {listen_raw!r}: must be host:port, like "
                          "0.0.0.0:8443") from None
    if secret is not None and not _WEBHOOK_SECRET.match(secret):
        # Never echo the secret: say what is wrong with it.
        what = (f"it is {len(secret)} characters long" if len(secret) > 256
                else "it holds other characters")
        raise ConfigError(
            f"TELEGRAM_WEBHOOK_SECRET: Telegram accepts 1-256 characters of A-Z a-z 0-9 _ - "
            f"only, and {what}. Make one with: {MAKE_SECRET}")
    if url is None:
        return None, secret, listen
    if not url.lower().startswith("https://"):
        raise ConfigError(f"TELEGRAM_WEBHOOK_URL = {url!r}: Telegram calls webhooks over "
                          "HTTPS only; give the public https:// address of the bot's proxy")
    if secret is None:
        raise ConfigError(
            "TELEGRAM_WEBHOOK_URL is set but TELEGRAM_WEBHOOK_SECRET is not: in webhook mode "
            "the bot needs a secret, or anyone who finds the address could send it updates "
            "as any user (an owner's commands included). Make one with:\n"
            f"    {MAKE_SECRET}\n"
            "and set TELEGRAM_WEBHOOK_SECRET to it (1-256 characters of A-Z a-z 0-9 _ -); "
            "or unset TELEGRAM_WEBHOOK_URL to receive updates by long polling.")
    return url, secret, listen


def _check_redis_url(url: str) -> None:
    if not url.lower().startswith(REDIS_SCHEMES):
        # Never echo a password: show the host part only.
        shown = url.rpartition("@")[2]
        raise ConfigError(
            f"REDIS_URL = {shown!r}: a Redis URL must start with redis://, rediss:// or "
            f"unix:// (like redis://{shown or 'localhost:6379'}/0)")


def _parse_addr(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"BOT_HTTP_ADDR = {value!r}: must be host:port, like 127.0.0.1:8080")
    return host.strip("[]") or "0.0.0.0", int(port)
