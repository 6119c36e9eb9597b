"""Everyone's commands: /start, /help, /lang, /subscribe, /unsubscribe, /list."""
from __future__ import annotations

import logging

from telegram import ChatMember, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType
from telegram.error import TelegramError

from bot.context import NashirContext
from bot.handlers.common import allowed, answer, edit, join_lines, reply, translator_for
from bot.handlers.held import release_if_added, release_private
from bot.i18n import clean_value, translator
from bot.reply_limits import fit_reply
from bot.services import Role
from formatters.text import clean_inline
from guards.urls import display_url
from model.article import feed_id_for
from store.subscriptions import forget_chat, subscribe, subscriptions_of, unsubscribe

logger = logging.getLogger(__name__)


async def start(update: Update, context: NashirContext) -> None:
    await release_private(update, context, "the user sent /start")
    t = await translator_for(update, context)
    lines: list[str] = [
        t("<b>Welcome!</b> I bring the publication's long reads to Telegram."),
        t("Choose what you want with /subscribe; the posts then arrive here. /help lists "
          "everything."),
    ]
    user, chat = update.effective_user, update.effective_chat
    if user is not None and chat is not None and chat.type == "private":
        # An operator needs this number for owners: / editors: in the config; only the user
        # sees it, in their own chat with the bot.
        lines += ["", t("Your Telegram user id is {user_id} (for owners: or editors: in the "
                        "bot's config).", user_id=str(user.id))]
    await reply(update, join_lines(t, lines))


async def help_command(update: Update, context: NashirContext) -> None:
    t = await translator_for(update, context)
    user = update.effective_user
    role = await context.data.roles.role(user.id if user else None)
    lines: list[str] = [
        t("<b>Commands</b>"),
        t("/subscribe: get a feed's posts here"),
        t("/unsubscribe: stop a feed's posts"),
        t("/list: your subscriptions"),
        t("/lang: choose Arabic or English"),
    ]
    if allowed(role, Role.EDITOR):
        lines += [
            "",
            t("<b>Editors</b>"),
            t("/push URL [CHANNEL]: preview an article, then publish it"),
            t("/feeds: the feeds; /addfeed URL CHANNEL; /removefeed URL"),
            t("/pause and /resume a feed (URL) or a channel (@name)"),
            t("/channels: the channels; /channels add CHANNEL [ar|en|fa|ur|he]; "
              "/channels remove CHANNEL"),
            t("/status: queue, feeds, posts today and the last actions"),
            t("/why URL: what became of an article in each channel, and why"),
        ]
    if allowed(role, Role.OWNER):
        lines += ["", t("<b>Owners</b>"),
                  t("/editors; /addeditor ID; /removeeditor ID"),
                  t("/release CHAT: send the posts held for a chat now")]
    await reply(update, join_lines(t, lines))


async def lang(update: Update, context: NashirContext) -> None:
    t = await translator_for(update, context)
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("العربية", callback_data="lang:ar"),
                                    InlineKeyboardButton("English", callback_data="lang:en")]])
    await reply(update, t("Choose the language of my replies:"), markup=markup)


async def lang_chosen(update: Update, context: NashirContext) -> None:
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return
    choice = (query.data or "").split(":", 1)[-1]
    if choice not in ("ar", "en"):
        await answer(update, "?")
        return
    await context.data.languages.set(user.id, choice)
    t = translator(choice)
    await answer(update, t("Language saved."))
    await edit(query.message if isinstance(query.message, Message) else None,
               t("From now on I reply in this language."))


# -- subscriptions -------------------------------------------------------------------------------

async def _feed_choices(context: NashirContext) -> list[tuple[str, str]]:
    """(feed_id, title) of every feed subscribers may choose, in config order. Titles come from
    the feeds themselves: cleaned as posts are (no bidi controls, zero-width or control
    characters) and, where a feed has none, its address with any credential masked."""
    config = await context.data.registry.current()
    titles = await context.data.registry.feed_titles()
    choices = []
    for feed in config.feeds:
        feed_id = feed_id_for(feed.url)
        title = clean_inline(titles.get(feed_id) or "")
        choices.append((feed_id, title if title and title != feed.url else display_url(feed.url)))
    return choices


async def may_change_subscriptions(update: Update, context: NashirContext) -> bool:
    """Whether the sender may change the subscriptions of the chat the update comes from:
    anyone in a private chat; in a group or supergroup only its administrators (asked of
    Telegram with getChatMember), or an anonymous administrator writing as the group."""
    chat = update.effective_chat
    user = update.effective_user
    if chat is None:
        return False
    if chat.type == ChatType.PRIVATE:
        return True
    if chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
        return False
    message = update.message
    if message is not None and message.sender_chat is not None:
        # Anonymous administrators write as the group itself; anyone else writing as a chat
        # (a channel) is not an administrator of this group.
        return message.sender_chat.id == chat.id
    if user is None:
        return False
    try:
        member = await context.bot.get_chat_member(chat.id, user.id)
    except TelegramError as exc:
        logger.info("could not check whether %s administers %s: %s", user.id, chat.id, exc)
        return False
    return member.status in (ChatMember.OWNER, ChatMember.ADMINISTRATOR)


async def _refuse_group_change(update: Update, context: NashirContext) -> bool:
    """True (after a polite refusal, logged) when a group member who is not an administrator
    tries to change the group's subscriptions."""
    if await may_change_subscriptions(update, context):
        return False
    user, chat = update.effective_user, update.effective_chat
    logger.warning("refused a subscription change in chat %s to user %s (not an administrator)",
                   chat.id if chat else None, user.id if user else None,
                   extra={"chat": str(chat.id) if chat else "",
                          "user": user.id if user else None})
    t = await translator_for(update, context)
    text = t("Only this group's administrators can change its subscriptions.")
    if update.callback_query is not None:
        await answer(update, text, alert=True)
    else:
        await reply(update, text)
    return True


# Feeds per keyboard: Telegram refuses more than 100 buttons (and about 10 kB of markup) under
# one message, and a publication may have hundreds of feeds.
SUBSCRIBE_PAGE_SIZE = 10
_MAX_PAGE = 999


def _subscribe_markup(choices: list[tuple[str, str]], mine: set[str], *,
                      removing: bool, page: int = 0) -> InlineKeyboardMarkup:
    """One page of feed buttons (`s:+:<feed>:<page>` or `s:-:…`), with ◀ ▶ (`s:n:<page>`,
    `s:m:<page>` when removing) when there are more."""
    listed = [c for c in choices if not removing or c[0] in mine]
    pages = max(1, -(-len(listed) // SUBSCRIBE_PAGE_SIZE))
    page = max(0, min(page, pages - 1))
    action = "-" if removing else "+"
    rows = []
    for feed_id, title in listed[page * SUBSCRIBE_PAGE_SIZE:(page + 1) * SUBSCRIBE_PAGE_SIZE]:
        mark = "✓ " if feed_id in mine and not removing else ""
        label = mark + clean_value(title, 60 - len(mark))
        rows.append([InlineKeyboardButton(label,
                                          callback_data=f"s:{action}:{feed_id}:{page}")])
    turn = "m" if removing else "n"
    nav = []
    if page > 0:
        nav.append(InlineKeyboardButton("◀", callback_data=f"s:{turn}:{page - 1}"))
    if page < pages - 1:
        nav.append(InlineKeyboardButton("▶", callback_data=f"s:{turn}:{page + 1}"))
    if nav:
        rows.append(nav)
    return InlineKeyboardMarkup(rows)


def _page_number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and int(text) <= _MAX_PAGE else None


async def _subscriptions(update: Update, context: NashirContext) -> set[str]:
    """Feed ids the chat of the update is subscribed to."""
    chat = str(update.effective_chat.id) if update.effective_chat else ""
    return await subscriptions_of(context.data.redis, chat)


async def subscribe_command(update: Update, context: NashirContext) -> None:
    await release_private(update, context, "the user sent /subscribe")
    if await _refuse_group_change(update, context):
        return
    t = await translator_for(update, context)
    choices = await _feed_choices(context)
    if not choices:
        await reply(update, t("There is nothing to subscribe to yet."))
        return
    mine = await _subscriptions(update, context)
    await reply(update, t("Which feeds do you want here? Press one to subscribe."),
                markup=_subscribe_markup(choices, mine, removing=False))


async def unsubscribe_command(update: Update, context: NashirContext) -> None:
    if await _refuse_group_change(update, context):
        return
    t = await translator_for(update, context)
    mine = await _subscriptions(update, context)
    choices = [c for c in await _feed_choices(context) if c[0] in mine]
    if not choices:
        await reply(update, t("You have no subscriptions. /subscribe shows the feeds."))
        return
    await reply(update, t("Press a feed to stop its posts here."),
                markup=_subscribe_markup(choices, mine, removing=True))


async def list_command(update: Update, context: NashirContext) -> None:
    t = await translator_for(update, context)
    mine = await _subscriptions(update, context)
    titles = dict(await _feed_choices(context))
    names = [titles[f] for f in mine if f in titles]
    if not names:
        await reply(update, t("You have no subscriptions. /subscribe shows the feeds."))
        return
    await reply(update, fit_reply(t, [t("<b>Your subscriptions</b>")],
                                  [[t("• {title}", title=name)] for name in sorted(names)]))


async def subscription_pressed(update: Update, context: NashirContext) -> None:
    query = update.callback_query
    chat_obj = update.effective_chat
    if query is None or chat_obj is None:
        return
    t = await translator_for(update, context)
    parts = (query.data or "").split(":")
    action = parts[1] if len(parts) > 1 else ""
    page: int | None = None
    if action in ("+", "-") and len(parts) in (3, 4):
        page = _page_number(parts[3]) if len(parts) == 4 else 0
    elif action in ("n", "m") and len(parts) == 3:
        page = _page_number(parts[2])
    if page is None:
        await answer(update, t("This button no longer works."))
        return
    if await _refuse_group_change(update, context):
        return
    chat = str(chat_obj.id)
    choices = await _feed_choices(context)
    message = query.message if isinstance(query.message, Message) else None
    if action in ("n", "m"):
        await answer(update, "")
        mine = await subscriptions_of(context.data.redis, chat)
        await _refresh_keyboard(message, choices, mine, removing=action == "m", page=page)
        return
    feed_id = parts[2]
    titles = dict(choices)
    if feed_id not in titles:
        await answer(update, t("That feed is no longer available."), alert=True)
        return
    if parts[1] == "+":
        await subscribe(context.data.redis, chat, feed_id)
        await answer(update, t("Subscribed to {title}.", title=titles[feed_id]))
    else:
        await unsubscribe(context.data.redis, chat, feed_id)
        await answer(update, t("Unsubscribed from {title}.", title=titles[feed_id]))
    mine = await subscriptions_of(context.data.redis, chat)
    await _refresh_keyboard(message, choices, mine, removing=action == "-", page=page)


async def _refresh_keyboard(message: Message | None, choices: list[tuple[str, str]],
                            mine: set[str], *, removing: bool, page: int) -> None:
    if message is None:
        return
    markup = _subscribe_markup(choices, mine, removing=removing, page=page)
    try:
        await message.edit_reply_markup(markup if markup.inline_keyboard else None)
    except TelegramError as exc:  # the keyboard refresh is cosmetic
        logger.info("could not refresh the subscription buttons: %s", exc)


async def my_chat_member(update: Update, context: NashirContext) -> None:
    """A user who blocks the bot (or a group that removes it) is unsubscribed from everything;
    a chat that takes the bot back gets what was held for it at once."""
    change = update.my_chat_member
    if change is None:
        return
    await release_if_added(update, context)
    if change.new_chat_member.status in (ChatMember.BANNED, ChatMember.LEFT):
        count = await forget_chat(context.data.redis, str(change.chat.id))
        logger.info("chat %s blocked or removed the bot; %d subscriptions dropped",
                    change.chat.id, count)
