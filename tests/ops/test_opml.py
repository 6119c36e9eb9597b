"""OPML in and out: parsing real-world shapes, the round trip, and imported feeds landing in
the same registry /addfeed uses."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from config.schema import parse_config
from ops.opml import (
    OpmlError,
    cmd_export_opml,
    cmd_import_opml,
    export_opml,
    import_opml,
    parse_opml,
    store_imported,
)

READER_EXPORT = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
  <head><title>My subscriptions</title></head>
  <body>
    <outline text="تحليلات" title="تحليلات">
      <outline type="rss" text="مرصد" title="مرصد" xmlUrl="https://example.org/ar/feed.xml"
               htmlUrl="https://example.org/ar/"/>
      <outline type="rss" text="Weekly" xmlUrl="feed://example.net/weekly.xml"/>
    </outline>
    <outline type="rss" text="Duplicate" xmlUrl="https://example.org/ar/feed.xml"/>
    <outline type="link" text="A web page" url="https://example.com/page"/>
    <outline type="rss" text="FTP" xmlUrl="ftp://example.com/feed.xml"/>
    <outline text="no url at all"/>
  </body>
</opml>
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feeds.opml"
    path.write_text(text, encoding="utf-8")
    return path


def test_parse_reads_nested_outlines_once_per_url() -> None:
    """Outlines with xmlUrl at any depth are read once each, feed:// becomes https://, and the
    folder names travel as categories."""
    found = parse_opml(READER_EXPORT)
    assert [f["url"] for f in found] == ["https://example.org/ar/feed.xml",
                                         "https://example.net/weekly.xml",
                                         "ftp://example.com/feed.xml"]
    assert found[0]["title"] == "مرصد" and found[0]["categories"] == ["تحليلات"]


def test_import_keeps_what_the_config_would_accept(tmp_path: Path) -> None:
    """import_opml gives FeedConfig-like dicts for the channel, starting with first_run none,
    and leaves out URLs the config refuses."""
    feeds = import_opml(write(tmp_path, READER_EXPORT), "@nashir_a")
    assert [f["url"] for f in feeds] == ["https://example.org/ar/feed.xml",
                                         "https://example.net/weekly.xml"]
    assert all(f["channels"] == ["@nashir_a"] and f["first_run"] == "none" for f in feeds)


@pytest.mark.parametrize("text, message", [
    ("not xml at all", "not valid XML"),
    ("<rss><channel/></rss>", "not <opml>"),
    ('<opml version="2.0"><head/></opml>', "no <body>"),
    ('<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
     '<opml><body><outline xmlUrl="&x;"/></body></opml>', "refused"),
])
def test_bad_files_are_refused_with_a_reason(text: str, message: str) -> None:
    """Non-OPML and entity tricks are refused with a message for the operator."""
    with pytest.raises(OpmlError, match=message):
        parse_opml(text)


def test_export_then_import_round_trips(tmp_path: Path) -> None:
    """Exported OPML 2.0 imports back to the same feeds, titles (Arabic included) and the
    channels in each feed's category."""
    feeds = [
        {"url": "https://example.org/ar/feed.xml", "title": "مرصد & تحليلات",
         "channels": ["@nashir_a", "-1001000000002"]},
        {"url": "https://example.net/weekly.xml?x=1&y=2", "title": "",
         "channels": [{"chat": "@nashir_a", "topic": 4}]},
    ]
    text = export_opml(feeds, now=0)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">')
    assert "<dateCreated>Thu, 01 Jan 1970 00:00:00 GMT</dateCreated>" in text
    parsed = parse_opml(text)
    assert [p["url"] for p in parsed] == [f["url"] for f in feeds]
    assert parsed[0]["title"] == "مرصد & تحليلات"
    assert parsed[0]["categories"] == ["@nashir_a", "-1001000000002"]
    assert parsed[1]["title"] == feeds[1]["url"]
    imported = import_opml(write(tmp_path, text), "@nashir_b")
    assert [f["url"] for f in imported] == [f["url"] for f in feeds]


async def test_imported_feeds_land_in_the_command_registry(redis: aioredis.Redis) -> None:
    """store_imported adds feeds where /addfeed does, so the effective config (what the poller
    polls) includes them; feeds already polled are not added twice."""
    from store.registry import effective_config, registered_feeds

    config = parse_config({"channels": [{"chat": "@nashir_a"}],
                           "feeds": [{"url": "https://example.org/ar/feed.xml",
                                      "channels": ["@nashir_a"]}]})
    feeds = [{"url": "https://example.org/ar/feed.xml", "channels": ["@nashir_a"],
              "first_run": "none", "title": "مرصد"},
             {"url": "https://example.net/weekly.xml", "channels": ["@nashir_a"],
              "first_run": "none", "title": "Weekly"}]
    result = await store_imported(redis, config, feeds)
    assert result.added == ["https://example.net/weekly.xml"]
    assert result.already == ["https://example.org/ar/feed.xml"]
    again = await store_imported(redis, config, feeds)
    assert again.added == [] and len(again.already) == 2
    registered = await registered_feeds(redis)
    assert [(r.feed.url, r.title, r.feed.first_run) for r in registered] == [
        ("https://example.net/weekly.xml", "Weekly", "none")]
    effective = await effective_config(redis, config)
    assert {f.url for f in effective.feeds} == {"https://example.org/ar/feed.xml",
                                                "https://example.net/weekly.xml"}


async def test_the_commands_import_and_export(tmp_path: Path, redis: aioredis.Redis,
                                             redis_url: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """import-opml refuses an unknown channel, imports into a declared one and reports counts
    (the ftp:// outline refused, named on stderr, exit 1); export-opml then lists declared and
    imported feeds."""
    config = parse_config({"channels": [{"chat": "@nashir_a"}],
                           "feeds": [{"url": "https://example.org/declared.xml",
                                      "channels": ["@nashir_a"]}]})
    path = write(tmp_path, READER_EXPORT)
    assert await cmd_import_opml(config, redis_url, str(path), "@unknown_channel") == 1
    assert "not a configured channel" in capsys.readouterr().err
    assert await cmd_import_opml(config, redis_url, str(path), "@nashir_a") == 1
    output = capsys.readouterr()
    assert "2 feeds added to @nashir_a, 0 already there, 1 refused" in output.out
    assert "refused: ftp://example.com/feed.xml: only http:// and https://" in output.err
    out = io.StringIO()
    assert await cmd_export_opml(config, redis_url, out) == 0
    urls = [f["url"] for f in parse_opml(out.getvalue())]
    assert urls == ["https://example.org/declared.xml", "https://example.org/ar/feed.xml",
                    "https://example.net/weekly.xml"]
