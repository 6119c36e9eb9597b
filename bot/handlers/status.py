"""/status: the queue, the feeds' health, today's posts and fates, the last actions."""
from __future__ import annotations

import contextlib
import json
import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from telegram import Update

from bot.context import NashirContext
from bot.handlers.common import (
    local_time,
    reply,
    translator_for,
)
from bot.handlers.editor import feed_health_of
from bot.i18n import Translator, clean_value
from bot.reply_limits import fit_reply
from model.article import feed_id_for
from store import keys
from store.fates import Fates, totals_by_fate

logger = logging.getLogger(__name__)

# -- /status -----------------------------------------------------------------------------------

async def _fates_lines(t: Translator, redis: Any, midnight: float) -> list[str]:
    """Today's fates by kind, and the latest three skipped items with their reasons."""
    fates = Fates(redis)
    totals = totals_by_fate(await fates.counts_since(midnight))
    lines: list[str] = [t(
        "Today, per article and chat: {posted}, {queued}, {held}, {skipped}, {failed}.",
               posted=t.counted("{count} posted", "{count} posted", totals.get("posted", 0)),
               queued=t.counted("{count} queued", "{count} queued", totals.get("queued", 0)),
               held=t.counted("{count} held", "{count} held", totals.get("held", 0)),
               skipped=t.counted("{count} skipped", "{count} skipped", totals.get("skipped", 0)),
               failed=t.counted("{count} failed", "{count} failed", totals.get("failed", 0)))]
    for record in await fates.latest_skipped(3):
        lines.append(t("↷ {url} in {chat}: {reason}", url=clean_value(record.url, 100),
                       chat=record.chat, reason=record.reason))
    if lines[1:]:
        lines.append(t("/why URL tells more of one article."))
    return lines


async def status(update: Update, context: NashirContext) -> None:
    t = await translator_for(update, context)
    data = context.data
    redis = data.redis
    from ops.metrics import queue_state

    depth, _oldest, held = await queue_state(redis)
    config = await data.registry.current()
    titles = await data.registry.feed_titles()
    counts = {"ok": 0, "failing": 0, "paused": 0, "new": 0}
    failing: list[tuple[str, str]] = []
    healths = await feed_health_of(context, list(config.feeds))
    for feed, (health, state) in zip(config.feeds, healths,
                                     strict=True):
        counts[health] += 1
        if health == "failing":
            failing.append((titles.get(feed_id_for(feed.url)) or feed.url,
                            state.get("last_error") or ""))
    zone = ZoneInfo(config.timezone)
    midnight = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    posts_today = await redis.zcount(keys.post_times(), midnight, "+inf")
    last_post = 0.0
    for raw in await redis.lrange(keys.posts_log(), 0, 0):
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            last_post = float(json.loads(raw).get("time") or 0)
    lines: list[str] = [
        t("<b>Status</b>"),
        t("Queue: {waiting}; {held}.",
          waiting=t.counted("{count} waiting to be sent", "{count} waiting to be sent", depth),
          held=t.counted("{count} held back", "{count} held back", held)),
        t("Feeds: {ok}, {failing}, {paused}, {new}.",
          ok=t.counted("{count} healthy", "{count} healthy", counts["ok"]),
          failing=t.counted("{count} failing", "{count} failing", counts["failing"]),
          paused=t.counted("{count} paused", "{count} paused", counts["paused"]),
          new=t.counted("{count} not polled yet", "{count} not polled yet", counts["new"])),
    ]
    for title, error in failing[:5]:
        lines.append(t("⚠️ {title}: {error}", title=clean_value(title, 80),
                       error=clean_value(error, 120) or "?"))
    lines.append(t.n("Posts today: {count}.", "Posts today: {count}.", posts_today))
    if last_post:
        lines.append(t("Last post: {time}.", time=local_time(context, last_post, with_date=True)))
    else:
        lines.append(t("No post yet."))
    lines += await _fates_lines(t, data.redis, midnight)
    actions = await data.audit.latest(10)
    blocks = []
    if actions:
        lines.append("")
        lines.append(t("<b>Last actions</b>"))
        for entry in actions:
            blocks.append([t("{time} {who}: {action} {detail}",
                             time=local_time(context, entry.time, with_date=True),
                             who=clean_value(entry.user_name or entry.user_id, 64),
                             action=entry.action, detail=clean_value(entry.detail, 100))])
    await reply(update, fit_reply(t, lines, blocks))
