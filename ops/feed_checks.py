"""`check`'s look at the feeds: each one fetched and parsed once (a host that does not resolve,
a refused connection, a page that is no feed: one FAIL row per feed), and the script of its
recent items set against the language of the channels it posts to (an Arabic feed sent to a
`language: en` channel gets left-to-right posts: a WARN row saying which key to change)."""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import regex

from config.schema import BotConfig, FeedConfig

FEED_CONCURRENCY = 8
RECENT_ITEMS = 10
# A feed is "in" a script when at least this share of its letters are of it.
SCRIPT_SHARE = 0.6

_RTL_LETTER = regex.compile(r"[\p{bc=R}\p{bc=AL}]")
_LTR_LETTER = regex.compile(r"\p{bc=L}")
_SCRIPT_LANGUAGE = {"rtl": "ar", "ltr": "en"}
_SCRIPT_NAME = {"rtl": "Arabic", "ltr": "Latin"}


@dataclass(frozen=True, slots=True)
class FeedCheck:
    feed: FeedConfig
    problem: str | None          # None: fetched and parsed
    items: int = 0
    script: str | None = None    # "rtl" | "ltr" | None (mixed or no text)


def script_of(texts: Sequence[str]) -> str | None:
    """"rtl" when most letters are Arabic-script (or Hebrew), "ltr" when most are left to
    right, None when mixed or empty."""
    rtl = sum(len(_RTL_LETTER.findall(text)) for text in texts)
    ltr = sum(len(_LTR_LETTER.findall(text)) for text in texts)
    total = rtl + ltr
    if not total:
        return None
    if rtl / total >= SCRIPT_SHARE:
        return "rtl"
    if ltr / total >= SCRIPT_SHARE:
        return "ltr"
    return None


async def check_feed(fetcher: Any, feed: FeedConfig, allow_networks: Sequence[str]) -> FeedCheck:
    """Fetch and parse one feed as the poller would (its own user agent, headers, proxy)."""
    from feeds.parser import html_to_text, parse_feed
    from model.errors import FeedError

    try:
        result = await fetcher.fetch(feed.url, trusted=feed.trusted, allow_networks=allow_networks,
                                     user_agent=feed.user_agent, headers=feed.headers or None,
                                     proxy=feed.proxy)
        parsed = await asyncio.to_thread(parse_feed, result.body or b"", feed_url=result.url,
                                         content_type=result.content_type)
    except FeedError as exc:
        return FeedCheck(feed, f"cannot fetch or read it: {exc}")
    except Exception as exc:  # one feed's surprise must not hide the others' answers
        return FeedCheck(feed, f"cannot fetch or read it: {type(exc).__name__}: {exc}")
    recent = parsed.articles[:RECENT_ITEMS]
    texts = []
    for article in recent:
        texts.append(article.title or "")
        texts.append(html_to_text(article.content_html or "")[:500])
    return FeedCheck(feed, None, len(parsed.articles), script_of(texts))


async def check_feeds(config: BotConfig, fetcher: Any,
                      advance: Callable[[str, bool], None] | None = None) -> list[FeedCheck]:
    """Every active feed of the config, checked with at most FEED_CONCURRENCY at once."""
    slots = asyncio.Semaphore(FEED_CONCURRENCY)

    async def one(feed: FeedConfig) -> FeedCheck:
        async with slots:
            found = await check_feed(fetcher, feed, config.allow_networks)
        if advance is not None:
            advance(feed.url, found.problem is not None)
        return found

    return list(await asyncio.gather(*(one(f) for f in config.feeds if not f.paused)))


def language_mismatches(config: BotConfig, found: FeedCheck) -> list[tuple[str, str]]:
    """(channel, advice) for each channel whose language disagrees with the feed's script."""
    if found.script is None:
        return []
    wanted = _SCRIPT_LANGUAGE[found.script]
    advice = []
    for target in found.feed.channels:
        channel = config.channel(target.chat)
        if channel is None or channel.language == wanted:
            continue
        direction = "left to right" if channel.language == "en" else "right to left"
        advice.append((channel.chat,
                       f"its items are in {_SCRIPT_NAME[found.script]} script, "
                       f"{channel.chat} has language: {channel.language} (posts run "
                       f"{direction}); set language: {wanted} for {channel.chat}"))
    return advice


__all__ = ["FeedCheck", "check_feed", "check_feeds", "language_mismatches", "script_of"]
