"""Why: what became of an article in each chat, in the asker's language.

    python main.py why URL        (plain text; Arabic when LANG is Arabic)
    /why URL                      (editors; the reply in their language)

It reads the article's fates (store.fates): one line per chat, saying posted (when, message),
queued, held (why, and how it gets out), skipped (why: before the first run, filtered by which
keyword, duplicate of which link from which feed by which rule, unrenderable with the error,
rejected) or failed. An article with no fate is looked for in the feeds' seen sets, so the
answer tells "seen, but its record has expired" from "never seen".
"""
from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from bot.i18n import Html, Translator, translator
from config.schema import BotConfig
from feeds.entries import link_key
from guards.urls import canonical_url, display_url
from model.article import feed_id_for
from store import fates, keys
from store.fates import Fate, FateRecord, Fates
from store.redis_store import compact_identity
from store.registry import effective_config

_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True, slots=True)
class WhyAnswer:
    """The answer: its lines (HTML, in the asker's language) and whether anything was found."""

    lines: tuple[str, ...]
    found: bool


def _feed_name(feed: str) -> str:
    return display_url(feed) if feed else ""


def _when(at: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(at, zone).strftime("%Y/%m/%d %H:%M")


def explain_record(t: Translator, record: FateRecord, zone: ZoneInfo) -> str:
    """One chat's fate as a sentence."""
    when = _when(record.at, zone) if record.at else "?"
    chat, detail, reason = record.chat, record.detail, record.reason
    if record.fate is Fate.POSTED:
        if reason == fates.RICH_FALLBACK:
            return t("{chat}: posted at {time} (message {number}) as the HTML summary: "
                     "Telegram refused the rich message ({detail}).", chat=chat, time=when,
                     number=record.message_id or "?", detail=detail)
        if reason == fates.RICH and detail:
            return t("{chat}: posted at {time} (message {number}) as a rich message; "
                     "{detail}.", chat=chat, time=when, number=record.message_id or "?",
                     detail=detail)
        if record.message_id:
            return t("{chat}: posted at {time} (message {number}).", chat=chat, time=when,
                     number=record.message_id)
        return t("{chat}: posted at {time}.", chat=chat, time=when)
    if record.fate is Fate.QUEUED:
        if reason == fates.RELEASED:
            return t("{chat}: queued again at {time} (released from hold), waiting to be sent.",
                     chat=chat, time=when)
        return t("{chat}: queued at {time}, waiting to be sent.", chat=chat, time=when)
    if record.fate is Fate.HELD:
        if reason == fates.PAUSED:
            return t("{chat}: held since {time}: the channel is paused; it goes out when the "
                     "channel resumes.", chat=chat, time=when)
        if reason == fates.REVIEW:
            return t("{chat}: held since {time}: waiting for an editor's review.", chat=chat,
                     time=when)
        return t("{chat}: held since {time}: the bot cannot post there ({detail}). It is tried "
                 "again on its own, and sent at once when the bot is added back, the reader "
                 "sends /start, or an owner sends /release.", chat=chat, time=when,
                 detail=detail or reason)
    if record.fate is Fate.FAILED:
        if reason == fates.HELD_OVERFLOW:
            return t("{chat}: dropped ({time}): it was held ({detail}) while the held posts "
                     "passed their cap, and it was among the oldest.", chat=chat, time=when,
                     detail=detail or "?")
        return t("{chat}: not sent ({time}): Telegram refused the post: {detail}", chat=chat,
                 time=when, detail=detail or reason)
    # skipped
    if reason == fates.FIRST_RUN:
        return t("{chat}: skipped ({time}): it was already in the feed when the bot first "
                 "polled it, and the feed's first_run setting leaves such items out.",
                 chat=chat, time=when)
    if reason == fates.FILTER_EXCLUDE:
        return t("{chat}: skipped ({time}): it matches the exclude keyword «{keyword}».",
                 chat=chat, time=when, keyword=detail)
    if reason == fates.FILTER_INCLUDE:
        return t("{chat}: skipped ({time}): it matches none of the include keywords: "
                 "{keywords}.", chat=chat, time=when, keywords=detail)
    if reason in (fates.DUPLICATE_LINK, fates.DUPLICATE_STORY):
        link, _, feed = detail.partition("\x1f")
        if reason == fates.DUPLICATE_LINK:
            return t("{chat}: skipped ({time}): a duplicate by link: the channel already had "
                     "this article from {feed}.", chat=chat, time=when,
                     feed=_feed_name(feed) or t.raw("an editor's push"))
        return t("{chat}: skipped ({time}): a duplicate by story: the channel already had "
                 "{link} from {feed}, with the same title and text.", chat=chat, time=when,
                 link=display_url(link) or "?", feed=_feed_name(feed) or "?")
    if reason == fates.UNRENDERABLE:
        return t("{chat}: skipped ({time}): no valid post could be made: {error}", chat=chat,
                 time=when, error=detail)
    if reason == fates.REJECTED:
        return t("{chat}: skipped ({time}): rejected by an editor ({detail}).", chat=chat,
                 time=when, detail=detail)
    if reason == fates.CHANNEL_GONE:
        return t("{chat}: skipped ({time}): the feed names this chat, but it is not a "
                 "configured channel.", chat=chat, time=when)
    return t("{chat}: skipped ({time}): {reason} {detail}", chat=chat, time=when,
             reason=reason, detail=detail)


async def why(redis: aioredis.Redis, config: BotConfig, url: str, lang: str) -> WhyAnswer:
    """What became of the article at `url` in each chat, as lines in `lang`."""
    t = translator(lang)
    zone = ZoneInfo(config.timezone)
    link = canonical_url(url) or url.strip()
    records = await Fates(redis).of_article(link)
    head = t("What became of {url}:", url=display_url(link))
    if records:
        by_feed = sorted({r.feed for r in records if r.feed})
        lines: list[str] = [head]
        if by_feed:
            lines.append(t("Read from: {feeds}", feeds=", ".join(_feed_name(f) for f in by_feed)))
        lines += [explain_record(t, r, zone) for r in records]
        return WhyAnswer(tuple(lines), True)
    seen_in = await _feeds_that_saw(redis, config, link)
    period = t.counted("{count} day", "{count} days", fates.FATE_TTL_S // 86_400)
    if seen_in:
        return WhyAnswer((head, t("Seen in {feeds}, but its record is older than {period} and "
                                  "has expired.", feeds=", ".join(seen_in), period=period)),
                         True)
    return WhyAnswer((head, t("Never seen: no feed the bot follows has listed it in the last "
                              "{period}, and no editor pushed it.", period=period)), False)


async def _feeds_that_saw(redis: aioredis.Redis, config: BotConfig, link: str) -> list[str]:
    """Feeds whose seen set holds the link's identity key."""
    member = compact_identity(link_key(link))
    effective = await effective_config(redis, config)
    feeds = list(effective.feeds)
    async with redis.pipeline(transaction=False) as pipe:
        for feed in feeds:
            pipe.zscore(keys.feed_seen(feed_id_for(feed.url)), member)
        scores = await pipe.execute()
    return [display_url(f.url) for f, score in zip(feeds, scores, strict=True)
            if score is not None]


def as_plain(lines: tuple[str, ...] | list[str]) -> str:
    """The answer's lines as plain text (for the terminal)."""
    return "\n".join(html.unescape(_TAG.sub("", line)) for line in lines)


def cli_language() -> str:
    """The terminal's language: Arabic when LANG/LC_ALL/LC_MESSAGES say so, else English."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if value:
            return "ar" if value.lower().startswith("ar") else "en"
    return "en"


def join(t: Translator, lines: tuple[str, ...]) -> Html:
    """The lines as one reply."""
    return Html(t.finish("\n".join(lines)))


async def cmd_why(config: BotConfig, redis_url: str, url: str) -> int:
    """`python main.py why URL`: the answer on stdout, in the terminal's language; exit 0."""
    from store.redis_store import connect

    redis = await connect(redis_url)
    try:
        answer = await why(redis, config, url, cli_language())
    finally:
        await redis.aclose()
    print(as_plain(answer.lines))
    return 0
