"""`check`: one line per problem, then a table of every check, fine or not."""
from __future__ import annotations

import io
import socket
from pathlib import Path

import pytest

from config.schema import parse_config
from ops.checks import FAIL, OK, WARN, CheckReport, check_report, print_report
from sandbox.telegram_api import FakeTelegram
from tests.ops.conftest import make_settings

BOT_TOKEN = "111:TheRealTokenOfTheBot"


def config_with(*chats: str):  # type: ignore[no-untyped-def]
    return parse_config({"channels": [{"chat": chat} for chat in chats]})


def results(report: CheckReport) -> dict[str, str]:
    return {row.what: row.result for row in report.rows}


async def test_dry_run_check_passes_with_a_table(tmp_path: Path, redis_url: str) -> None:
    """In dry-run with a reachable Redis every row is fine and the table ends 'all is well'."""
    settings = make_settings(tmp_path)
    report = await check_report(settings, config_with("@nashir_a"), redis_url)
    assert report.ok and report.problems == []
    rows = results(report)
    assert rows["config"] == OK and rows["redis"] == OK and rows["telegram"] == OK
    assert rows["data dir"] == OK and rows["channel @nashir_a"] == OK
    out = io.StringIO()
    print_report(report, out)
    text = out.getvalue()
    assert text.splitlines()[0].split() == ["check", "result", "detail"]
    assert text.rstrip().endswith("all is well")


async def test_live_check_lists_each_problem_once_then_the_table(tmp_path: Path,
                                                                 redis_url: str) -> None:
    """Against the fake Bot API: a channel where the bot is no administrator is one problem
    line and a FAIL row; the good channel is an ok row."""
    async with FakeTelegram(token=BOT_TOKEN) as telegram:
        telegram.add_chat(-1001000000001, "channel", username="good_channel")
        telegram.add_chat(-1001000000002, "channel", username="not_admin", bot_status="member")
        settings = make_settings(tmp_path, token=BOT_TOKEN, api_url=telegram.api_root)
        report = await check_report(settings, config_with("@good_channel", "@not_admin"),
                                    redis_url, progress_stream=io.StringIO())
    rows = results(report)
    assert rows["telegram"] == OK
    assert rows["channel @good_channel"] == OK
    assert rows["channel @not_admin"] == FAIL
    assert report.problems == ["channel @not_admin: the bot is not an administrator allowed to "
                               "post messages"]
    out = io.StringIO()
    print_report(report, out)
    lines = out.getvalue().splitlines()
    assert lines[0] == report.problems[0]
    assert any(line.startswith("channel @not_admin") and " FAIL " in line for line in lines)
    assert lines[-1] == "1 problem"


async def test_unreachable_redis_is_a_problem(tmp_path: Path) -> None:
    """A Redis that refuses connections is a FAIL naming the address (password masked)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"redis://user:hunter2secret@127.0.0.1:{port}/0"
    settings = make_settings(tmp_path, redis_url=url)
    report = await check_report(settings, config_with("@nashir_a"), url)
    assert results(report)["redis"] == FAIL
    assert any(f"redis://***@127.0.0.1:{port}/0" in p for p in report.problems)
    assert "hunter2secret" not in report.table()


async def test_redis_advice_on_persistence_and_eviction(tmp_path: Path, redis_url: str) -> None:
    """The test Redis (append-only, noeviction) passes the advice rows; a server that evicts
    gets a warning, which is not a problem."""
    from ops.checks import _redis_advice

    settings = make_settings(tmp_path)
    report = await check_report(settings, config_with("@nashir_a"), redis_url)
    assert results(report).get("redis memory") in (OK, WARN)
    advice = CheckReport()
    _redis_advice({"maxmemory_policy": "allkeys-lru", "aof_enabled": 0}, advice)
    assert results(advice) == {"redis memory": WARN, "redis persistence": WARN}
    assert advice.ok and "2 warnings" in advice.table()


def test_unwritable_data_dir_is_a_problem(tmp_path: Path) -> None:
    """A data dir the bot cannot write (a volume owned by another user) is a FAIL."""
    import os
    from dataclasses import replace

    from ops.checks import _check_data_dir

    if os.geteuid() == 0:  # root writes anywhere: a file in the way stands in for the volume
        blocker = tmp_path / "file"
        blocker.write_text("not a folder")
        settings = replace(make_settings(tmp_path), data_dir=blocker / "data")
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        settings = replace(make_settings(tmp_path), data_dir=locked / "data")
    report = CheckReport()
    _check_data_dir(settings, report)
    assert results(report) == {"data dir": FAIL}


@pytest.mark.parametrize("rows, verdict", [
    ([], "all is well"),
    ([("a", FAIL, "x"), ("b", FAIL, "y"), ("c", WARN, "z")], "2 problems (1 warning)"),
])
def test_table_verdict(rows: list[tuple[str, str, str]], verdict: str) -> None:
    """The table's last line sums the problems and warnings."""
    report = CheckReport()
    for row in rows:
        report.add(*row)
    assert report.table().splitlines()[-1] == verdict


async def test_one_chat_listed_by_name_and_by_id_is_a_problem(tmp_path: Path,
                                                              redis_url: str) -> None:
    """@name and the numeric id of the same channel are one chat; listed as two channels it
    would get every post twice, so check names both and fails."""
    async with FakeTelegram(token=BOT_TOKEN) as telegram:
        telegram.add_chat(-1001000000001, "channel", username="levant")
        telegram.add_chat(-1001000000002, "channel", username="gulf")
        settings = make_settings(tmp_path, token=BOT_TOKEN, api_url=telegram.api_root)
        report = await check_report(
            settings, config_with("@levant", "-1001000000001", "@gulf"), redis_url,
            progress_stream=io.StringIO())
    rows = results(report)
    assert rows["channel @levant"] == OK and rows["channel -1001000000001"] == OK
    assert rows["channels @levant and -1001000000001"] == FAIL
    assert not any("@gulf and" in what or "and @gulf" in what for what in rows)
    assert not report.ok
    assert report.problems == ["channels @levant and -1001000000001: these are one chat "
                               "(-1001000000001); it would get every post once per name: "
                               "list it once"]
