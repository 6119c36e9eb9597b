"""The composition root imports what the command needs: a dry-run `once` polls and writes its
posts without loading python-telegram-bot, httpx or the HTTP listener (together about 0.2 s of
start-up). Python's own import log (PYTHONPROFILEIMPORTTIME) of the real process says which
modules were loaded."""
from __future__ import annotations

import json
from pathlib import Path

from tests.fakes.feed_server import FeedItem, FeedServer
from tests.support import bot_env, run_bot, write_config

NOT_FOR_A_DRY_RUN = ("telegram", "httpx", "aiohttp.web", "prometheus_client")


def imported_modules(stderr: str) -> set[str]:
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines()
            if line.startswith("import time:") and line.count("|") == 2}


async def test_dry_run_once_never_loads_the_telegram_client(tmp_path: Path) -> None:
    async with FeedServer() as feeds:
        feeds.add_feed("/a.xml", title="مرصد", items=[FeedItem(
            guid="a-1", title="قراءة في تقرير الربع الثالث", link="https://example.org/a/1",
            summary_html="<p>ارتفعت النسبة إلى 28% في الربع الثالث.</p>")])
        config = write_config(tmp_path / "bot.yaml", {
            "channels": [{"chat": "@nashir_a"}],
            "feeds": [{"url": feeds.url("/a.xml"), "channels": ["@nashir_a"],
                       "first_run": "all"}]})
        env = bot_env(config=config, data_dir=tmp_path / "data",
                      extra={"PYTHONPROFILEIMPORTTIME": "1"})
        result = await run_bot("once", env=env)

    assert result.code == 0, result.stderr[-3000:]
    posts = (tmp_path / "data" / "preview" / "posts.jsonl").read_text(encoding="utf-8")
    assert [json.loads(line)["url"] for line in posts.splitlines()] == [
        "https://example.org/a/1"]
    modules = imported_modules(result.stderr)
    assert "aiohttp" in modules and "feedparser" in modules   # the log is read right
    loaded = sorted(m for m in modules
                    if any(m == top or m.startswith(top + ".") for top in NOT_FOR_A_DRY_RUN))
    assert loaded == []
