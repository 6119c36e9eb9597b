"""Held posts come back: /release CHAT (owners), and the moments a blocked chat is open again
(the bot added back, the user's /start or /subscribe) release it at once (delivery/held.py).
Posts held because a channel is paused are not touched (/resume releases them)."""
from __future__ import annotations

import logging
import re

from telegram import ChatMember, Update
from telegram.constants import ChatType
from telegram.error import TelegramError

from bot.context import NashirContext
from bot.handlers.common import reply, translator_for, user_label
from delivery.held import chats_of, release_chat

logger = logging.getLogger(__name__)

_BIDI = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")
_CHAT_ARG = re.compile(r"^(?:@[A-Za-z][A-Za-z0-9_]{3,31}|-?\d{1,20})$")


async def release_command(update: Update, context: NashirContext) -> None:
    """/release CHAT: the chat's held posts go back to the queue, in order; says how many."""
    t = await translator_for(update, context)
    args = context.args or []
    # The owners' notice shows the chat in an isolate: a copied argument may carry its marks.
    chat = _BIDI.sub("", args[0]).strip() if len(args) == 1 else ""
    if not _CHAT_ARG.match(chat):
        await reply(update, t("Usage: /release CHAT (@name or numeric id)"))
        return
    names = [chat]
    try:  # a channel held by its @name can be released by its number, and the other way round
        found = await context.bot.get_chat(int(chat) if chat.lstrip("-").isdigit() else chat)
        names = list(dict.fromkeys([chat, *chats_of(found.id, found.username)]))
    except TelegramError as exc:
        logger.info("could not look up %s (%s); releasing it by that name only", chat, exc)
    me = update.effective_user
    moved = 0
    for name in names:
        moved += await release_chat(context.data.redis, name,
                                    f"released by {user_label(update)} with /release")
    await context.data.audit.record(me.id if me else 0, user_label(update), "held.release",
                                    f"{chat}: {moved}")
    if not moved:
        await reply(update, t("Nothing was held for {chat}.", chat=chat))
        return
    await reply(update, t.n("{count} held post of {chat} went back to the queue; it is posted "
                            "in order.",
                            "{count} held posts of {chat} went back to the queue; they are "
                            "posted in order.", moved, chat=chat))


async def release_private(update: Update, context: NashirContext, why: str) -> int:
    """The user wrote to the bot in private (/start, /subscribe): the bot may post to them
    again, so whatever was held for them goes out now."""
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE:
        return 0
    return await release_chat(context.data.redis, str(chat.id), why)


async def release_if_added(update: Update, context: NashirContext) -> int:
    """The bot was added back to a chat where it may post (admin of a channel; member or admin
    of a group; unblocked by a user): release that chat now."""
    change = update.my_chat_member
    if change is None:
        return 0
    status = change.new_chat_member.status
    chat = change.chat
    may_post = {ChatMember.ADMINISTRATOR, ChatMember.OWNER}
    if chat.type != ChatType.CHANNEL:
        may_post.add(ChatMember.MEMBER)
    if status not in may_post:
        return 0
    moved = 0
    for name in chats_of(chat.id, chat.username):
        moved += await release_chat(context.data.redis, name,
                                    f"the bot is {status} of the chat again")
    return moved
