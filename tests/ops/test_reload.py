"""Config reload on SIGHUP: what changed is logged in one line, a bad file is refused and the
running config kept, and the poller picks up new feeds without dropping work."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from config.schema import parse_config
from model.article import feed_id_for
from ops.reload import Reloader, apply_to_poller, describe_changes
from store import keys
from tests.ops.conftest import wait_until
from tests.support import write_config

BASE = {
    "timezone": "Asia/Damascus",
    "owners": [111],
    "channels": [{"chat": "@nashir_a", "language": "ar"}, {"chat": "@nashir_b"}],
    "feeds": [
        {"url": "https://example.org/a.xml", "channels": ["@nashir_a"], "interval": "10m",
         "headers": {"Authorization": "Bearer very-secret-value"},
         "proxy": "http://user:proxy-secret@proxy.local:3128"},
        {"url": "https://example.org/b.xml", "channels": ["@nashir_b"]},
    ],
}


def changed(**patch: object) -> dict:
    data = {**BASE, **patch}
    return data


def test_no_changes_means_an_empty_list() -> None:
    """Identical configs differ in nothing."""
    assert describe_changes(parse_config(BASE), parse_config(BASE)) == []


def test_each_kind_of_change_is_one_line() -> None:
    """Top-level values, channels added/removed/changed and feeds added/removed/changed each
    give one readable line."""
    new = changed(
        timezone="UTC", owners=[111, 222],
        channels=[{"chat": "@nashir_a", "language": "en"}, {"chat": "@nashir_c"}],
        feeds=[{**BASE["feeds"][0], "interval": "5m", "channels": ["@nashir_a", "@nashir_c"]},
               {"url": "https://example.org/c.xml", "channels": [{"chat": "@nashir_c",
                                                                   "topic": 7}]}],
    )
    lines = describe_changes(parse_config(BASE), parse_config(new))
    assert lines == [
        "owners: [111] → [111, 222]",
        "timezone: Asia/Damascus → UTC",
        "channel removed: @nashir_b",
        "channel added: @nashir_c",
        "channel @nashir_a: language: ar → en",
        "feed removed: https://example.org/b.xml",
        "feed added: https://example.org/c.xml → [@nashir_c#7]",
        "feed https://example.org/a.xml: channels: [@nashir_a] → [@nashir_a, @nashir_c]",
        "feed https://example.org/a.xml: interval: 600 → 300",
    ]


def test_header_values_and_proxy_passwords_are_never_shown() -> None:
    """A changed header is named, not shown; a proxy's password is masked."""
    feed = {**BASE["feeds"][0], "headers": {"Authorization": "Bearer another-secret"},
            "proxy": "http://user:new-proxy-secret@proxy.local:3128"}
    lines = describe_changes(parse_config(BASE),
                             parse_config(changed(feeds=[feed, BASE["feeds"][1]])))
    text = "\n".join(lines)
    assert "feed https://example.org/a.xml: headers changed (Authorization)" in lines
    assert "secret" not in text
    assert "http://***@proxy.local:3128" in text


async def test_sighup_reloads_and_the_poller_schedules_new_feeds(
        tmp_path: Path, redis: aioredis.Redis, caplog: pytest.LogCaptureFixture) -> None:
    """On SIGHUP the file is re-read; the poller gets the new feed table, the new feed is due
    now and the removed one leaves the schedule; one log line lists the changes."""
    from pipeline.poller import Poller
    from store.redis_store import Store

    caplog.set_level(logging.INFO, logger="ops.reload")
    path = write_config(tmp_path / "bot.yaml", BASE)
    config = parse_config(BASE)
    poller = Poller(config, Store(redis), fetcher=None)  # type: ignore[arg-type]
    await poller.sync_schedule()
    reloader = Reloader(path, config)
    reloader.add(apply_to_poller(poller))
    reloader.install()
    try:
        new = changed(feeds=[BASE["feeds"][0], {"url": "https://example.org/c.xml",
                                                "channels": ["@nashir_b"]}])
        write_config(path, new)
        os.kill(os.getpid(), signal.SIGHUP)
        await wait_until(lambda: reloader.reloads == 1, what="the reload")
    finally:
        reloader.uninstall()
    due = dict(await redis.zrange(keys.feeds_due(), 0, -1, withscores=True))
    assert feed_id_for("https://example.org/c.xml") in due
    assert feed_id_for("https://example.org/b.xml") not in due
    assert set(poller.feeds) == {feed_id_for(f["url"]) for f in new["feeds"]}
    lines = [r.getMessage() for r in caplog.records if "config reloaded" in r.getMessage()]
    assert len(lines) == 1
    assert "feed removed: https://example.org/b.xml" in lines[0]
    assert "feed added: https://example.org/c.xml → [@nashir_b]" in lines[0]


async def test_a_bad_file_is_refused_and_the_running_config_kept(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A file that does not validate changes nothing; the log says which key is wrong."""
    caplog.set_level(logging.INFO, logger="ops.reload")
    path = write_config(tmp_path / "bot.yaml", BASE)
    applied: list[object] = []
    reloader = Reloader(path, parse_config(BASE))
    reloader.add(applied.append)
    write_config(path, changed(feeds=[{"url": "https://example.org/a.xml",
                                       "channels": ["@nowhere"]}]))
    assert await reloader.reload() is None
    assert applied == [] and reloader.config == parse_config(BASE)
    refused = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert refused and "feeds[0].channels" in refused[0].getMessage()


async def test_two_quick_reloads_apply_in_order(tmp_path: Path) -> None:
    """Two reloads at once run one after the other; the last file wins."""
    path = write_config(tmp_path / "bot.yaml", BASE)
    seen: list[str] = []

    async def slow_apply(config: object) -> None:
        await asyncio.sleep(0)
        seen.append(config.timezone)  # type: ignore[attr-defined]

    reloader = Reloader(path, parse_config(BASE))
    reloader.add(slow_apply)
    write_config(path, changed(timezone="UTC"))
    first = asyncio.create_task(reloader.reload())
    second = asyncio.create_task(reloader.reload())
    assert await first == ["timezone: Asia/Damascus → UTC"]
    assert await second == []
    assert seen == ["UTC"] and reloader.config.timezone == "UTC"


def test_commands_get_new_owners_editors_and_feeds() -> None:
    """The commands applier updates who is owner or editor, the registry's declared feeds and
    the publishing time zone of the bot's services."""
    from types import SimpleNamespace

    from ops.reload import apply_to_commands

    old, new = parse_config(BASE), parse_config(changed(owners=[111, 333], editors=[444],
                                                        timezone="UTC"))
    data = SimpleNamespace(config=old, allow_networks=(),
                           registry=SimpleNamespace(config=old),
                           roles=SimpleNamespace(owners=frozenset({111}),
                                                 config_editors=frozenset()),
                           publisher=SimpleNamespace(timezone="Asia/Damascus"))
    apply_to_commands(SimpleNamespace(bot_data=data))(new)
    assert data.config is new and data.registry.config is new
    assert data.roles.owners == {111, 333} and data.roles.config_editors == {444}
    assert data.publisher.timezone == "UTC"
