"""The bot token and REDIS_URL's password never appear in logs, error output or `check`
(the status page and /readyz are covered in their own tests)."""
from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.logging import configure_logging
from ops.secrets import secrets_of
from tests.ops.conftest import REDIS_PASSWORD, TOKEN, make_settings

SECRET_HALF = TOKEN.split(":", 1)[1]


@pytest.fixture
def captured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The bot's own logging set-up (JSON), writing to a buffer, with the secrets main.py
    derives from the settings."""
    import sys

    buffer = io.StringIO()
    monkeypatch.setattr("sys.stderr", buffer)
    monkeypatch.setattr("sys.excepthook", sys.excepthook)  # configure_logging may replace it
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    settings = make_settings(tmp_path, token=TOKEN,
                             redis_url=f"redis://default:{REDIS_PASSWORD}@redis:6379/0")
    configure_logging("json", secrets=secrets_of(settings))
    try:
        yield buffer
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def assert_clean(text: str) -> None:
    assert TOKEN not in text
    assert SECRET_HALF not in text
    assert REDIS_PASSWORD not in text


def test_messages_arguments_and_httpx_urls_are_masked(captured: io.StringIO) -> None:
    """A token in a message, in %-arguments, in an httpx request line (plain or URL-encoded),
    and a Redis password in a URL are all masked, and every line is still valid JSON."""
    log = logging.getLogger("nashir.test")
    log.info("calling https://api.telegram.org/bot%s/getMe", TOKEN)
    log.warning(f"direct {TOKEN} in the message")
    log.warning("redis://default:%s@redis:6379/0 refused", REDIS_PASSWORD)
    logging.getLogger("httpx").warning('HTTP Request: POST %s "HTTP/1.1 401 Unauthorized"',
                                       f"https://api.telegram.org/bot{TOKEN}/getMe")
    logging.getLogger("httpx").warning("encoded %s", TOKEN.replace(":", "%3A"))
    text = captured.getvalue()
    assert_clean(text)
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 5 and all("***" in line["message"] for line in lines)


def test_httpx_request_lines_are_not_logged_at_info(captured: io.StringIO) -> None:
    """httpx logs every request URL (with the token) at INFO; that level is off."""
    logging.getLogger("httpx").info("HTTP Request: POST https://api.telegram.org/bot%s/x", TOKEN)
    assert captured.getvalue() == ""


def test_tracebacks_are_masked_through_chained_exceptions(captured: io.StringIO) -> None:
    """An exception carrying the token, even as the cause of another, is masked in the logged
    traceback."""
    from telegram.error import InvalidToken

    log = logging.getLogger("nashir.test")
    try:
        try:
            raise InvalidToken(f"The token `{TOKEN}` was rejected by the server.")
        except InvalidToken as exc:
            raise RuntimeError("could not start") from exc
    except RuntimeError:
        log.exception("start failed")
    line = json.loads(captured.getvalue())
    assert "InvalidToken" in line["error"] and "***" in line["error"]
    assert_clean(captured.getvalue())


def test_context_fields_are_masked(captured: io.StringIO) -> None:
    """Context fields (feed, chat, …) are masked too: a feed URL with the token in its query
    must not print it."""
    logging.getLogger("nashir.test").info(
        "polled", extra={"feed": f"https://example.org/feed?key={TOKEN}", "chat": TOKEN})
    assert_clean(captured.getvalue())


async def test_check_never_prints_the_token(tmp_path: Path, redis_url: str) -> None:
    """`check` with a token Telegram refuses names the problem without printing the token."""
    from sandbox.telegram_api import FakeTelegram
    from tests.support import bot_env, run_bot, write_config

    async with FakeTelegram(token="111:TheRealTokenOfTheBot") as telegram:
        config = write_config(tmp_path / "bot.yaml", {"channels": [{"chat": "@nashir_a"}]})
        env = bot_env(config=config, data_dir=tmp_path / "data", api_root=telegram.api_root,
                      token=TOKEN, redis_url=redis_url)
        result = await run_bot("check", env=env, within=60)
    assert result.code == 1
    assert "telegram" in result.stdout and "rejected" in result.stdout
    assert_clean(result.stdout + result.stderr)


async def test_a_refused_token_never_reaches_stderr(tmp_path: Path, redis_url: str) -> None:
    """`once` with a token Telegram refuses fails with a message, not a traceback holding the
    token."""
    from sandbox.telegram_api import FakeTelegram
    from tests.support import bot_env, run_bot, write_config

    async with FakeTelegram(token="111:TheRealTokenOfTheBot") as telegram:
        config = write_config(tmp_path / "bot.yaml", {"channels": [{"chat": "@nashir_a"}]})
        env = bot_env(config=config, data_dir=tmp_path / "data", api_root=telegram.api_root,
                      token=TOKEN, redis_url=redis_url)
        result = await run_bot("once", env=env, within=60)
    assert result.code != 0
    assert_clean(result.stdout + result.stderr)
