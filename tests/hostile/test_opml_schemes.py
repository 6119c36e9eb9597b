"""OPML files come from elsewhere: an outline that is not an http(s) feed (`file:`, `ftp:`,
`data:`…), or whose credentials an export masked, is refused by name with its reason, by the
CLI import and by the bot's; a `file:` feed already in the registry is never polled."""
from __future__ import annotations

import asyncio
import html
import sys
import time
from pathlib import Path

import redis.asyncio as aioredis

from config.schema import FeedConfig, FeedTarget
from model.article import feed_id_for
from store import keys
from store.registry import RegisteredFeed, dynamic_feeds
from tests.bot.conftest import EDITOR, NEWS_CHAT, plain
from tests.fakes.feed_server import FeedItem, FeedServer
from tests.support import REPO, bot_env, run_bot, write_config

HOSTILE = ["file:///dev/stdin", "file:/etc/passwd", "ftp://example.org/feed.xml",
           "data:text/xml,<rss/>", "javascript:alert(1)", "gopher://example.org/1",
           "https://***@example.org/private.xml", "https://example.org/f.xml?apikey=***"]


def opml(*urls: str) -> bytes:
    outlines = "".join(f'<outline type="rss" text="f{n}" xmlUrl="{html.escape(u)}"/>'
                       for n, u in enumerate(urls))
    return (f'<?xml version="1.0"?><opml version="2.0"><head><title>x</title></head>'
            f"<body>{outlines}</body></opml>").encode()


async def test_the_cli_import_refuses_each_hostile_outline(tmp_path: Path) -> None:
    """import-opml adds the web feed and names every other outline on stderr with why; the
    exit code says not everything was imported."""
    async with FeedServer() as server:
        server.add_feed("/ok.xml", items=[FeedItem(guid="1", title="a")])
        good = server.url("/ok.xml")
        path = tmp_path / "feeds.opml"
        path.write_bytes(opml(good, *HOSTILE))
        config = write_config(tmp_path / "bot.yaml", {
            "timezone": "Asia/Damascus", "channels": [{"chat": "@nashir_a"}], "feeds": []})
        env = bot_env(config=config, data_dir=tmp_path / "data")
        result = await run_bot("import-opml", str(path), "--channel", "@nashir_a", env=env)
        assert result.code == 1, result.stderr[-2000:]
        assert "1 feeds added to @nashir_a, 0 already there, 8 refused" in result.stdout
        refused = [line for line in result.stderr.splitlines() if line.startswith("refused: ")]
        assert len(refused) == 8
        for url, line in zip(HOSTILE[:6], refused[:6], strict=True):
            assert line == f"refused: {url}: only http:// and https:// feeds are imported"
        assert all("masked (***) by an export" in line for line in refused[6:])
        exported = await run_bot("export-opml", "--with-secrets", env=env)
        assert good in exported.stdout and "file:" not in exported.stdout


async def test_a_file_feed_left_in_the_registry_is_never_polled(
        tmp_path: Path, redis: aioredis.Redis, redis_url: str) -> None:
    """A `file:///dev/stdin` feed written to the registry by an older import: `once` skips it
    with a log line and finishes, although its stdin stays open and empty."""
    feed = FeedConfig(url="file:///dev/stdin", channels=(FeedTarget(chat="@nashir_a"),))
    record = RegisteredFeed(feed, "stdin", 1, time.time())
    await redis.hset(keys.bot_feeds(), feed_id_for(feed.url), record.to_json())
    assert await dynamic_feeds(redis) == []
    config = write_config(tmp_path / "bot.yaml", {
        "timezone": "Asia/Damascus", "channels": [{"chat": "@nashir_a"}], "feeds": []})
    env = bot_env(config=config, data_dir=tmp_path / "data", redis_url=redis_url)
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(REPO / "main.py"), "once", cwd=str(REPO), env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert "registered feed file:///dev/stdin ignored: not an http(s) address" in stderr.decode()


async def test_the_bot_import_names_each_refused_outline(bot):
    """An editor's OPML file with hostile outlines: the web feed is added, each other outline
    is listed in the final message with its reason, and none reaches the registry."""
    bot.pages.add_feed("/ok.xml", title="One", items=[FeedItem(guid="1", title="a")])
    good = bot.pages.url("/ok.xml")
    before = len(bot.tg.messages_to(EDITOR))
    bot.tg.inject_document(EDITOR, "feeds.opml", opml(good, *HOSTILE[:6], HOSTILE[7]),
                           "text/x-opml", caption=NEWS_CHAT, language_code="en")
    [progress] = await bot.tg.wait_for(lambda: bot.tg.messages_to(EDITOR)[before:] or None)
    final = plain((await bot.wait_edit(progress, "Import finished")).html)
    assert "1 added, 0 already followed, 7 failed" in final
    for url in HOSTILE[:6]:
        assert f"• {url}: not a web address" in final
    assert "• https://example.org/f.xml?apikey=***: its password or key was masked" in final
    assert [f.url for f in await dynamic_feeds(bot.redis)] == [good]
