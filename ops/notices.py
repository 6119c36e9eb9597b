"""Telling owners and editors, once, when a feed breaks, is gone, or recovers.

Notices travel through the same delivery queue as posts (so they share rate limits, retries,
the dry-run preview and the no-loss promise), addressed to each owner's and editor's private
chat. The feed's health state in Redis makes each announcement happen once per change."""
from __future__ import annotations

import html
import time

from config.schema import BotConfig, FeedConfig
from delivery.models import Delivery
from feeds.models import feed_id_for
from feeds.schedule import HealthEvent
from store.redis_store import Store

RLM = "\u200f"

_TEXT = {
    HealthEvent.BROKEN: ("⚠️ {rlm}تعطّلت التغذية ولم تعد تُقرأ منذ مدة.",
                         "⚠️ The feed has been failing for a while and is now marked broken."),
    HealthEvent.GONE: ("⛔ {rlm}التغذية غير موجودة (404/410) منذ أيام، وستُفحص نادراً.",
                       "⛔ The feed has been gone (404/410) for days; it will be tried rarely."),
    HealthEvent.RECOVERED: ("✅ {rlm}عادت التغذية إلى العمل.", "✅ The feed works again."),
}


def notice_html(feed: FeedConfig, event: HealthEvent, reason: str) -> str:
    arabic, english = _TEXT[event]
    url = html.escape(feed.url, quote=False)
    lines = [f"<b>{arabic.format(rlm=RLM)}</b>", english, f"\u2066{url}\u2069"]
    if reason and event != HealthEvent.RECOVERED:
        lines.append(f"{RLM}السبب / reason: {html.escape(reason[:300], quote=False)}")
    return "\n".join(lines)


class HealthNotifier:
    def __init__(self, config: BotConfig, store: Store) -> None:
        self.recipients = sorted({str(u) for u in (*config.owners, *config.editors)})
        self.store = store

    async def __call__(self, feed: FeedConfig, event: HealthEvent, reason: str) -> None:
        if not self.recipients:
            return
        now = time.time()
        uid = f"notice:{feed_id_for(feed.url)}:{event.value}:{int(now)}"
        text = notice_html(feed, event, reason)
        deliveries: list[Delivery | None] = [
            Delivery(chat=chat, uid=uid, url=feed.url, html=text, priority=1, queued_at=now,
                     article_time=now, language="ar")
            for chat in self.recipients
        ]
        await self.store.queue_article(None, [uid], deliveries, now=now)
