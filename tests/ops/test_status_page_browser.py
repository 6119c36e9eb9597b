"""The status page as headless Chromium renders it: Arabic posts right to left, English ones
left to right, the chart drawn, nothing wider than the window, no secret in the text."""
from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis

from ops.http import ReadinessProbes, start_http
from ops.metrics import Metrics
from ops.status_data import RedisStatusSource
from store import keys
from tests.ops.chromium import Browser, chromium_path
from tests.ops.conftest import TOKEN, make_settings, sample_config, seed_status

pytestmark = pytest.mark.chromium

CHECKS = """(() => {
  const lines = [...document.querySelectorAll('#posts .post p')];
  const dir = p => getComputedStyle(p).direction;
  const arabic = lines.filter(p => /[\\u0600-\\u06FF]/.test(p.textContent.trim()[0] || ''));
  const latin = lines.filter(p => /^[A-Za-z]/.test(p.textContent.trim()));
  const bars = [...document.querySelectorAll('#chart rect.bar')];
  const chart = document.querySelector('#chart svg').getBoundingClientRect();
  return {
    arabic: arabic.map(dir), latin: latin.map(dir),
    arabicAlignedRight: arabic.every(p => {
      const r = document.createRange(); r.selectNodeContents(p);
      const text = r.getBoundingClientRect(), box = p.getBoundingClientRect();
      return Math.abs(box.right - text.right) < Math.abs(box.left - text.left);
    }),
    bars: bars.length, tallBars: bars.filter(b => b.getBBox().height > 0).length,
    chartWidth: chart.width, chartHeight: chart.height,
    overflow: document.documentElement.scrollWidth > window.innerWidth + 1,
    feeds: document.querySelectorAll('#feeds tbody tr').length,
    badges: [...document.querySelectorAll('#feeds .badge')].map(b => b.textContent),
    channels: document.querySelectorAll('#channels tbody tr').length,
    text: document.body.innerText,
  };
})()"""


async def test_status_page_renders_in_chromium(tmp_path: Path, redis: aioredis.Redis,
                                               http_started: list[Any], artifacts: Path) -> None:
    """In headless Chromium every Arabic line of a post reads right to left and every English
    one left to right, the chart has 24 bars with the posted hours drawn, tables list the feeds
    and channels, the page fits the window, and the token shows nowhere; a screenshot is kept in
    tests/artifacts/status_page.png."""
    binary = chromium_path()
    if binary is None:
        pytest.skip("Chromium is not installed: apt-get install chromium (.ci/run installs it)")
    now = time.time()
    await seed_status(redis, now, secret_error=f"failed at /bot{TOKEN}/getMe")
    source = RedisStatusSource(redis, sample_config(), dry_run=False)
    server = await start_http(make_settings(tmp_path, token=TOKEN),
                              ReadinessProbes.for_clients(redis, None), Metrics(), source)
    http_started.append(server)

    async with Browser(binary, width=1280, height=1400) as browser:
        await browser.open(server.url + "/")
        found = await browser.evaluate(CHECKS)
        await browser.screenshot(artifacts / "status_page.png")
        await browser.call("Emulation.setDeviceMetricsOverride", width=420, height=900,
                           deviceScaleFactor=1, mobile=True)
        await browser.open(server.url + "/")
        narrow = await browser.evaluate(CHECKS)
        await browser.screenshot(artifacts / "status_page_narrow.png")

    assert found["arabic"] and set(found["arabic"]) == {"rtl"}, found["arabic"]
    assert found["latin"] and set(found["latin"]) == {"ltr"}, found["latin"]
    assert found["arabicAlignedRight"]
    assert found["bars"] == 24 and found["tallBars"] >= 2
    assert found["chartWidth"] > 300 and found["chartHeight"] > 50
    assert found["feeds"] == 3 and found["channels"] == 2
    assert sorted(found["badges"]) == ["failing", "new", "ok"]
    assert not found["overflow"]
    assert TOKEN not in found["text"] and TOKEN.split(":")[1] not in found["text"]
    assert "مرصد التحليلات" in found["text"]
    assert set(narrow["arabic"]) == {"rtl"} and narrow["bars"] == 24
    assert not narrow["overflow"]


PHONE = """(() => {
  const inside = el => { const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && r.left >= -1 && r.right <= window.innerWidth + 1; };
  const rows = [...document.querySelectorAll('#feeds tbody tr')];
  const cell = (tr, label) => tr.querySelector(`td[data-label="${label}"]`);
  const labels = ['feed', 'health', 'last poll', 'next poll', 'channels', 'last error'];
  return {
    width: window.innerWidth,
    overflow: document.documentElement.scrollWidth > window.innerWidth + 1,
    headHidden: getComputedStyle(document.querySelector('#feeds thead')).display === 'none',
    rows: rows.map(tr => Object.fromEntries(
      labels.map(l => [l, !!cell(tr, l) && inside(cell(tr, l))]))),
    label: getComputedStyle(cell(rows[0], 'last poll'), '::before').content,
    channelCells: [...document.querySelectorAll('#channels td[data-label="last post"]')]
      .map(inside),
    errorText: rows.map(tr => cell(tr, 'last error').innerText.trim()).filter(t => t),
    gaps: [...document.querySelectorAll('#posts .post p.gap')]
      .map(p => p.getBoundingClientRect().height),
    times: [...document.querySelectorAll('#posts .post .time')].map(t => t.innerText.trim()),
  };
})()"""


async def test_status_page_at_phone_width_stacks_every_column(
        tmp_path: Path, redis: aioredis.Redis, http_started: list[Any], artifacts: Path) -> None:
    """At 390 px (a phone) every feed row shows its last poll, next poll, channels and last
    error inside the screen as labelled lines (no column scrolled away, nothing wider than
    the window); post cards keep their blank lines and show the time in the config's zone with
    its name; a screenshot is kept in tests/artifacts/status_page_phone.png."""
    binary = chromium_path()
    if binary is None:
        pytest.skip("Chromium is not installed: apt-get install chromium (.ci/run installs it)")
    now = time.time()
    await seed_status(redis, now)
    await redis.lpush(keys.posts_log(), json.dumps(
        {"chat": "@nashir_a", "time": now - 30, "url": "https://example.org/gap",
         "html": "<b>عنوان</b>\nالخميس\n\nفقرة أولى.\n\nفقرة ثانية."}, ensure_ascii=False))
    source = RedisStatusSource(redis, sample_config(), dry_run=True)
    server = await start_http(make_settings(tmp_path), ReadinessProbes.for_clients(redis, None),
                              Metrics(), source)
    http_started.append(server)
    async with Browser(binary, width=390, height=844) as browser:
        await browser.call("Emulation.setDeviceMetricsOverride", width=390, height=844,
                           deviceScaleFactor=1, mobile=True)
        await browser.open(server.url + "/")
        found = await browser.evaluate(PHONE)
        await browser.screenshot(artifacts / "status_page_phone.png")

    assert found["width"] == 390 and not found["overflow"]
    assert found["headHidden"] and found["label"] == '"last poll"'
    assert len(found["rows"]) == 3
    for row in found["rows"]:
        assert all(row.values()), row
    assert all(found["channelCells"]) and len(found["channelCells"]) == 2
    assert any("503" in text for text in found["errorText"])
    assert found["gaps"] and all(height >= 10 for height in found["gaps"]), found["gaps"]
    zone = datetime.fromtimestamp(now, ZoneInfo(sample_config().timezone)).strftime("%Z")
    assert found["times"] and all(t.endswith(" " + zone) for t in found["times"]), found["times"]
