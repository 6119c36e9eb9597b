"""Fates kept in Redis: recorded, read back per article, counted by the hour, skips listed."""
from __future__ import annotations

from store.fates import (
    FILTER_EXCLUDE,
    FIRST_RUN,
    Fate,
    Fates,
    FateWrite,
    article_key,
    totals_by_fate,
)


async def test_fates_are_recorded_read_counted_and_listed(redis) -> None:
    """Three chats' fates of one article come back per chat; counts and the skip list follow."""
    fates = Fates(redis)
    url = "https://example.org/a/1?utm_source=rss"
    await fates.record([
        FateWrite("@a", Fate.QUEUED, url, "u1", feed="https://example.org/feed"),
        FateWrite("@b", Fate.SKIPPED, url, "u1", reason=FIRST_RUN, detail="first poll"),
        FateWrite("@c", Fate.SKIPPED, url, "u1", reason=FILTER_EXCLUDE, detail="رياضة"),
    ], now=7200.0)
    await fates.record([FateWrite("@a", Fate.POSTED, url, "u1", message_id=42)], now=7300.0)
    records = {r.chat: r for r in await fates.of_article("https://example.org/a/1")}
    assert records["@a"].fate is Fate.POSTED and records["@a"].message_id == 42
    assert records["@b"].fate is Fate.SKIPPED and records["@b"].reason == FIRST_RUN
    counts = await fates.counts_since(7200.0, now=7300.0)
    assert counts[("skipped", FIRST_RUN)] == 1
    assert totals_by_fate(counts) == {"queued": 1, "skipped": 2, "posted": 1}
    # The latest-skipped list leaves out first-run skips (a new feed's backlog is no news).
    [latest] = await fates.latest_skipped()
    assert latest.chat == "@c" and latest.url == url and latest.detail == "رياضة"
    assert await fates.of_article("https://example.org/never") == []
    assert article_key("", "u1") != article_key(url)
