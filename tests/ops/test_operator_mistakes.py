"""An operator's usual mistakes, made through the real command line, each answered in words
that name what to change: a misnamed token, a REDIS_URL without a scheme, no way to Telegram,
a feed host that does not resolve, every feed failing in `once`, an Arabic feed sent to an
English channel."""
from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from config.schema import ConfigError
from config.settings import Settings
from tests.support import REPO, bot_env, run_bot, write_config

pytestmark = pytest.mark.timeout(120)

SAMPLE = (REPO / "samples" / "feed-ar.xml").as_uri()
NO_HOST = "https://no-such-host.invalid/feed.xml"   # .invalid never resolves (RFC 6761)


def config_with(path: Path, feeds: list[str], language: str = "ar") -> Path:
    return write_config(path, {
        "timezone": "UTC",
        "channels": [{"chat": "@nashir_demo", "language": language}],
        "feeds": [{"url": url, "channels": ["@nashir_demo"], "first_run": "all"}
                  for url in feeds]})


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def records(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("name", ["TELEGRAM_TOKEN", "BOT_TOKEN", "TG_TOKEN"])
async def test_a_misnamed_token_is_a_loud_warning_and_fails_check(tmp_path: Path,
                                                                 name: str) -> None:
    """With the token under another name and TELEGRAM_BOT_TOKEN unset, every start logs a
    WARNING naming the variable and dry-run, and `check` fails saying which name to use."""
    env = bot_env(config=config_with(tmp_path / "bot.yaml", [SAMPLE]), data_dir=tmp_path / "d",
                  extra={name: "123456:secret-token-value"})
    result = await run_bot("check", env=env)
    assert result.code == 1, result.stdout + result.stderr
    warnings = [r["message"] for r in records(result.stderr) if r["level"] == "warning"]
    assert any(name in w and "TELEGRAM_BOT_TOKEN" in w and "DRY-RUN" in w for w in warnings)
    assert f"telegram: {name} is set but TELEGRAM_BOT_TOKEN is not" in result.stdout
    assert "secret-token-value" not in result.stdout + result.stderr


def test_a_token_with_its_right_name_warns_of_nothing() -> None:
    """Other tokens in the environment (GITHUB_TOKEN) or the right name give no warning."""
    assert Settings.from_env({"GITHUB_TOKEN": "x", "SLACK_BOT_TOKEN": "y"}).warnings() == []
    assert Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:a", "BOT_TOKEN": "1:a"}).warnings() == []


def test_redis_url_without_a_scheme_is_refused_at_load() -> None:
    """REDIS_URL=localhost:6390 is refused when the settings are read, naming the variable
    and the schemes, and never echoing a password."""
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"REDIS_URL": "localhost:6390"})
    assert str(refused.value).startswith("REDIS_URL = 'localhost:6390': ")
    assert "redis://, rediss:// or unix://" in str(refused.value)
    with pytest.raises(ConfigError) as hidden:
        Settings.from_env({"REDIS_URL": "user:hunter2@redis.internal:6379"})
    assert "hunter2" not in str(hidden.value)
    assert Settings.from_env({"REDIS_URL": "rediss://redis.internal:6380/0"}).redis_url


async def test_run_with_a_schemeless_redis_url_exits_2_in_one_line(tmp_path: Path) -> None:
    """`run` with REDIS_URL=localhost:6390 exits 2 with the same one-line answer, no
    traceback."""
    env = bot_env(config=config_with(tmp_path / "bot.yaml", [SAMPLE]), data_dir=tmp_path / "d",
                  redis_url="localhost:6390")
    result = await run_bot("run", env=env)
    assert result.code == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: REDIS_URL = 'localhost:6390': a Redis URL must start with redis://, rediss:// "
        "or unix:// (like redis://localhost:6390/0)"]


async def test_telegram_out_of_reach_is_named_with_its_host_and_variable(tmp_path: Path) -> None:
    """A Bot API that cannot be reached is "cannot reach Telegram at HOST" with
    TELEGRAM_API_URL, not a refusal (Telegram never answered); exit 1."""
    port = closed_port()
    env = bot_env(config=config_with(tmp_path / "bot.yaml", [SAMPLE]), data_dir=tmp_path / "d",
                  token="123456:AAAAAAAAAAAAAAAAAAAAAAAA", api_root=f"http://127.0.0.1:{port}")
    result = await run_bot("once", env=env)
    assert result.code == 1
    assert "error: cannot reach Telegram at 127.0.0.1 (TELEGRAM_API_URL = " \
           f"http://127.0.0.1:{port})" in result.stderr
    assert "refused" not in result.stderr and "Traceback" not in result.stderr


async def test_check_reports_a_feed_whose_host_does_not_resolve(tmp_path: Path) -> None:
    """`check` fetches every feed: a host that does not resolve is a FAIL row for that feed
    (exit 1), the good feed beside it is ok."""
    env = bot_env(config=config_with(tmp_path / "bot.yaml", [SAMPLE, NO_HOST]),
                  data_dir=tmp_path / "d")
    result = await run_bot("check", env=env)
    assert result.code == 1, result.stdout
    rows = {line.split()[1]: line for line in result.stdout.splitlines()
            if line.startswith("feed ")}
    assert " ok " in rows[SAMPLE] and "4 items" in rows[SAMPLE]
    assert " FAIL " in rows[NO_HOST] and "no-such-host.invalid" in rows[NO_HOST]
    assert "all is well" not in result.stdout


async def test_once_exits_non_zero_when_every_feed_failed(tmp_path: Path) -> None:
    """`once` whose every feed failed exits 1 and says so; one good feed among them is 0."""
    env = bot_env(config=config_with(tmp_path / "bot.yaml", [NO_HOST]), data_dir=tmp_path / "d")
    result = await run_bot("once", env=env)
    assert result.code == 1
    assert any(r["level"] == "error" and r["message"].startswith("once: every feed failed")
               for r in records(result.stderr)), result.stderr
    env = bot_env(config=config_with(tmp_path / "two.yaml", [NO_HOST, SAMPLE]),
                  data_dir=tmp_path / "d2")
    assert (await run_bot("once", env=env)).code == 0


async def test_check_warns_when_an_arabic_feed_goes_to_an_english_channel(tmp_path: Path) -> None:
    """An Arabic feed sent to a `language: en` channel is a WARN row naming the channel and
    the key to set (a warning: `check` still exits 0)."""
    env = bot_env(config=config_with(tmp_path / "bot.yaml", [SAMPLE], language="en"),
                  data_dir=tmp_path / "d")
    result = await run_bot("check", env=env)
    assert result.code == 0, result.stdout
    (row,) = [line for line in result.stdout.splitlines() if "language of @nashir_demo" in line]
    assert " WARN " in row and "Arabic script" in row and "set language: ar" in row
