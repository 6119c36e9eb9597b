"""What runs before and after the commands: the per-user limit and size check, unknown
commands, stray text, and the error handler."""
from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.error import Forbidden, TelegramError
from telegram.ext import ApplicationHandlerStop

from bot.context import NashirContext
from bot.handlers.common import answer, reply, translator_for
from bot.i18n import translator
from store.subscriptions import forget_chat

logger = logging.getLogger(__name__)


async def gate(update: Update, context: NashirContext) -> None:
    """Per-user command limit and input size, before any handler runs."""
    user = update.effective_user
    if user is None or user.is_bot or update.my_chat_member is not None:
        return
    data = context.data
    decision = await data.limiter.hit(user.id)
    if not decision.allowed:
        logger.warning("user %s over the command limit; dropped", user.id,
                       extra={"user_id": user.id})
        if decision.tell:
            t = await translator_for(update, context)
            text = t.n("Too many commands at once. Wait {count} second, then try again.",
                       "Too many commands at once. Wait {count} seconds, then try again.",
                       decision.retry_in)
            if update.callback_query is not None:
                await answer(update, text, alert=True)
            else:
                await reply(update, text)
        raise ApplicationHandlerStop
    message = update.message
    typed = message.text or message.caption if message is not None else None
    if typed and len(typed) > data.max_input_chars:
        t = await translator_for(update, context)
        await reply(update, t("That message is too long for me ({length}; at most {limit}).",
                              length=t.counted("{count} character", "{count} characters",
                                               len(typed)),
                              limit=data.max_input_chars))
        raise ApplicationHandlerStop


async def unknown_command(update: Update, context: NashirContext) -> None:
    message = update.message
    if message is None or not message.text:
        return
    command = message.text.split()[0]
    if "@" in command and command.split("@", 1)[1].lower() != (context.bot.username or "").lower():
        return  # addressed to another bot in a group
    t = await translator_for(update, context)
    await reply(update, t("I do not know that command. /help lists what I can do."))


async def channel_command(update: Update, context: NashirContext) -> None:
    """A command of ours posted in a channel. Telegram delivers channel posts as posts, without
    a sender, so nobody can be recognised as an editor or administrator there: nothing is done,
    and the channel is told where commands work (at most the command limit per channel)."""
    post = update.channel_post
    chat = update.effective_chat
    if post is None or chat is None or not post.text:
        return
    _, _, addressee = post.text.split()[0].partition("@")
    if addressee and addressee.lower() != (context.bot.username or "").lower():
        return  # a command for another bot
    logger.warning("command posted in channel %s ignored: %r", chat.id, (post.text or "")[:40],
                   extra={"chat": str(chat.id)})
    decision = await context.data.limiter.hit(chat.id)
    if not decision.allowed:
        return
    channel = await context.data.registry.find_channel(str(chat.id))
    if channel is None and chat.username:
        channel = await context.data.registry.find_channel(f"@{chat.username}")
    t = translator(channel.language if channel is not None else "en")
    try:
        await post.reply_text(t("I do not take commands in channels. Write to me in a private "
                                "chat; /help there lists what I can do."), do_quote=True)
    except TelegramError as exc:  # the bot may not be allowed to post here
        logger.info("could not answer the command in channel %s: %s", chat.id, exc)


async def stray_text(update: Update, context: NashirContext) -> None:
    """Plain text in a private chat that no other handler took."""
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE:
        return
    t = await translator_for(update, context)
    await reply(update, t("I answer commands. /help lists them."))


async def on_error(update: object, context: NashirContext) -> None:
    error = context.error
    if not isinstance(update, Update):
        logger.error("error outside an update: %r", error, exc_info=error)
        return
    chat = update.effective_chat
    if isinstance(error, Forbidden) and chat is not None and chat.type == ChatType.PRIVATE:
        count = await forget_chat(context.data.redis, str(chat.id))
        logger.info("chat %s blocked the bot; %d subscriptions dropped", chat.id, count)
        return
    logger.error("error while handling an update: %r", error, exc_info=error)
    if chat is None:
        return
    try:
        t = await translator_for(update, context)
        text = t("Something went wrong on my side. Try again in a moment.")
        if update.callback_query is not None:
            await answer(update, text, alert=True)
        else:
            await reply(update, text)
    except (TelegramError, Exception) as exc:  # noqa: BLE001 - never raise from the error handler
        logger.info("could not tell the user about the error: %r", exc)
