"""What every handler shares: the reply language, role checks, argument checks, replying."""
from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction
from telegram.error import BadRequest, TelegramError

from bot.context import NashirContext
from bot.i18n import Html, Translator, translator
from bot.pending import is_token
from bot.services import Role
from config.schema import ChannelConfig

logger = logging.getLogger("bot.handlers")

Handler = Callable[[Update, NashirContext], Awaitable[None]]
H = TypeVar("H", bound=Handler)

MAX_URL_CHARS = 2048
_CHAT = re.compile(r"^(@[A-Za-z][A-Za-z0-9_]{3,31}|-?\d{1,20})$")


async def translator_for(update: Update, context: NashirContext) -> Translator:
    user = update.effective_user
    lang = await context.data.languages.get(user.id if user else None,
                                            user.language_code if user else None)
    return translator(lang)


def user_label(update: Update) -> str:
    user = update.effective_user
    if user is None:
        return "?"
    return f"@{user.username}" if user.username else (user.full_name or str(user.id))


def allowed(actual: Role, needed: Role) -> bool:
    if needed is Role.USER:
        return True
    if needed is Role.EDITOR:
        return actual in (Role.EDITOR, Role.OWNER)
    return actual is Role.OWNER


async def is_editor(update: Update, context: NashirContext) -> bool:
    """True when the user of the update is an editor (or an owner)."""
    user = update.effective_user
    role = await context.data.roles.role(user.id if user else None)
    return allowed(role, Role.EDITOR)


def requires(needed: Role) -> Callable[[H], H]:
    """Run the handler only for users with `needed` (or a higher) role; others get a polite
    refusal, nothing is done, and the attempt is logged."""

    def wrap(handler: H) -> H:
        @functools.wraps(handler)
        async def guarded(update: Update, context: NashirContext) -> None:
            user = update.effective_user
            role = await context.data.roles.role(user.id if user else None)
            if allowed(role, needed):
                await handler(update, context)
                return
            logger.warning("refused %s to user %s (role %s)", handler.__name__,
                           user.id if user else None, role.value,
                           extra={"user_id": user.id if user else None,
                                  "command": handler.__name__})
            t = await translator_for(update, context)
            if needed is Role.OWNER:
                text = t("Sorry, only the bot's owners can do this.")
            else:
                text = t("Sorry, this is for the publication's editors. "
                         "Send /help to see what you can do.")
            if update.callback_query is not None:
                await update.callback_query.answer(_plain(text), show_alert=True)
            else:
                await reply(update, text)

        return guarded  # type: ignore[return-value]

    return wrap


def _plain(text: str) -> str:
    """Callback answers are plain text (no HTML), at most 200 characters."""
    import html as html_module

    plain = html_module.unescape(re.sub(r"<[^>]*>", "", text))
    return plain if len(plain) <= 200 else plain[:199] + "…"


async def answer(update: Update, text: str, *, alert: bool = False) -> None:
    """Answer a button press (the small notice on the user's screen)."""
    query = update.callback_query
    if query is None:
        return
    try:
        await query.answer(_plain(text), show_alert=alert)
    except BadRequest as exc:  # query too old: the press is still handled
        logger.info("could not answer the button press: %s", exc)


async def editor_button(update: Update, context: NashirContext, t: Translator,
                        kind: str) -> list[str] | None:
    """The parts of an editor's button press (`<prefix>:<token>:<action>[:…]`), or None when the
    user is not an editor or the button is not one of ours (the press is then answered)."""
    query = update.callback_query
    if query is None:
        return None
    if not await is_editor(update, context):
        user = update.effective_user
        logger.warning("refused %s button to user %s", kind, user.id if user else None)
        await answer(update, t("Sorry, this is for the publication's editors. "
                               "Send /help to see what you can do."), alert=True)
        return None
    parts = (query.data or "").split(":")
    if len(parts) < 3 or not is_token(parts[1]):
        await answer(update, t("This button no longer works."))
        return None
    return parts


async def answer_expired(update: Update, message: Message | None, text: str) -> None:
    """Answer a press on a question that has expired, and take its buttons away (only when the
    press came from one of them: forged data naming another question leaves them alone)."""
    await answer(update, text, alert=True)
    query = update.callback_query
    pressed = query.data if query is not None else None
    markup = message.reply_markup if message is not None else None
    if message is not None and markup is not None and any(
            button.callback_data == pressed for row in markup.inline_keyboard for button in row):
        with contextlib.suppress(TelegramError):  # the answer is what matters
            await message.edit_reply_markup(None)


async def show_typing(update: Update) -> None:
    """Show "typing…" in the chat while something slow (a fetch) runs."""
    chat = update.effective_chat
    if chat is not None:
        with contextlib.suppress(TelegramError):  # cosmetic
            await chat.send_action(ChatAction.TYPING)


async def reply(update: Update, text: str, *, markup: InlineKeyboardMarkup | None = None,
                quote: bool = True) -> Message | None:
    """Reply in the chat the update came from (HTML; link previews off)."""
    message = update.effective_message
    chat = update.effective_chat
    if chat is None:
        return None
    # Forbidden (the user blocked the bot) reaches the error handler, which drops the chat's
    # subscriptions.
    if message is not None and quote and update.callback_query is None:
        return await message.reply_text(text, reply_markup=markup, do_quote=True)
    return await chat.send_message(text, reply_markup=markup)


async def edit(message: Message | None, text: str, *,
               markup: InlineKeyboardMarkup | None = None) -> bool:
    """Edit a message of ours (its text or caption); False when Telegram would not."""
    if message is None:
        return False
    try:
        if message.photo:
            await message.edit_caption(text, reply_markup=markup)
        else:
            await message.edit_text(text, reply_markup=markup)
        return True
    except BadRequest as exc:
        if "not modified" in str(exc).lower():
            return True
        logger.info("could not edit message %s: %s", message.message_id, exc)
        return False
    except TelegramError as exc:
        logger.info("could not edit message %s: %s", message.message_id, exc)
        return False


def check_url(text: str) -> str | None:
    """An http(s) URL with a host, or None."""
    text = text.strip().strip("<>")
    if not text or len(text) > MAX_URL_CHARS or any(c.isspace() for c in text):
        return None
    if "://" not in text and re.match(r"^[\w.-]+\.[a-z]{2,}(/|$)", text, re.IGNORECASE):
        text = "https://" + text
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return text


def check_chat(text: str) -> str | None:
    """A chat as the config spells it (@username or numeric id), or None."""
    text = text.strip()
    if text.startswith("https://t.me/") or text.startswith("t.me/"):
        text = "@" + text.rsplit("/", 1)[-1]
    return text if _CHAT.match(text) else None


async def url_argument(update: Update, t: Translator, text: str) -> str | None:
    """The web address an editor wrote, or None after telling them it is not one."""
    url = check_url(text)
    if url is None:
        await reply(update, t("That is not a web address I can fetch; it must start with "
                              "http:// or https://."))
    return url


async def channel_argument(update: Update, context: NashirContext, t: Translator,
                           text: str) -> ChannelConfig | None:
    """The channel an editor named, or None after telling them it is not one of ours."""
    chat = check_chat(text)
    channel = await context.data.registry.find_channel(chat) if chat else None
    if channel is None:
        await reply(update, t("I do not know the channel {chat}. /channels lists them.",
                              chat=text))
    return channel


def check_user_id(text: str) -> int | None:
    text = text.strip()
    if not re.fullmatch(r"\d{1,15}", text):
        return None
    value = int(text)
    return value if value > 0 else None


def local_time(context: NashirContext, when: float, *, with_date: bool = False) -> str:
    zone = ZoneInfo(context.data.config.timezone)
    moment = datetime.fromtimestamp(when, zone)
    return moment.strftime("%Y/%m/%d %H:%M" if with_date else "%H:%M")


def join_lines(t: Translator, lines: Sequence[str]) -> Html:
    return Html(t.finish("\n".join(lines)))
