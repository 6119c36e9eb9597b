"""/channels: list, add (the bot must be an admin that may post) and remove channels."""
from __future__ import annotations

import logging

from telegram import ChatMember, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden

from bot.context import NashirContext
from bot.handlers.common import (
    check_chat,
    reply,
    translator_for,
    user_label,
)
from bot.i18n import Translator
from bot.reply_limits import fit_reply
from config.languages import LANGUAGES
from config.schema import ChannelConfig
from guards.urls import display_url

logger = logging.getLogger(__name__)

# -- /channels ---------------------------------------------------------------------------------

async def channels_command(update: Update, context: NashirContext) -> None:
    t = await translator_for(update, context)
    args = context.args or []
    if args and args[0].lower() == "add":
        await _add_channel(update, context, t, args[1:])
        return
    if args and args[0].lower() == "remove":
        await _remove_channel(update, context, t, args[1:])
        return
    if args:
        await reply(update, t("Usage: /channels, /channels add CHANNEL [ar|en|fa|ur|he], "
                              "/channels remove CHANNEL"))
        return
    registry = context.data.registry
    config = await registry.current()
    blocks = []
    for channel in config.channels:
        source = t.raw("config file") if registry.is_declared_channel(channel.chat) else \
            t.raw("added by command")
        state = t.raw("paused") if channel.paused else t.raw("active")
        blocks.append([t("• {chat} ({lang}): {state}, {source}", chat=channel.chat,
                         lang=channel.language, state=state, source=source)])
    if not config.channels:
        blocks.append([t("No channels yet.")])
    await reply(update, fit_reply(t, [t("<b>Channels</b>")], blocks, [
        t("Add one with /channels add CHANNEL [ar|en|fa|ur|he] after making me an "
          "administrator there with the right to post.")]))


def _bot_may_post(member: ChatMember, chat_type: str) -> bool:
    status = member.status
    if status == ChatMember.OWNER:
        return True
    if chat_type == ChatType.CHANNEL:
        return status == ChatMember.ADMINISTRATOR and bool(
            getattr(member, "can_post_messages", False))
    if status == ChatMember.ADMINISTRATOR:
        return True
    if status == ChatMember.RESTRICTED:
        return bool(getattr(member, "can_send_messages", False))
    return status == ChatMember.MEMBER


async def _add_channel(update: Update, context: NashirContext, t: Translator,
                       args: list[str]) -> None:
    if not 1 <= len(args) <= 2:
        await reply(update, t("Usage: /channels add CHANNEL [ar|en|fa|ur|he]"))
        return
    chat = check_chat(args[0])
    if chat is None:
        await reply(update, t("A channel is written @name or as a numeric id like "
                              "-1001234567890."))
        return
    language = args[1].lower() if len(args) == 2 else "ar"
    if language not in LANGUAGES:
        await reply(update, t("{language} is not a language channels can have; use one of: "
                              "{languages}.", language=language,
                              languages=", ".join(LANGUAGES)))
        return
    registry = context.data.registry
    if await registry.find_channel(chat) is not None:
        await reply(update, t("{chat} is already one of the channels.", chat=chat))
        return
    bot = context.bot
    chat_id: int | str = int(chat) if chat.lstrip("-").isdigit() else chat
    try:
        found = await bot.get_chat(chat_id)
        member = await bot.get_chat_member(found.id, bot.id)
    except (BadRequest, Forbidden) as exc:
        logger.info("channel check failed for %s: %s", chat, exc)
        await reply(update, t("I cannot see {chat}. Add me to it as an administrator with the "
                              "right to post, then try again.", chat=chat))
        return
    if found.type == ChatType.PRIVATE:
        await reply(update, t("{chat} is a person, not a channel or group.", chat=chat))
        return
    if not _bot_may_post(member, found.type):
        await reply(update, t("I am not allowed to post in {chat}. Make me an administrator "
                              "with the right to post messages, then try again.", chat=chat))
        return
    user = update.effective_user
    uid = user.id if user else 0
    await registry.add_channel(ChannelConfig(chat=chat, language=language),
                               title=found.title or chat, user_id=uid)
    await context.data.audit.record(uid, user_label(update), "channel.add",
                                    f"{chat} ({language})")
    await reply(update, t("✅ Channel added: {chat} ({title}), posts in {lang}.", chat=chat,
                          title=found.title or chat, lang=language))


async def _remove_channel(update: Update, context: NashirContext, t: Translator,
                          args: list[str]) -> None:
    chat = check_chat(args[0]) if len(args) == 1 else None
    if chat is None:
        await reply(update, t("Usage: /channels remove CHANNEL"))
        return
    registry = context.data.registry
    channel = await registry.find_channel(chat)
    if channel is None:
        await reply(update, t("I do not know the channel {chat}. /channels lists them.",
                              chat=chat))
        return
    if registry.is_declared_channel(channel.chat):
        await reply(update, t("That channel is in the config file; remove it there, or /pause "
                              "it."))
        return
    config = await registry.current()
    targeting = [f.url for f in config.feeds if any(t_.chat == channel.chat for t_ in f.channels)]
    if targeting:
        # Removing it would leave these feeds posting nowhere: their items would be lost.
        await reply(update, fit_reply(
            t, [t("{chat} still gets the posts of these feeds; remove them first (/removefeed "
                  "URL), or /pause the channel:", chat=channel.chat)],
            [[t("• {url}", url=display_url(url))] for url in targeting]))
        return
    await registry.remove_channel(channel.chat)
    user = update.effective_user
    await context.data.audit.record(user.id if user else 0, user_label(update),
                                    "channel.remove", channel.chat)
    await reply(update, t("✅ Channel removed: {chat}", chat=channel.chat))
