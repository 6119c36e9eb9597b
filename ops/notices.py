"""Telling owners and editors, once, when a feed breaks, is gone, or recovers.

Notices travel through the same delivery queue as posts (so they share rate limits, retries,
the dry-run preview and the no-loss promise), addressed to each owner's and editor's private
chat. The feed's health state in Redis makes each announcement happen once per change."""
from __future__ import annotations

import html
import time

from config.schema import BotConfig, FeedConfig, format_duration
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


def review_stale_html(count: int, age_s: float) -> str:
    """Owners' notice: pieces have waited for an editor's decision longer than `age_s`."""
    age = f"\u2066{format_duration(age_s)}\u2069"
    return (f"<b>⏳ {RLM}مقالات تنتظر قرار المحررين في مجموعة المراجعة منذ أكثر من {age}: "
            f"{count}</b>\n"
            f"{count} piece(s) in the review inbox have waited longer than {age} for an "
            f"editor's decision; they are kept until an editor publishes or rejects them.")


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
                f"{RLM}يعيد البوت المحاولة تلقائياً (بعد دقيقة، ثم على فترات أطول حتى 6 ساعات)، "
                f"وتُرسل المنشورات المحفوظة بترتيبها فور إعادة البوت مشرفاً إلى القناة، أو "
                f"بالأمر /release {_chat(chat)}.\n"
                f"The bot cannot post to {_chat(chat)}; its posts are kept until it can. It tries "
                f"again on its own (after a minute, then less often, up to every 6 hours); add "
                f"the bot back (as an admin who may post) or send /release {_chat(chat)} to send "
                f"them at once, in order.\n"
                f"{RLM}السبب / reason: {html.escape(mask_urls_in_text(reason)[:300], quote=False)}")
        await self.send(f"blocked:{chat}", text)

    async def held_overflow(self, cap: int, dropped: int) -> None:
        """The held posts passed their cap: the oldest are being dropped (told once per
        crossing)."""
        text = (f"<b>⛔ {RLM}تجاوزت المنشورات المحفوظة الحد ({cap})، ويُحذف الأقدم منها.</b>\n"
                f"The held posts passed their cap of {cap}: the oldest are being dropped "
                f"({dropped} so far), each logged with its link. Release the chats the bot can "
                f"post in again (/release CHAT, or add the bot back), or raise BOT_HELD_CAP.")
        await self.send("held_overflow", text)

    async def migrated(self, old: str, new: str) -> None:
        text = (f"<b>ℹ️ {RLM}انتقلت المجموعة {_chat(old)} إلى المعرّف {_chat(new)}.</b>\n"
                f"The group {_chat(old)} moved to {_chat(new)}: posts now go there; "
                f"update the config file to the new id.")
        await self.send(f"migrated:{old}", text)

    async def rich_refused(self, chat: str, kind: str, reason: str, url: str) -> None:
        """delivery.rich_transport's hook: the chat gets summaries instead of rich messages."""
        # No `url` on the notice: it would be recorded among the article's own fates.
        await self.send(f"rich:{chat}:{kind}", rich_refused_html(chat, kind, reason, url))


_RICH_KIND = {
    "unsupported": ("خادم Bot API لا يعرف الرسائل الغنية (أقدم من 10.1)",
                    "the Bot API server does not know rich messages (older than 10.1)"),
    "refused": ("رفض تيليجرام الرسالة الغنية (حدّ من الحدود أو كتلة لا يقبلها)",
                "Telegram refused the rich message (a limit, or a block it will not take)"),
    "media": ("لا يملك البوت حق إرسال الصور هناك",
              "the bot may not send photos there"),
}


def rich_refused_html(chat: str, kind: str, reason: str, url: str) -> str:
    """The owners' notice: a rich channel gets HTML summaries instead, and why."""
    arabic, english = _RICH_KIND.get(kind, _RICH_KIND["refused"])
    link = html.escape(display_url(url), quote=False)
    return (f"<b>ℹ️ {RLM}تُنشر في {_chat(chat)} ملخصات بدل الرسائل الغنية: {arabic}.</b>\n"
            f"{_chat(chat)} gets HTML summaries instead of rich messages: {english}. "
            f"Rich messages are tried again in a day, after a restart against another Bot API "
            f"server, or when the channel's format changes.\n"
            f"{RLM}السبب / reason: {html.escape(mask_urls_in_text(reason)[:300], quote=False)}\n"
            f"\u2066{link}\u2069")


def _chat(chat: str) -> str:
    return f"\u2066{html.escape(chat, quote=False)}\u2069"
