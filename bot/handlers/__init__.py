"""The bot's handlers, registered on the Application in one place.

Group -1 runs first for every update (the per-user limit and size check); group 0 holds the
commands and buttons; the last handlers catch unknown commands and stray text."""
from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.handlers import (
    channels,
    editor,
    errors,
    held,
    owner,
    push,
    review,
    status,
    subscriber,
    why,
)
from bot.handlers.common import requires
from bot.services import Role


def register_handlers(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    editor_only = requires(Role.EDITOR)
    owner_only = requires(Role.OWNER)
    application.add_handler(TypeHandler(Update, errors.gate), group=-1)

    commands = {
        "start": subscriber.start,
        "help": subscriber.help_command,
        "lang": subscriber.lang,
        "subscribe": subscriber.subscribe_command,
        "unsubscribe": subscriber.unsubscribe_command,
        "list": subscriber.list_command,
        "push": editor_only(push.push),
        "feeds": editor_only(editor.feeds_command),
        "addfeed": editor_only(editor.addfeed),
        "removefeed": editor_only(editor.removefeed),
        "pause": editor_only(editor.pause),
        "resume": editor_only(editor.resume),
        "channels": editor_only(channels.channels_command),
        "status": editor_only(status.status),
        "why": editor_only(why.why_command),
        "editors": owner_only(owner.editors),
        "addeditor": owner_only(owner.addeditor),
        "removeeditor": owner_only(owner.removeeditor),
        "release": owner_only(held.release_command),
    }
    for name, callback in commands.items():
        application.add_handler(CommandHandler(name, callback))

    application.add_handler(CallbackQueryHandler(subscriber.lang_chosen, pattern=r"^lang:"))
    application.add_handler(CallbackQueryHandler(subscriber.subscription_pressed,
                                                 pattern=r"^s:"))
    application.add_handler(CallbackQueryHandler(push.push_pressed, pattern=r"^p:"))
    application.add_handler(CallbackQueryHandler(editor_only(editor.feeds_pressed),
                                                 pattern=r"^f:"))
    application.add_handler(CallbackQueryHandler(editor_only(editor.addfeed_pressed),
                                                 pattern=r"^a:"))
    application.add_handler(CallbackQueryHandler(review.card_pressed, pattern=r"^r:"))
    application.add_handler(CallbackQueryHandler(stale_button))
    application.add_handler(ChatMemberHandler(subscriber.my_chat_member,
                                              ChatMemberHandler.MY_CHAT_MEMBER))
    # Our commands posted in a channel (a post that merely starts with "/" is not one).
    ours = "|".join(sorted(commands))
    application.add_handler(MessageHandler(
        filters.UpdateType.CHANNEL_POST & filters.Regex(rf"^/(?:{ours})(?:@\w+)?(?:\s|$)"),
        errors.channel_command))
    application.add_handler(MessageHandler(filters.Document.ALL, review.document_received))
    application.add_handler(MessageHandler(filters.COMMAND, errors.unknown_command))
    application.add_handler(MessageHandler(filters.REPLY & filters.TEXT, review.reply_received))
    application.add_handler(MessageHandler(filters.TEXT, errors.stray_text))
    application.add_error_handler(errors.on_error)


async def stale_button(update: Update, context: Any) -> None:
    """A press on a button this version does not know (an old message)."""
    from bot.handlers.common import answer, translator_for

    t = await translator_for(update, context)
    await answer(update, t("This button no longer works."))
