"""Review before publishing: feeds in `mode: review` hand each new piece to the editors' group
(`review_chat`) as a card (the post exactly as it will look) with buttons to publish now,
schedule, edit the excerpt, or reject.

    poller --RedisReviewInbox.submit()--> card + inbox --ReviewDesk.run()--> card in review_chat
    button --store.decisions (one Lua step)--> queued + fates + card closed --> card shows who

Everything lives in Redis: a card posted before a restart still works after it, and scheduled
pieces are published by whichever replica's decision step finds them due first. A decision
and its deliveries are one atomic step; only the card's edit can lag behind (Telegram refused
it, or the bot stopped), and the desk's round updates such cards later (`show_unshown`).
Undecided cards never expire; owners are told once when one waits longer than
`review_stale_after` (`check_stale`).
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import json
import logging
import re
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from redis.exceptions import RedisError
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.error import TelegramError

from bot.i18n import Html, Translator, translator
from bot.rich_note import rich_note
from config.schema import ChannelConfig, format_duration
from formatters.errors import UnrenderableArticle
from model.article import Article, article_from_json
from model.delivery import Delivery
from ops.notices import OwnerNotices, review_stale_html
from pipeline.render import in_language, render_for
from pipeline.subscribers import subscriber_copies
from store import keys
from store.decisions import WON, ChatFate, Decided, Decision, Decisions
from store.fates import CHANNEL_GONE, REJECTED, UNRENDERABLE

if TYPE_CHECKING:
    from bot.context import BotData

logger = logging.getLogger(__name__)

INBOX_LEASE_S = 60
CARD_LEASE_S = 30.0     # a decided card not updated after this long is updated by the desk
OPEN_STATES = ("open", "scheduled")
DECIDABLE = ("new", *OPEN_STATES)   # a press may come before the desk has marked the card open
_TAG = re.compile(r"<[^>]*>")

# Leases due inbox entries to one replica: their score moves past the lease while it posts the
# card; a replica that dies leaves them to come due again.
_LEASE_INBOX_LUA = """
local now = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, card in ipairs(due) do redis.call('ZADD', KEYS[1], now + lease, card) end
return due
"""

# The card is in review_chat: note where, and open it for decisions (an editor quick enough to
# decide before this ran has decided already; a withdrawn piece has no record left).
_OPENED_LUA = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 0 end
redis.call('HSET', KEYS[1], 'card_chat', ARGV[1], 'card_message', ARGV[2])
if state ~= 'new' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'open')
redis.call('PERSIST', KEYS[1])
return 1
"""

# A new excerpt, only while the card is undecided. ARGV: states (comma), excerpt.
_EXCERPT_LUA = """
local state = redis.call('HGET', KEYS[1], 'state')
for expected in string.gmatch(ARGV[1], '[^,]+') do
  if expected == state then
    redis.call('HSET', KEYS[1], 'excerpt', ARGV[2])
    return 1
  end
end
return 0
"""


def _with_excerpt(article: Article, excerpt: str) -> Article:
    if not excerpt:
        return article
    paragraphs = "".join(f"<p>{html.escape(p.strip(), quote=False)}</p>"
                         for p in excerpt.split("\n") if p.strip())
    return replace(article, content_html=paragraphs)


@dataclass(frozen=True, slots=True)
class Targets:
    """A card's channels as configured now."""

    found: list[ChannelConfig]
    topics: dict[str, int | None]
    paused: frozenset[str]
    gone: list[str]


class ReviewDesk:
    """Cards, decisions and the schedule."""

    def __init__(self, data: BotData) -> None:
        self.data = data
        self.redis = data.redis
        self._lease = data.redis.register_script(_LEASE_INBOX_LUA)
        self._opened = data.redis.register_script(_OPENED_LUA)
        self._excerpt = data.redis.register_script(_EXCERPT_LUA)
        self.decisions = Decisions(data.redis)
        self.poll_s = 1.0
        self.card_lease_s = CARD_LEASE_S
        self.stats: Counter[str] = Counter()

    async def record(self, card: str) -> dict[str, str]:
        """The card's hash, typed (the client decodes responses to str)."""
        raw = await self.redis.hgetall(keys.bot_review(card))
        return {str(k): str(v) for k, v in raw.items()}

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
                await self.show_unshown(bot)
                await self.check_stale()
            except (RedisError, OSError) as exc:
                # Nothing is half done: each decision is one step, retried next round.
                self.stats["redis_errors"] += 1
                logger.warning("review desk: Redis unreachable (%s)", exc)
            except Exception:  # the desk must outlive any one bad card
                logger.exception("review desk round failed")
            self.stats["rounds"] += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_s)

    async def post_new_cards(self, bot: Bot) -> int:
        if self.review_chat is None:
            return 0
        cards = [str(c) for c in await self._lease(keys=[keys.bot_review_inbox()],
                                                   args=[time.time(), INBOX_LEASE_S, 20])]
        posted = 0
        for card in cards:
            record = await self.record(card)
            if not record or record.get("state") != "new":
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
        chat = self.review_chat
        if chat is None:
            return
        message = await bot.send_message(chat, text, reply_markup=self.buttons(card),
                                         link_preview_options=LinkPreviewOptions(is_disabled=True))
        # Only a reply to the edit prompt changes the excerpt: a reply to the card itself is
        # editors talking about it. The card has no expiry while it waits for a decision.
        await self._opened(keys=[keys.bot_review(card)],
                           args=[str(message.chat_id), message.message_id])

    # -- rendering ----------------------------------------------------------------------------
    @staticmethod
    def _chats(record: dict[str, str]) -> list[str]:
        return [str(target["chat"]) for target in json.loads(record.get("targets") or "[]")]

    def article(self, record: dict[str, str]) -> Article:
        return _with_excerpt(article_from_json(record["article"]), record.get("excerpt", ""))

    async def channels(self, record: dict[str, str]) -> Targets:
        """The card's channels as configured now: paused ones are kept (their posts wait until
        they resume), chats that are no longer channels are `gone`."""
        found, topics, paused, gone = [], {}, set(), []
        for target in json.loads(record.get("targets") or "[]"):
            channel = await self.data.registry.find_channel(str(target["chat"]))
            if channel is None:
                gone.append(str(target["chat"]))
                continue
            found.append(channel)
            topics[channel.chat] = target.get("topic")
            if channel.paused:
                paused.add(channel.chat)
        return Targets(found, topics, frozenset(paused), gone)

    async def card_text(self, card: str, record: dict[str, str], status: str) -> str:
        channels = (await self.channels(record)).found
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
            title, url = html.escape(article.title, quote=False), html.escape(article.url,
                                                                            quote=False)
            return f"{status}\n\n{title}\n{url}"
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
                           markup: InlineKeyboardMarkup | None) -> bool:
        """Show `status` above the post on the card; False when Telegram did not take it."""
        record = await self.record(card)
        if not record.get("card_message"):
            return True
        text = await self.card_text(card, record, status)
        chat = record["card_chat"]
        try:
            await bot.edit_message_text(text, chat_id=int(chat) if chat.lstrip("-").isdigit()
                                        else chat, message_id=int(record["card_message"]),
                                        reply_markup=markup,
                                        link_preview_options=LinkPreviewOptions(is_disabled=True))
        except TelegramError as exc:
            if "not modified" in str(exc).lower():
                return True
            logger.info("could not update review card %s: %s", card, exc)
            return False
        return True

    # -- decisions ----------------------------------------------------------------------------
    async def decide_publish(self, card: str, record: dict[str, str], user_id: int, name: str,
                             *, scheduled: bool = False) -> Decided:
        """Publish the piece: its channels' posts and its feed's subscribers' copies queued,
        each chat's fate recorded and the card closed, in one step (store.decisions).
        `scheduled`: only if the card is on the schedule and due."""
        targets = await self.channels(record)
        article = self.article(record)
        feed_id = record.get("feed_id", "")
        made, failed = self.data.publisher.deliveries(article, targets.found, feed_id=feed_id,
                                                      topics=targets.topics)
        first_seen = datetime.now(UTC)
        made += await subscriber_copies(self.redis, record.get("feed_url", ""), made,
                                        functools.partial(self._render_in, article, first_seen))
        fates = [ChatFate(chat, "skipped", CHANNEL_GONE, "not a configured channel any more")
                 for chat in targets.gone]
        fates += [ChatFate(chat, "skipped", UNRENDERABLE, reason) for chat, reason in failed]
        return await self.decisions.decide(keys.bot_review(card), Decision(
            expected=("scheduled",) if scheduled else DECIDABLE, state="published",
            user_id=user_id, name=name, url=article.url, uid=article.uid,
            identities=tuple(article.identity_keys or (article.uid,)), deliveries=tuple(made),
            paused=targets.paused, fates=tuple(fates),
            failed=tuple(targets.gone) + tuple(chat for chat, _ in failed),
            feed_url=record.get("feed_url", ""), feed_id=feed_id, card=card,
            due_only=scheduled, ttl_s=keys.REVIEW_TTL_S))

    async def decide_reject(self, card: str, record: dict[str, str], user_id: int,
                            name: str) -> Decided:
        """Reject the piece: each channel's fate says who rejected it; the card is closed."""
        article = self.article(record)
        fates = tuple(ChatFate(chat, "skipped", REJECTED, name) for chat in self._chats(record))
        return await self.decisions.decide(keys.bot_review(card), Decision(
            expected=DECIDABLE, state="rejected", user_id=user_id, name=name, url=article.url,
            uid=article.uid, fates=fates, feed_url=record.get("feed_url", ""),
            feed_id=record.get("feed_id", ""), card=card, ttl_s=keys.REVIEW_TTL_S))

    def _render_in(self, article: Article, first_seen: datetime, base: Delivery,
                   language: str) -> Delivery | None:
        """A subscriber's copy in the language they chose (as the poller makes it)."""
        channel = self.data.config.channel(base.chat)
        if channel is None or language not in ("ar", "en"):
            return None
        try:
            post = render_for(self.data.config, channel, article, first_seen,
                              language="ar" if language == "ar" else "en")
        except UnrenderableArticle:
            return None
        return in_language(base, post)

    def decided_status(self, record: dict[str, str]) -> Html:
        """What the card says once decided, from the record (so a card Telegram did not let us
        edit can be updated later with the same words)."""
        t = self.t
        who = record.get("decided_name") or record.get("decided_by") or "?"
        at = float(record.get("decided_at") or 0)
        if record.get("state") == "rejected":
            return t("✖️ Rejected by {who} at {time}.", who=who, time=self.local(at))
        scheduled = record.get("by_schedule") == "1"
        lines = []
        queued = json.loads(record.get("queued") or "[]")
        if queued:
            lines.append(t("✅ Published as scheduled to {chats} at {time} ({who}).",
                           chats=", ".join(queued), time=self.local(at), who=who) if scheduled
                         else t("✅ Published to {chats} at {time} ({who}).",
                                chats=", ".join(queued), time=self.local(at), who=who))
        held = json.loads(record.get("held") or "[]")
        if held:
            lines.append(t("⏸ Held while {chats} is paused; it goes out when the channel "
                           "resumes.", chats=", ".join(held)))
        duplicates = json.loads(record.get("duplicates") or "[]")
        if duplicates:
            lines.append(t("Already posted in {chats}.", chats=", ".join(duplicates)))
        failed = json.loads(record.get("failed") or "[]")
        if failed:
            lines.append(t("Not posted to {chats}.", chats=", ".join(failed)))
        if not lines:
            lines.append(t("Nothing was sent."))
        return Html("\n".join(lines))

    async def show_decided(self, bot: Bot, card: str) -> bool:
        """Update the card to show its decision; True once it does (or there is no card)."""
        record = await self.record(card)
        if record.get("state") in ("published", "rejected") and not await self.refresh_card(
                bot, card, self.decided_status(record), None):
            return False
        await self.decisions.shown(card)
        return True

    async def publish_due(self, bot: Bot, now: float | None = None) -> int:
        """Publish scheduled pieces that are due. The decision step itself checks that the card
        is still scheduled and due, so of several replicas exactly one publishes each, and a
        failure leaves the piece on the schedule for the next round."""
        now = time.time() if now is None else now
        due = [str(c) for c in await self.redis.zrangebyscore(
            keys.bot_review_schedule(), "-inf", now, start=0, num=20)]
        done = 0
        for card in due:
            record = await self.record(card)
            if not record:
                await self.redis.zrem(keys.bot_review_schedule(), card)
                continue
            decided_by = int(record.get("decided_by") or 0)
            who = record.get("decided_name") or str(decided_by)
            decided = await self.decide_publish(card, record, decided_by, who, scheduled=True)
            if decided.result != WON:
                continue  # another replica, or an editor's press, was first
            await self.data.audit.record(decided_by, who, "review.published_scheduled",
                                         f"{record.get('feed_url', '')} {self._url(record)} -> "
                                         f"{', '.join(decided.queued) or '-'}")
            logger.info("published as scheduled: %s -> %s", self._url(record),
                        ", ".join(decided.queued) or "-")
            await self.show_decided(bot, card)
            done += 1
        return done

    async def show_unshown(self, bot: Bot, now: float | None = None) -> int:
        """Cards decided more than `card_lease_s` ago that do not show their decision yet (the
        edit failed, or the bot stopped in between): update them now."""
        now = time.time() if now is None else now
        shown = 0
        for card in await self.decisions.unshown(now - self.card_lease_s):
            if await self.show_decided(bot, card):
                shown += 1
                self.stats["cards_updated_late"] += 1
                logger.info("review card %s updated late with its decision", card)
        return shown

    async def check_stale(self, now: float | None = None) -> bool:
        """Tell owners once when the inbox holds a piece older than `review_stale_after`; True
        when a notice was queued now. The notice key is cleared when no piece is that old, so
        the next such piece is told again."""
        now = time.time() if now is None else now
        age = self.data.config.review_stale_after
        oldest = await self.redis.zrange(keys.bot_review_open(), 0, 0, withscores=True)
        if not oldest or float(oldest[0][1]) > now - age:
            await self.redis.delete(keys.bot_review_stale_notice())
            return False
        card = str(oldest[0][0])
        if not await self.redis.set(keys.bot_review_stale_notice(), card, nx=True):
            return False
        count = await self.redis.zcount(keys.bot_review_open(), "-inf", now - age)
        await OwnerNotices(self.data.config, self.data.store).send(
            f"review-stale:{card}", review_stale_html(int(count), age))
        self.stats["stale_notices"] += 1
        logger.warning("review inbox: %d piece(s) waiting longer than %s; owners told",
                       count, format_duration(age))
        return True

    def local(self, when: float) -> str:
        return datetime.fromtimestamp(when, ZoneInfo(self.data.config.timezone)).strftime(
            "%Y/%m/%d %H:%M")

    def schedule_time(self, choice: str, now: float) -> float | None:
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
        """Replace the excerpt of an undecided card (in one step with the state check)."""
        return bool(await self._excerpt(keys=[keys.bot_review(card)],
                                        args=[",".join(OPEN_STATES), text]))


def _strip_tags(text: str) -> str:
    return _TAG.sub("", text)
