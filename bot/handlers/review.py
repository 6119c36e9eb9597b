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
from bot.review import OPEN_STATES
from store import keys
from store.decisions import GONE, LOST, WON, Decided

logger = logging.getLogger(__name__)

MAX_EXCERPT_CHARS = 1500
PROMPT = "prompt:"   # marks an edit prompt's card id (older cards mapped their own message too)


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
    record = await desk.record(card)
    if not record:
        await answer(update, t("This card has expired."), alert=True)
        return
    user = update.effective_user
    uid, name = (user.id if user else 0), user_label(update)
    now = time.time()
    url = desk._url(record)  # noqa: SLF001 - same package

    if action == "p":
        decided = await desk.decide_publish(card, record, uid, name)
        if decided.result != WON:
            await _decided(update, context, decided)
            return
        await answer(update, t("Published."))
        await context.data.audit.record(uid, name, "review.publish",
                                        f"{url} -> {', '.join(decided.queued) or '-'}")
        await desk.show_decided(context.bot, card)
        return

    if action == "s" and len(parts) == 3:
        if record.get("state") not in ("open",):
            await _decided(update, context, _as_decided(record))
            return
        await answer(update, t("Choose when to publish."))
        await _markup(query.message, desk.schedule_buttons(card))
        return

    if action == "s":
        when = desk.schedule_time(parts[3], now)
        if when is None:
            await answer(update, t("This button no longer works."))
            return
        decided = await desk.decisions.schedule(card, when, uid, name)
        if decided.result != WON:
            await _decided(update, context, decided)
            return
        await context.data.audit.record(uid, name, "review.schedule",
                                        f"{url} at {desk.local(when)}")
        await answer(update, t("Scheduled."))
        await desk.refresh_card(context.bot, card,
                                desk.t("🕒 Scheduled for {time} by {who}.", time=desk.local(when),
                                       who=name),
                                desk.buttons(card, scheduled=True))
        return

    if action == "u":
        decided = await desk.decisions.unschedule(card, uid, name)
        if decided.result != WON:
            await _decided(update, context, decided)
            return
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
        decided = await desk.decide_reject(card, record, uid, name)
        if decided.result != WON:
            await _decided(update, context, decided)
            return
        await context.data.audit.record(uid, name, "review.reject", url)
        await answer(update, t("Rejected."))
        await desk.show_decided(context.bot, card)
        return

    if action == "e":
        if record.get("state") not in OPEN_STATES:
            await _decided(update, context, _as_decided(record))
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
                                     PROMPT + card, ex=keys.REVIEW_TTL_S)
        return
    await answer(update, t("This button no longer works."))


def _as_decided(record: dict[str, str]) -> Decided:
    who = record.get("decided_name") or record.get("decided_by") or ""
    return Decided(LOST, record.get("state", ""), who)


async def _decided(update: Update, context: NashirContext, decided: Decided) -> None:
    """Tell a press that came too late what was decided and by whom (the decision step that
    refused this press read both, in the same step)."""
    t = await translator_for(update, context)
    who = decided.who or "?"
    if decided.result == GONE:
        text = t("This card has expired.")
    elif decided.state == "published":
        text = t("Already published by {who}.", who=who)
    elif decided.state == "rejected":
        text = t("Already rejected by {who}.", who=who)
    elif decided.state == "scheduled":
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
    """A reply to a card's excerpt prompt: the new excerpt."""
    message = update.message
    chat = update.effective_chat
    if message is None or chat is None or message.reply_to_message is None:
        return
    awaited = str(await context.data.redis.get(
        keys.bot_review_awaiting_edit(str(chat.id), message.reply_to_message.message_id))
        or "")
    # Only a reply to the bot's edit prompt is a new excerpt: a reply to the card itself (or
    # to anything else) is editors talking, and changes nothing.
    if not awaited.startswith(PROMPT):
        await stray_text(update, context)
        return
    card = awaited[len(PROMPT):]
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
    record = await desk.record(card)
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
