"""Review before publishing: feeds in `mode: review` hand each new piece to the editors' group
(`review_chat`) as a card (the post exactly as it will look) with buttons to publish now,
schedule, edit the excerpt, or reject.

    poller --RedisReviewInbox.submit()--> card hash + inbox ZSET --ReviewDesk.run()--> card in review_chat
    button press --claim (Lua CAS)--> publish / schedule (ZSET) / reject; the card shows who decided

Everything lives in Redis: a card posted before a restart still works after it, and scheduled
pieces are published by whichever replica sees them due first (ZREM decides who).
"""
from __future__ import annotations

import asyncio
import html
import json
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from redis.exceptions import RedisError
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.error import TelegramError

from bot.i18n import Html, Translator, translator
from bot.pending import Claim
from bot.rich_note import rich_note
from config.schema import ChannelConfig
from model.article import Article, article_from_json
from store import keys

if TYPE_CHECKING:
    from bot.context import BotData

logger = logging.getLogger(__name__)

INBOX_LEASE_S = 60
OPEN_STATES = ("open", "scheduled")

# Leases due inbox entries to one replica: their score moves past the lease while it posts the
# card; a replica that dies leaves them to come due again.
_LEASE_INBOX_LUA = """
local now = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, card in ipairs(due) do redis.call('ZADD', KEYS[1], now + lease, card) end
return due
"""


def _with_excerpt(article: Article, excerpt: str) -> Article:
    if not excerpt:
        return article
    paragraphs = "".join(f"<p>{html.escape(p.strip(), quote=False)}</p>"
                         for p in excerpt.split("\n") if p.strip())
    return replace(article, content_html=paragraphs)


class ReviewDesk:
    """Cards, decisions and the schedule."""

    def __init__(self, data: BotData) -> None:
        self.data = data
        self.redis = data.redis
        self._lease = data.redis.register_script(_LEASE_INBOX_LUA)
        self.poll_s = 1.0

    @property
    def review_chat(self) -> int | str | None:
        chat = self.data.config.review_chat
        if chat is None:
            return None
        return int(chat) if chat.lstrip("-").isdigit() else chat

    @property
    def t(self) -> Translator:
        """Cards speak the language of the first channel (editors of an Arabic publication)."""
        channels = self.data.config.channels
        return translator(channels[0].language if channels else "en")

    # -- the loop ---------------------------------------------------------------------------
    async def run(self, bot: Bot, stop: asyncio.Event) -> None:
        """Post cards for new pieces and publish scheduled ones until `stop` is set."""
        while not stop.is_set():
            try:
                await self.post_new_cards(bot)
                await self.publish_due(bot)
            except (RedisError, OSError) as exc:
                logger.warning("review desk: Redis unreachable (%s)", exc)
            except Exception:  # the desk must outlive any one bad card
                logger.exception("review desk round failed")
            try:
                await asyncio.wait_for(stop.wait(), self.poll_s)
            except TimeoutError:
                pass

    async def post_new_cards(self, bot: Bot) -> int:
        if self.review_chat is None:
            return 0
        cards = await self._lease(keys=[keys.bot_review_inbox()],
                                  args=[time.time(), INBOX_LEASE_S, 20])
        posted = 0
        for card in cards:
            record = await self.redis.hgetall(keys.bot_review(card))
            if not record:
                await self.redis.zrem(keys.bot_review_inbox(), card)
                continue
            if record.get("state") != "new":
                await self.redis.zrem(keys.bot_review_inbox(), card)
                continue
            try:
                await self._post_card(bot, card, record)
            except TelegramError as exc:
                logger.warning("could not post review card %s: %s; retrying later", card, exc)
                continue
            await self.redis.zrem(keys.bot_review_inbox(), card)
            posted += 1
        return posted

    async def _post_card(self, bot: Bot, card: str, record: dict[str, str]) -> None:
        t = self.t
        text = await self.card_text(card, record, t("📝 <b>For review</b> → {chats}",
                                                    chats=", ".join(self._chats(record))))
        message = await bot.send_message(self.review_chat, text, reply_markup=self.buttons(card),
                                         link_preview_options=LinkPreviewOptions(is_disabled=True))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.bot_review(card), mapping={
                "state": "open", "card_chat": str(message.chat_id),
                "card_message": message.message_id})
            pipe.expire(keys.bot_review(card), keys.REVIEW_TTL_S)
            # A reply to the card itself is also taken as a new excerpt.
            pipe.set(keys.bot_review_awaiting_edit(str(message.chat_id), message.message_id),
                     card, ex=keys.REVIEW_TTL_S)
            await pipe.execute()

    # -- rendering ----------------------------------------------------------------------------
    @staticmethod
    def _chats(record: dict[str, str]) -> list[str]:
        return [str(target["chat"]) for target in json.loads(record.get("targets") or "[]")]

    def article(self, record: dict[str, str]) -> Article:
        return _with_excerpt(article_from_json(record["article"]), record.get("excerpt", ""))

    async def channels(self, record: dict[str, str]
                       ) -> tuple[list[ChannelConfig], dict[str, int | None], list[str]]:
        found, topics, missing = [], {}, []
        for target in json.loads(record.get("targets") or "[]"):
            channel = await self.data.registry.find_channel(str(target["chat"]))
            if channel is None or channel.paused:
                missing.append(str(target["chat"]))
                continue
            found.append(channel)
            topics[channel.chat] = target.get("topic")
        return found, topics, missing

    async def card_text(self, card: str, record: dict[str, str], status: str) -> str:
        from formatters.errors import UnrenderableArticle

        channels, _, _ = await self.channels(record)
        article = self.article(record)
        channel = channels[0] if channels else ChannelConfig(chat="@preview")
        now = datetime.now(UTC)
        try:
            post = self.data.publisher.render(article, channel, now).html
        except UnrenderableArticle as exc:
            post = html.escape(f"{article.title}\n{article.url}\n({exc.reason})", quote=False)
        note = rich_note(self.t, self.data.publisher, article, channels, now)
        combined = f"{status}\n\n{note}\n\n{post}" if note else f"{status}\n\n{post}"
        if len(html.unescape(_strip_tags(combined))) > 4096:
            return f"{status}\n\n{html.escape(article.title, quote=False)}\n{html.escape(article.url, quote=False)}"
        return combined

    def buttons(self, card: str, *, scheduled: bool = False) -> InlineKeyboardMarkup:
        t = self.t
        rows = [
            [InlineKeyboardButton(t.button("Publish now"), callback_data=f"r:{card}:p"),
             InlineKeyboardButton(t.button("Schedule"), callback_data=f"r:{card}:s")],
            [InlineKeyboardButton(t.button("Edit excerpt"), callback_data=f"r:{card}:e"),
             InlineKeyboardButton(t.button("Reject"), callback_data=f"r:{card}:x")],
        ]
        if scheduled:
            rows[0][1] = InlineKeyboardButton(t.button("Unschedule"), callback_data=f"r:{card}:u")
        return InlineKeyboardMarkup(rows)

    def schedule_buttons(self, card: str) -> InlineKeyboardMarkup:
        t = self.t
        return InlineKeyboardMarkup([
            [InlineKeyboardButton(t.button("In 1 hour"), callback_data=f"r:{card}:s:60"),
             InlineKeyboardButton(t.button("In 3 hours"), callback_data=f"r:{card}:s:180")],
            [InlineKeyboardButton(t.button("In 6 hours"), callback_data=f"r:{card}:s:360"),
             InlineKeyboardButton(t.button("Tomorrow 08:00"), callback_data=f"r:{card}:s:t8")],
            [InlineKeyboardButton(t.button("Back"), callback_data=f"r:{card}:b")],
        ])

    async def refresh_card(self, bot: Bot, card: str, status: str,
                           markup: InlineKeyboardMarkup | None) -> None:
        record = await self.redis.hgetall(keys.bot_review(card))
        if not record.get("card_message"):
            return
        text = await self.card_text(card, record, status)
        try:
            await bot.edit_message_text(text, chat_id=int(record["card_chat"])
                                        if record["card_chat"].lstrip("-").isdigit()
                                        else record["card_chat"],
                                        message_id=int(record["card_message"]),
                                        reply_markup=markup,
                                        link_preview_options=LinkPreviewOptions(is_disabled=True))
        except TelegramError as exc:
            if "not modified" not in str(exc).lower():
                logger.info("could not update review card %s: %s", card, exc)

    # -- decisions ----------------------------------------------------------------------------
    async def publish(self, card: str, record: dict[str, str]) -> tuple[list[str], list[str],
                                                                        list[str]]:
        """Queue the piece for its channels: (queued, already there, not possible)."""
        channels, topics, missing = await self.channels(record)
        result = await self.data.publisher.publish(self.article(record), channels,
                                                   feed_id=record.get("feed_id", ""),
                                                   topics=topics)
        failed = missing + [chat for chat, _ in result.failed]
        return list(result.queued), list(result.duplicates), failed

    async def outcome_status(self, queued: list[str], duplicates: list[str], failed: list[str],
                             who: str, when: str, *, scheduled: bool = False) -> Html:
        t = self.t
        lines = []
        if queued:
            lines.append(t("✅ Published to {chats} at {time} ({who}).", chats=", ".join(queued),
                           time=when, who=who) if not scheduled else
                         t("✅ Published as scheduled to {chats} at {time} ({who}).",
                           chats=", ".join(queued), time=when, who=who))
        if duplicates:
            lines.append(t("Already posted in {chats}.", chats=", ".join(duplicates)))
        if failed:
            lines.append(t("Not posted to {chats}.", chats=", ".join(failed)))
        if not lines:
            lines.append(t("Nothing was sent."))
        return Html("\n".join(lines))

    async def publish_due(self, bot: Bot, now: float | None = None) -> int:
        """Publish scheduled pieces that are due; ZREM decides which replica does each."""
        now = time.time() if now is None else now
        due = await self.redis.zrangebyscore(keys.bot_review_schedule(), "-inf", now,
                                             start=0, num=20)
        done = 0
        for card in due:
            if not await self.redis.zrem(keys.bot_review_schedule(), card):
                continue  # another replica took it
            key = keys.bot_review(card)
            record = await self.redis.hgetall(key)
            if not record:
                continue
            decided_by = int(record.get("decided_by") or 0)
            if await self.data.pending.claim(key, ["scheduled"], "publishing",
                                             decided_by) != Claim.WON:
                continue
            queued, duplicates, failed = await self.publish(card, record)
            await self.redis.hset(key, "state", "published")
            who = record.get("decided_name") or str(decided_by)
            status = await self.outcome_status(queued, duplicates, failed, who,
                                               self.local(now), scheduled=True)
            await self.data.audit.record(decided_by, who, "review.published_scheduled",
                                         f"{record.get('feed_url', '')} {self._url(record)} -> "
                                         f"{', '.join(queued) or '-'}")
            await self.refresh_card(bot, card, status, None)
            done += 1
        return done

    def local(self, when: float) -> str:
        from zoneinfo import ZoneInfo

        return datetime.fromtimestamp(when, ZoneInfo(self.data.config.timezone)).strftime(
            "%Y/%m/%d %H:%M")

    def schedule_time(self, choice: str, now: float) -> float | None:
        from zoneinfo import ZoneInfo

        if choice.isdigit():
            return now + int(choice) * 60
        if choice == "t8":
            zone = ZoneInfo(self.data.config.timezone)
            moment = datetime.fromtimestamp(now, zone)
            tomorrow = (moment.replace(hour=8, minute=0, second=0, microsecond=0)
                        .timestamp() + 86_400)
            return tomorrow
        return None

    @staticmethod
    def _url(record: dict[str, str]) -> str:
        try:
            return str(json.loads(record.get("article") or "{}").get("url", ""))
        except ValueError:
            return ""

    async def set_excerpt(self, card: str, text: str) -> bool:
        key = keys.bot_review(card)
        if (await self.redis.hget(key, "state")) not in OPEN_STATES:
            return False
        await self.redis.hset(key, "excerpt", text)
        return True

def _strip_tags(text: str) -> str:
    import re

    return re.sub(r"<[^>]*>", "", text)
