"""A feed added by command is checked on every poll, not only when it was added: once its
server starts redirecting inside the network, the next poll is refused before any request
reaches the target, the refusal is the feed's recorded error (on /feeds, the status page and
the metrics, one log line with the link), and the redirect is never stored. A feed written
in the config file stays trusted.

The tests' servers are on loopback: allow_networks lets the bot reach 127.0.0.1 only, and the
"internal" target is a second server on 127.0.0.2, which the allow-list does not cover."""
from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from config.schema import FeedConfig, FeedTarget
from feeds.fetcher import Fetcher, FetchLimits, make_session
from model.article import feed_id_for
from model.errors import FetchErrorKind
from ops.http import ReadinessProbes, start_http
from ops.metrics import Metrics
from ops.status_data import RedisStatusSource
from pipeline.poller import Poller
from store import keys
from store.redis_store import Store
from store.registry import RegistrySource
from tests.bot.conftest import EDITOR, NEWS_CHAT, WORLD_CHAT, Harness, button, plain
from tests.fakes.feed_server import FeedItem, FeedServer
from tests.ops.conftest import make_settings
from tests.support import bot_env, run_bot, write_config

ALLOWED = ["127.0.0.1/32"]


def items(count: int) -> list[FeedItem]:
    return [FeedItem(guid=f"g{n}", title=f"مقال رقم {n}", link=f"https://example.org/a/{n}",
                     published=datetime(2025, 9, n + 1, tzinfo=UTC)) for n in range(count, 0, -1)]


@pytest.fixture
async def internal() -> FeedServer:
    """A server standing for something inside the network (loopback, not allowed)."""
    async with FeedServer(host="127.0.0.2") as srv:
        srv.add_feed("/meta.xml", title="secret", items=items(1))
        srv.add_feed("/inside.xml", title="inside", items=items(1))
        yield srv


async def add_by_command(bot: Harness, path: str) -> str:
    """/addfeed the pages server's `path` and follow it; its URL."""
    bot.pages.add_feed(path, title="أخبار", items=items(2))
    url = bot.pages.url(path)
    [question] = await bot.say(EDITOR, f"/addfeed {url} {WORLD_CHAT}")
    await bot.press(EDITOR, question, button(question, "Post the newest"))
    await bot.wait_edit(question, "Following")
    return url


async def test_a_feed_added_by_command_that_turns_to_redirect_inside_is_refused_each_poll(
        start_bot, internal: FeedServer, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """First poll fine; then the feed 301s to 127.0.0.2 and another 302s to the metadata
    service: both refused on the next poll and the one after, no request reaches them, the
    301 is not stored, and the error shows on /feeds, the status page and /metrics, logged
    once per poll with the link. The declared feed redirecting to 127.0.0.2 is followed."""
    async with start_bot(allow_networks=ALLOWED) as bot:
        declared_url = bot.pages.url("/declared.xml")
        bot.pages.add_feed("/declared.xml", title="declared", items=items(1))
        # The file's feed, in the config the poller is given (as main.py gives it the file's).
        declared = FeedConfig(url=declared_url, channels=(FeedTarget(chat=NEWS_CHAT),))
        config = bot.config.model_copy(update={"feeds": (*bot.config.feeds, declared)})
        news = await add_by_command(bot, "/news.xml")
        meta = await add_by_command(bot, "/meta-redirect.xml")
        limits = FetchLimits(total_timeout=10, read_timeout=5, connect_timeout=5)
        metrics = Metrics(process_metrics=False)
        async with make_session(limits) as session:
            poller = Poller(config, Store(bot.redis), Fetcher(session, limits),
                            config_source=RegistrySource(bot.redis), on_poll=metrics.record_poll)
            first = {o.feed_url: o for o in await poller.poll_all()}
            assert {u: o.status for u, o in first.items()} == {
                declared_url: "new", news: "new", meta: "new"}

            target = internal.url("/meta.xml")
            bot.pages.redirect("/news.xml", target, 301)
            bot.pages.redirect("/meta-redirect.xml",
                               "http://169.254.169.254/latest/meta-data/", 302)
            bot.pages.redirect("/declared.xml", internal.url("/inside.xml"), 301)
            for attempt in (1, 2):
                caplog.clear()
                with caplog.at_level(logging.WARNING, logger="pipeline.poller"):
                    outcomes = {o.feed_url: o for o in await poller.poll_all()}
                refused = outcomes[news]
                assert refused.status == "error"
                assert refused.error_kind == FetchErrorKind.BLOCKED_ADDRESS
                assert f"the feed redirected to {target}" in refused.error
                assert "loopback" in refused.error
                metadata = outcomes[meta]
                assert metadata.error_kind == FetchErrorKind.BLOCKED_ADDRESS
                assert "169.254.169.254" in metadata.error and "link-local" in metadata.error
                assert outcomes[declared_url].status in ("new", "unchanged")
                assert internal.hits("/meta.xml") == 0      # nothing reached the target
                assert internal.hits("/inside.xml") == attempt  # the file's feed is trusted
                failures = [r for r in caplog.records if "feed poll failed" in r.getMessage()]
                assert sorted(getattr(r, "feed", "") for r in failures) == sorted([news, meta])
                assert sum(target in r.getMessage() for r in failures) == 1

        state = await bot.redis.hgetall(keys.feed_state(feed_id_for(news)))
        assert state.get("current_url", "") in ("", news)    # the 301 was never stored
        assert target in state["last_error"]

        [feeds] = await bot.say(EDITOR, "/feeds", lang="en")
        assert f"last error: the feed redirected to {target}" in plain(feeds.html)

        status = RedisStatusSource(bot.redis, config, dry_run=True)
        server = await start_http(make_settings(tmp_path),
                                  ReadinessProbes.for_clients(bot.redis, None), metrics, status)
        try:
            async with aiohttp.ClientSession() as client:
                async with client.get(server.url + "/") as answer:
                    page = await answer.text()
                async with client.get(server.url + "/metrics") as answer:
                    exposition = await answer.text()
        finally:
            await server.stop()
        assert f"the feed redirected to {target}" in page
        assert 'nashir_feed_poll_errors_total{kind="blocked_address"} 4.0' in exposition


async def test_once_refuses_an_imported_feed_that_redirects_inside(
        tmp_path: Path, internal: FeedServer) -> None:
    """The real process: a feed imported from OPML by the CLI, then redirected to 127.0.0.2,
    is refused by `once` with one log line naming the feed and where it led; the target gets
    no request; the file's own feed is polled."""
    async with FeedServer() as server:
        server.add_feed("/file.xml", title="file", items=items(1))
        server.add_feed("/imported.xml", title="imported", items=items(1))
        path = tmp_path / "feeds.opml"
        path.write_text(f'<?xml version="1.0"?><opml version="2.0"><head/><body><outline '
                        f'type="rss" text="x" xmlUrl="{server.url("/imported.xml")}"/>'
                        "</body></opml>", encoding="utf-8")
        config = write_config(tmp_path / "bot.yaml", {
            "timezone": "Asia/Damascus", "allow_networks": ALLOWED,
            "channels": [{"chat": "@nashir_a"}],
            "feeds": [{"url": server.url("/file.xml"), "channels": ["@nashir_a"]}]})
        env = bot_env(config=config, data_dir=tmp_path / "data")
        imported = await run_bot("import-opml", str(path), "--channel", "@nashir_a", env=env)
        assert imported.code == 0, imported.stderr[-2000:]
        target = internal.url("/meta.xml")
        server.redirect("/imported.xml", target, 301)
        result = await run_bot("once", env=env)
    assert internal.hits("/meta.xml") == 0
    assert server.hits("/file.xml") == 1
    lines = [line for line in result.stderr.splitlines()
             if "feed poll failed" in line and server.url("/imported.xml") in line]
    assert len(lines) == 1 and f"the feed redirected to {target}" in lines[0], result.stderr
    assert result.code == 0, result.stderr[-2000:]   # one feed of two failed: not all
