"""Telling owners and editors, once, when a feed breaks, is gone, or recovers.

Notices travel through the same delivery queue as posts (so they share rate limits, retries,
the dry-run preview and the no-loss promise), addressed to each owner's and editor's private
chat. The feed's health state in Redis makes each announcement happen once per change."""
from __future__ import annotations

import html
import time

from config.schema import BotConfig, FeedConfig
from feeds.schedule import HealthEvent
from guards.urls import display_url, mask_urls_in_text
from model.article import feed_id_for
from model.delivery import Delivery
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
    url = html.escape(display_url(feed.url), quote=False)
    lines = [f"<b>{arabic.format(rlm=RLM)}</b>", english, f"\u2066{url}\u2069"]
    if reason and event != HealthEvent.RECOVERED:
        reason = mask_urls_in_text(reason)[:300]
        lines.append(f"{RLM}السبب / reason: {html.escape(reason, quote=False)}")
    return "\n".join(lines)


class OwnerNotices:
    """Queues short notices to every owner's and editor's private chat."""

    def __init__(self, config: BotConfig, store: Store) -> None:
        self.recipients: list[str] = []
        self.set_config(config)
        self.store = store

    def set_config(self, config: BotConfig) -> None:
        """The owners and editors of this config are told from now on (config reload)."""
        self.recipients = sorted({str(u) for u in (*config.owners, *config.editors)})

    async def send(self, key: str, text: str, url: str = "") -> None:
        if not self.recipients:
            return
        now = time.time()
        uid = f"notice:{key}:{int(now)}"
        deliveries: list[Delivery | None] = [
            Delivery(chat=chat, uid=uid, url=url, html=text, priority=1, queued_at=now,
                     article_time=now, language="ar")
            for chat in self.recipients
        ]
        await self.store.queue_article(None, [uid], deliveries, now=now)


class HealthNotifier(OwnerNotices):
    """Poller hook: a feed turned broken or gone, or recovered."""

    async def __call__(self, feed: FeedConfig, event: HealthEvent, reason: str) -> None:
        await self.send(f"{feed_id_for(feed.url)}:{event.value}", notice_html(feed, event, reason),
                        display_url(feed.url))


class ChatNotifier(OwnerNotices):
    """Sender hooks: the bot may no longer post to a chat, or a group moved to a new id."""

    async def blocked(self, chat: str, reason: str) -> None:
        text = (f"<b>⚠️ {RLM}لا يستطيع البوت النشر في {_chat(chat)}؛ المنشورات محفوظة.</b>\n"
                f"The bot cannot post to {_chat(chat)}; its posts are kept until it can.\n"
                f"{RLM}السبب / reason: {html.escape(mask_urls_in_text(reason)[:300], quote=False)}")
        await self.send(f"blocked:{chat}", text)

    async def migrated(self, old: str, new: str) -> None:
        text = (f"<b>ℹ️ {RLM}انتقلت المجموعة {_chat(old)} إلى المعرّف {_chat(new)}.</b>\n"
                f"The group {_chat(old)} moved to {_chat(new)}: posts now go there; "
                f"update the config file to the new id.")
        await self.send(f"migrated:{old}", text)


def _chat(chat: str) -> str:
    return f"\u2066{html.escape(chat, quote=False)}\u2069"
