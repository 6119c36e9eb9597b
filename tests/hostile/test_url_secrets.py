"""Credentials in feed addresses (`user:pw@`, `?apikey=`, `token=`, `sig=`…) are never shown:
not in the bot's replies, buttons, audit or OPML export, not in the logs, the status page or
the owners' notices; the bot still fetches with the real address. Only the operator's
`export-opml --with-secrets` writes them out."""
from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from bot.opml import parse_opml
from config.schema import parse_config
from feeds.schedule import HealthEvent
from guards.urls import display_url, has_masked_secret, mask_urls_in_text
from model.article import feed_id_for
from ops.http import ReadinessProbes, start_http
from ops.metrics import Metrics
from ops.notices import HealthNotifier
from ops.status_data import RedisStatusSource
from store import keys
from store.redis_store import Store
from tests.bot.conftest import EDITOR, NEWS_CHAT, OWNER, STRANGER, button, plain
from tests.fakes.feed_server import FeedItem, FeedServer
from tests.ops.conftest import make_settings
from tests.support import bot_env, run_bot, write_config

USER_PW, API_KEY, TOKEN_Q = "pw-Zq81xK", "KEY-77aa99bb", "tok-0c0ffee"


def secret_url(server: FeedServer, path: str = "/s.xml") -> str:
    plain_url = server.url(path)
    scheme, rest = plain_url.split("://", 1)
    return f"{scheme}://reader:{USER_PW}@{rest}?apikey={API_KEY}&page=1&access_token={TOKEN_Q}"


def leaks(text: Any) -> list[str]:
    text = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False, default=str)
    return [s for s in (USER_PW, API_KEY, TOKEN_Q) if s in text]


@pytest.mark.parametrize(("url", "shown"), [
    ("https://user:pw@host/feed", "https://***@host/feed"),
    ("https://host/f?apikey=abc&x=1", "https://host/f?apikey=***&x=1"),
    ("https://h/?token=t;key=k&page=2", "https://h/?token=***;key=***&page=2"),
    ("https://h/?secret=s&password=p&sig=9", "https://h/?secret=***&password=***&sig=***"),
    ("https://h/?api_key=1&accessToken=2&client_secret=3&X-Amz-Signature=4",
     "https://h/?api_key=***&accessToken=***&client_secret=***&X-Amz-Signature=***"),
    ("https://h/#access_token=zz", "https://h/#access_token=***"),
    ("https://h/?monkey=1&keyword=x&q=a%3Db", "https://h/?monkey=1&keyword=x&q=a%3Db"),
    ("https://medium.com/@writer/post?sig=", "https://medium.com/@writer/post?sig="),
])
def test_display_url(url: str, shown: str) -> None:
    """display_url masks user:password and credential parameters and nothing else."""
    assert display_url(url) == shown
    assert has_masked_secret(shown) == (shown != url)


def test_urls_inside_text_are_masked_up_to_the_sentence() -> None:
    """In free text every URL is masked, and closing punctuation stays the sentence's."""
    assert mask_urls_in_text("GET https://u:p@h/x?token=abc failed (https://h/?sig=1).") == \
        "GET https://***@h/x?token=*** failed (https://h/?sig=***)."


async def test_the_bot_never_shows_a_feeds_credentials(bot):
    """/addfeed, its buttons, /feeds, /pause, /status (audit), /subscribe and /feeds export all
    show the address masked, while the feed was fetched with the password and the key."""
    bot.pages.add_feed("/s.xml", title="", items=[FeedItem(guid="1", title="مقال")])
    url = secret_url(bot.pages)
    [question] = await bot.say(EDITOR, f"/addfeed {url} {NEWS_CHAT}", lang="en")
    assert "apikey=***" in plain(question.html) and "***@" in plain(question.html)
    await bot.press(EDITOR, question, button(question, "Nothing"))
    await bot.wait_edit(question, "Following")
    fetched = bot.pages.requests_for("/s.xml")
    assert fetched and API_KEY in fetched[0].path and TOKEN_Q in fetched[0].path
    credentials = base64.b64encode(f"reader:{USER_PW}".encode()).decode()
    assert fetched[0].headers.get("Authorization") == f"Basic {credentials}"

    [listing] = await bot.say(EDITOR, "/feeds", lang="en")
    assert "apikey=***" in plain(listing.html)
    await bot.say(EDITOR, f"/pause {url}", lang="en")
    [status] = await bot.say(EDITOR, "/status", lang="en")
    assert "feed.pause" in plain(status.html)
    [offer] = await bot.say(STRANGER, "/subscribe")
    [document] = await bot.say(EDITOR, "/feeds export", lang="en")
    [(exported, _)] = parse_opml(document.document)
    assert exported == display_url(url) and has_masked_secret(exported)
    for entry in await bot.app.bot_data.audit.latest(10):
        assert leaks(entry.detail) == []
    for message in bot.tg.messages:
        assert leaks(message.html or "") == [] and leaks(message.text or "") == []
        assert leaks(message.reply_markup or {}) == []
        if isinstance(message.document, bytes):
            assert leaks(message.document.decode()) == []
    assert leaks(bot.tg.callback_answers) == []
    assert offer is not None


async def test_logs_mask_credentials_and_the_cli_export_keeps_them_only_on_request(
        tmp_path: Path) -> None:
    """`once` on a config feed with credentials that fails: the log names the feed masked; the
    server got the real address. `export-opml` masks; `export-opml --with-secrets` does not."""
    async with FeedServer() as server:
        server.set_response("/s.xml", status=503, body="down")
        url = secret_url(server)
        config = write_config(tmp_path / "bot.yaml", {
            "timezone": "Asia/Damascus", "channels": [{"chat": "@nashir_a"}],
            "feeds": [{"url": url, "channels": ["@nashir_a"]}]})
        env = bot_env(config=config, data_dir=tmp_path / "data")
        once = await run_bot("once", env=env)
        assert once.code == 1, once.stderr[-2000:]  # its only feed failed
        assert server.requests_for("/s.xml") and API_KEY in server.requests_for("/s.xml")[0].path
        logs = once.stdout + once.stderr
        assert "apikey=***" in logs and leaks(logs) == [], logs[-3000:]

        masked = await run_bot("export-opml", env=env)
        assert masked.code == 0 and leaks(masked.stdout) == []
        assert [u for u, _ in parse_opml(masked.stdout.encode())] == [display_url(url)]
        full = await run_bot("export-opml", "--with-secrets", env=env)
        assert full.code == 0
        assert [u for u, _ in parse_opml(full.stdout.encode())] == [url]


async def test_status_page_and_notices_mask_credentials(
        tmp_path: Path, redis: aioredis.Redis) -> None:
    """The open status page (GET / on the HTTP listener) and the owners' notice of a broken
    feed show the address and an error quoting it masked."""
    url = "https://reader:pw-Zq81xK@feeds.example.org/s.xml?apikey=KEY-77aa99bb"
    config = parse_config({"timezone": "Asia/Damascus", "owners": [OWNER],
                           "channels": [{"chat": "@nashir_a"}],
                           "feeds": [{"url": url, "channels": ["@nashir_a"]}]})
    error = f"GET {url}&access_token={TOKEN_Q} answered 503"
    await redis.hset(keys.feed_state(feed_id_for(url)), mapping={
        "failures": 2, "last_error": f"GET {url} answered 503", "last_poll": time.time()})
    source = RedisStatusSource(redis, config, dry_run=True)
    server = await start_http(make_settings(tmp_path), ReadinessProbes.for_clients(redis, None),
                              Metrics(), source)
    try:
        async with aiohttp.ClientSession() as session, session.get(server.url + "/") as answer:
            page = await answer.text()
    finally:
        await server.stop()
    assert answer.status == 200 and "apikey=***" in page and leaks(page) == []

    await HealthNotifier(config, Store(redis))(config.feeds[0], HealthEvent.BROKEN, error)
    entries = await redis.xrange(keys.deliveries())
    assert entries and leaks(entries) == []
    assert "apikey=***" in json.dumps(entries, ensure_ascii=False)
