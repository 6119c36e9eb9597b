"""The command lists Telegram shows (setMyCommands): subscribers', editors' and owners', in
English and Arabic, set per scope."""
from __future__ import annotations

import logging
from collections.abc import Sequence

from telegram import (
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
)
from telegram.error import TelegramError
from telegram.ext import ExtBot

from bot.context import NashirApp
from bot.i18n import N_, translator

logger = logging.getLogger(__name__)


SUBSCRIBER_COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", N_("Welcome and what I do")),
    ("help", N_("The commands")),
    ("subscribe", N_("Get a feed's posts here")),
    ("unsubscribe", N_("Stop a feed's posts here")),
    ("list", N_("Your subscriptions")),
    ("lang", N_("Choose the language")),
)
EDITOR_COMMANDS: tuple[tuple[str, str], ...] = (
    ("push", N_("Post an article: /push URL [CHANNEL]")),
    ("feeds", N_("The feeds")),
    ("addfeed", N_("Follow a feed: /addfeed URL CHANNEL")),
    ("removefeed", N_("Stop following a feed: /removefeed URL")),
    ("pause", N_("Pause a feed or a channel")),
    ("resume", N_("Resume a feed or a channel")),
    ("channels", N_("The channels; /channels add CHANNEL")),
    ("status", N_("Queue, feeds, posts and last actions")),
    ("why", N_("What became of an article: /why URL")),
)
OWNER_COMMANDS: tuple[tuple[str, str], ...] = (
    ("editors", N_("The editors")),
    ("addeditor", N_("Make a user an editor: /addeditor ID")),
    ("removeeditor", N_("Remove an editor: /removeeditor ID")),
    ("release", N_("Send a chat's held posts now: /release CHAT")),
)


def command_list(lang: str, *groups: Sequence[tuple[str, str]]) -> list[BotCommand]:
    t = translator(lang)
    return [BotCommand(name, t.raw(description)) for group in groups for name, description in group]


async def _set_commands(bot: ExtBot[None], scope: BotCommandScope,
                        groups: Sequence[Sequence[tuple[str, str]]]) -> None:
    await bot.set_my_commands(command_list("en", *groups), scope=scope)
    await bot.set_my_commands(command_list("ar", *groups), scope=scope, language_code="ar")


async def register_commands(application: NashirApp) -> None:
    """setMyCommands for subscribers (all private chats), each editor's and owner's private
    chat, and the review group; in English and (language_code=ar) Arabic."""
    data = application.bot_data
    bot = application.bot
    await _set_commands(bot, BotCommandScopeAllPrivateChats(), [SUBSCRIBER_COMMANDS])
    editors = set(data.config.editors) | set(await data.roles.added_editors())
    for user_id in sorted(editors - set(data.config.owners)):
        await register_editor_commands(application, user_id)
    for user_id in data.config.owners:
        await register_editor_commands(application, user_id, owner=True)
    if data.config.review_chat:
        chat = data.config.review_chat
        chat_id: int | str = int(chat) if chat.lstrip("-").isdigit() else chat
        await _scope_commands(bot, BotCommandScopeChat(chat_id),
                              [SUBSCRIBER_COMMANDS, EDITOR_COMMANDS])


async def register_editor_commands(application: NashirApp, user_id: int, *,
                                   owner: bool = False) -> None:
    groups = [SUBSCRIBER_COMMANDS, EDITOR_COMMANDS] + ([OWNER_COMMANDS] if owner else [])
    await _scope_commands(application.bot, BotCommandScopeChat(user_id), groups)


async def unregister_editor_commands(application: NashirApp, user_id: int) -> None:
    for language in ("", "ar"):
        try:
            await application.bot.delete_my_commands(scope=BotCommandScopeChat(user_id),
                                                     language_code=language or None)
        except TelegramError as exc:
            logger.info("could not drop the command list of %s: %s", user_id, exc)


async def _scope_commands(bot: ExtBot[None], scope: BotCommandScope,
                          groups: Sequence[Sequence[tuple[str, str]]]) -> None:
    # A user who never opened a chat with the bot has no chat yet: Telegram refuses the scope.
    try:
        await _set_commands(bot, scope, groups)
    except TelegramError as exc:
        logger.info("command list for %s not set: %s", getattr(scope, "chat_id", scope), exc)
