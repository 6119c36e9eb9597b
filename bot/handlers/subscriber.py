"""Everyone's commands: /start, /help, /lang, /subscribe, /unsubscribe, /list."""
from __future__ import annotations

import logging

from telegram import ChatMember, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import TelegramError

from bot.context import NashirContext
from bot.handlers.common import allowed, answer, edit, join_lines, reply, translator_for
from bot.i18n import translator
from bot.services import Role
from bot.subscriptions import forget_chat, subscribe, subscriptions_of, unsubscribe
from model.article import feed_id_for

logger = logging.getLogger(__name__)


async def start(update: Update, context: NashirContext) -> None:
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
    lines = [
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
            t("/channels: the channels; /channels add CHANNEL [ar|en]; /channels remove CHANNEL"),
            t("/status: queue, feeds, posts today and the last actions"),
        ]
    if allowed(role, Role.OWNER):
        lines += ["", t("<b>Owners</b>"),
                  t("/editors; /addeditor ID; /removeeditor ID")]
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
    """(feed_id, title) of every feed subscribers may choose, in config order."""
    config = await context.data.registry.current()
    titles = await context.data.registry.feed_titles()
    choices = []
    for feed in config.feeds:
        feed_id = feed_id_for(feed.url)
        choices.append((feed_id, titles.get(feed_id) or feed.url))
    return choices


def _subscribe_markup(choices: list[tuple[str, str]], mine: set[str], *,
                      removing: bool) -> InlineKeyboardMarkup:
    rows = []
    for feed_id, title in choices:
        if removing and feed_id not in mine:
            continue
        mark = "✓ " if feed_id in mine and not removing else ""
        label = (mark + title)[:60]
        rows.append([InlineKeyboardButton(label, callback_data=f"s:{'-' if removing else '+'}:{feed_id}")])
    return InlineKeyboardMarkup(rows)


async def _subscriptions(update: Update, context: NashirContext) -> set[str]:
    """Feed ids the chat of the update is subscribed to."""
    chat = str(update.effective_chat.id) if update.effective_chat else ""
    return await subscriptions_of(context.data.redis, chat)


async def subscribe_command(update: Update, context: NashirContext) -> None:
    t = await translator_for(update, context)
    choices = await _feed_choices(context)
    if not choices:
        await reply(update, t("There is nothing to subscribe to yet."))
        return
    mine = await _subscriptions(update, context)
    await reply(update, t("Which feeds do you want here? Press one to subscribe."),
                markup=_subscribe_markup(choices, mine, removing=False))


async def unsubscribe_command(update: Update, context: NashirContext) -> None:
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
    lines = [t("<b>Your subscriptions</b>")] + [t("• {title}", title=name) for name in sorted(names)]
    await reply(update, join_lines(t, lines))


async def subscription_pressed(update: Update, context: NashirContext) -> None:
    query = update.callback_query
    chat_obj = update.effective_chat
    if query is None or chat_obj is None:
        return
    t = await translator_for(update, context)
    parts = (query.data or "").split(":")
    if len(parts) != 3 or parts[1] not in "+-":
        await answer(update, t("This button no longer works."))
        return
    feed_id, chat = parts[2], str(chat_obj.id)
    choices = await _feed_choices(context)
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
    message = query.message if isinstance(query.message, Message) else None
    if message is not None:
        markup = _subscribe_markup(choices, mine, removing=parts[1] == "-")
        try:
            await message.edit_reply_markup(markup if markup.inline_keyboard else None)
        except TelegramError as exc:  # the keyboard refresh is cosmetic
            logger.info("could not refresh the subscription buttons: %s", exc)


async def my_chat_member(update: Update, context: NashirContext) -> None:
    """A user who blocks the bot (or a group that removes it) is unsubscribed from everything."""
    change = update.my_chat_member
    if change is None:
        return
    if change.new_chat_member.status in (ChatMember.BANNED, ChatMember.LEFT):
        count = await forget_chat(context.data.redis, str(change.chat.id))
        logger.info("chat %s blocked or removed the bot; %d subscriptions dropped",
                    change.chat.id, count)
