"""Review cards (buttons and excerpt replies) and OPML files sent to the bot.

Callback data of cards: ``r:<card>:p`` publish now, ``r:<card>:s`` schedule (then
``r:<card>:s:<minutes|t8>``), ``r:<card>:u`` unschedule, ``r:<card>:b`` back, ``r:<card>:e``
edit the excerpt, ``r:<card>:x`` reject."""
from __future__ import annotations

import logging
import time

from telegram import ForceReply, Message, Update
from telegram.error import TelegramError

from bot.context import NashirContext
from bot.handlers.common import answer, editor_button, is_editor, reply, translator_for, user_label
from bot.handlers.errors import stray_text
from bot.pending import Claim
from store import keys

logger = logging.getLogger(__name__)

MAX_EXCERPT_CHARS = 1500


async def card_pressed(update: Update, context: NashirContext) -> None:
    query = update.callback_query
    if query is None:
        return
    desk = context.data.review
    t = await translator_for(update, context)
    parts = await editor_button(update, context, t, "review")
    if parts is None:
        return
    card, action = parts[1], parts[2]
    key = keys.bot_review(card)
    record = await context.data.redis.hgetall(key)
    if not record:
        await answer(update, t("This card has expired."), alert=True)
        return
    user = update.effective_user
    uid, name = (user.id if user else 0), user_label(update)
    now = time.time()
    url = desk._url(record)  # noqa: SLF001 - same package

    if action == "p":
        if not await _decide(update, context, card, record, "publishing", uid, name):
            return
        queued, duplicates, failed = await desk.publish(card, record)
        await context.data.redis.hset(key, "state", "published")
        await answer(update, t("Published."))
        await context.data.audit.record(uid, name, "review.publish",
                                        f"{url} -> {', '.join(queued) or '-'}")
        status = await desk.outcome_status(queued, duplicates, failed, name, desk.local(now))
        await desk.refresh_card(context.bot, card, status, None)
        return

    if action == "s" and len(parts) == 3:
        if record.get("state") not in ("open",):
            await _decided(update, context, record)
            return
        await answer(update, t("Choose when to publish."))
        await _markup(query.message, desk.schedule_buttons(card))
        return

    if action == "s":
        when = desk.schedule_time(parts[3], now)
        if when is None:
            await answer(update, t("This button no longer works."))
            return
        if not await _claim(update, context, key, record, ["open"], "scheduled", uid, name):
            return
        await context.data.redis.hset(key, "scheduled_for", when)
        await context.data.redis.zadd(keys.bot_review_schedule(), {card: when})
        await context.data.audit.record(uid, name, "review.schedule",
                                        f"{url} at {desk.local(when)}")
        await answer(update, t("Scheduled."))
        await desk.refresh_card(context.bot, card,
                                desk.t("🕒 Scheduled for {time} by {who}.", time=desk.local(when),
                                       who=name),
                                desk.buttons(card, scheduled=True))
        return

    if action == "u":
        if not await _claim(update, context, key, record, ["scheduled"], "open", uid):
            return
        await context.data.redis.zrem(keys.bot_review_schedule(), card)
        await context.data.audit.record(uid, name, "review.unschedule", url)
        await answer(update, t("Unscheduled."))
        await desk.refresh_card(context.bot, card,
                                desk.t("📝 <b>For review</b> → {chats}",
                                       chats=", ".join(desk._chats(record))),  # noqa: SLF001
                                desk.buttons(card))
        return

    if action == "b":
        await answer(update, "")
        scheduled = record.get("state") == "scheduled"
        await _markup(query.message, desk.buttons(card, scheduled=scheduled)
                      if record.get("state") in ("open", "scheduled") else None)
        return

    if action == "x":
        if not await _decide(update, context, card, record, "rejected", uid, name):
            return
        await context.data.audit.record(uid, name, "review.reject", url)
        await answer(update, t("Rejected."))
        await desk.refresh_card(context.bot, card,
                                desk.t("✖️ Rejected by {who} at {time}.", who=name,
                                       time=desk.local(now)), None)
        return

    if action == "e":
        if record.get("state") not in ("open", "scheduled"):
            await _decided(update, context, record)
            return
        await answer(update, t("Reply with the new excerpt."))
        chat = update.effective_chat
        if chat is None:
            return
        prompt = await chat.send_message(
            t.n("Reply to this message with the new excerpt (at most {count} character).",
                "Reply to this message with the new excerpt (at most {count} characters).",
                MAX_EXCERPT_CHARS),
            reply_markup=ForceReply(selective=True))
        await context.data.redis.set(keys.bot_review_awaiting_edit(str(chat.id),
                                                                   prompt.message_id),
                                     card, ex=keys.REVIEW_TTL_S)
        return
    await answer(update, t("This button no longer works."))


async def _claim(update: Update, context: NashirContext, key: str, record: dict[str, str],
                 expected: list[str], new_state: str, uid: int, name: str = "") -> bool:
    """Move the card from one of the `expected` states to `new_state`; False when another
    press was first (this user is then told who decided: the winner's name is written in the
    same step as its state, so the record read after losing names it)."""
    if await context.data.pending.claim(key, expected, new_state, uid, name) == Claim.WON:
        return True
    await _decided(update, context, await context.data.pending.get(key) or record)
    return False


async def _decide(update: Update, context: NashirContext, card: str, record: dict[str, str],
                  new_state: str, uid: int, name: str) -> bool:
    """Publish or reject: claim an open or scheduled card for `new_state`, take it off the
    schedule and record who decided; False when another press was first."""
    key = keys.bot_review(card)
    if not await _claim(update, context, key, record, ["open", "scheduled"], new_state, uid,
                        name):
        return False
    await context.data.redis.zrem(keys.bot_review_schedule(), card)
    return True


async def _decided(update: Update, context: NashirContext, record: dict[str, str]) -> None:
    t = await translator_for(update, context)
    who = record.get("decided_name") or record.get("decided_by") or "?"
    state = record.get("state", "")
    if state in ("published", "publishing"):
        text = t("Already published by {who}.", who=who)
    elif state == "rejected":
        text = t("Already rejected by {who}.", who=who)
    elif state == "scheduled":
        text = t("Already scheduled by {who}.", who=who)
    else:
        text = t("Someone else decided first.")
    await answer(update, text, alert=True)


async def _markup(message: object, markup: object) -> None:
    if not isinstance(message, Message):
        return
    try:
        await message.edit_reply_markup(markup)  # type: ignore[arg-type]
    except TelegramError as exc:
        logger.info("could not change the card's buttons: %s", exc)


async def reply_received(update: Update, context: NashirContext) -> None:
    """A reply to a review card or to its excerpt prompt: the new excerpt."""
    message = update.message
    chat = update.effective_chat
    if message is None or chat is None or message.reply_to_message is None:
        return
    card = await context.data.redis.get(
        keys.bot_review_awaiting_edit(str(chat.id), message.reply_to_message.message_id))
    if card is None:
        await stray_text(update, context)
        return
    t = await translator_for(update, context)
    if not await is_editor(update, context):
        await reply(update, t("Sorry, this is for the publication's editors. "
                              "Send /help to see what you can do."))
        return
    text = (message.text or "").strip()
    if not text or len(text) > MAX_EXCERPT_CHARS:
        await reply(update, t.n("The excerpt must be between 1 and {count} character.",
                                "The excerpt must be between 1 and {count} characters.",
                                MAX_EXCERPT_CHARS))
        return
    desk = context.data.review
    if not await desk.set_excerpt(card, text):
        await reply(update, t("That piece was already decided; the excerpt was not changed."))
        return
    user = update.effective_user
    name = user_label(update)
    record = await context.data.redis.hgetall(keys.bot_review(card))
    await context.data.audit.record(user.id if user else 0, name, "review.edit_excerpt",
                                    desk._url(record))  # noqa: SLF001
    scheduled = record.get("state") == "scheduled"
    status = (desk.t("🕒 Scheduled for {time}; excerpt edited by {who}.",
                     time=desk.local(float(record.get("scheduled_for") or 0)), who=name)
              if scheduled else
              desk.t("📝 <b>For review</b> → {chats}; excerpt edited by {who}.",
                     chats=", ".join(desk._chats(record)), who=name))  # noqa: SLF001
    await desk.refresh_card(context.bot, card, status, desk.buttons(card, scheduled=scheduled))
    await reply(update, t("✅ Excerpt updated on the card."))


async def document_received(update: Update, context: NashirContext) -> None:
    """An OPML file from an editor: import its feeds (see bot.opml)."""
    from bot.opml import import_document

    if not await is_editor(update, context):
        t = await translator_for(update, context)
        chat = update.effective_chat
        if chat is not None and chat.type == "private":
            await reply(update, t("Sorry, this is for the publication's editors. "
                                  "Send /help to see what you can do."))
        return
    await import_document(update, context)
