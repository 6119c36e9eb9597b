"""/push URL [CHANNEL]: fetch a page (address safety, size limits), extract the article, show the
post exactly as it will appear with buttons to publish to each channel, to all, or cancel.

Callback data: ``p:<token>:t:<index>`` (one channel), ``p:<token>:a`` (all),
``p:<token>:f`` (publish anyway where it was posted already), ``p:<token>:c`` (cancel).
The token names a Redis hash holding the article and the target chats; nothing a user typed is
in the callback data. Publishing is one step (store.decisions): the preview's state moves and
the posts are queued together, so a failure leaves it open to press again, never "published"
with nothing sent.
"""
from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import time
from datetime import UTC, datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Message, Update
from telegram.error import BadRequest, TelegramError

from bot.context import NashirContext
from bot.handlers.common import (
    answer,
    answer_expired,
    channel_argument,
    edit,
    editor_button,
    local_time,
    reply,
    show_typing,
    translator_for,
    url_argument,
    user_label,
)
from bot.i18n import Html, Translator
from bot.pending import Claim, new_token
from bot.rich_note import rich_note
from config.schema import ChannelConfig
from model.article import Article, article_from_json, article_to_json
from model.errors import FetchError, FetchErrorKind
from store import keys
from store.decisions import WON, Decision

logger = logging.getLogger(__name__)

MIN_ARTICLE_CHARS = 150
_TAG = re.compile(r"<[^>]*>")


class PushError(Exception):
    """A /push that cannot go on; `text` is the reply, already translated."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def fetch_error_text(t: Translator, exc: FetchError) -> Html:
    """An editor-readable sentence for a failed fetch, in their language."""
    kind = exc.kind
    if kind is FetchErrorKind.BLOCKED_ADDRESS:
        return t("That address points to a private or local network; I do not fetch such "
                 "addresses.")
    if kind is FetchErrorKind.INVALID_URL:
        return t("That address is not valid.")
    if kind is FetchErrorKind.TOO_LARGE:
        return t("The page is too large for me to fetch.")
    if kind is FetchErrorKind.DNS:
        return t("The site's name could not be found.")
    if kind is FetchErrorKind.TIMEOUT:
        return t("The site did not answer in time. Try again later.")
    if kind in (FetchErrorKind.NOT_FOUND, FetchErrorKind.GONE):
        return t("The page was not found there (HTTP {status}).", status=exc.status or 404)
    if kind in (FetchErrorKind.FORBIDDEN, FetchErrorKind.CHALLENGE):
        return t("The site refused to give me the page.")
    return t("The page could not be fetched: {reason}", reason=exc.message)


def plain_length(post_html: str) -> int:
    """Characters Telegram counts for this HTML (tags removed, entities decoded)."""
    return len(html.unescape(_TAG.sub("", post_html)).strip())


async def fetch_article(context: NashirContext, t: Translator, url: str) -> Article:
    """The article at `url`, or PushError with the reason."""
    from feeds.article_page import NotAnArticle, extract_article
    from guards.network import check_url_allowed

    data = context.data
    try:
        await check_url_allowed(url, data.allow_networks)
        result = await data.fetcher.fetch(url, trusted=False, allow_networks=data.allow_networks)
    except FetchError as exc:
        logger.info("push fetch failed: %r", exc, extra={"url": url})
        raise PushError(fetch_error_text(t, exc)) from None
    content_type = (result.content_type or "").lower()
    if result.body is None or not result.body.strip():
        raise PushError(t("The page is empty."))
    if content_type and not any(kind in content_type for kind in ("html", "xml", "text")):
        raise PushError(t("That address is not a web page (it is {kind}).",
                          kind=content_type.split(";")[0]))
    try:
        article = await asyncio.to_thread(extract_article, result.body, result.url or url)
    except NotAnArticle:
        raise PushError(t("I found no article on that page.")) from None
    text = html.unescape(_TAG.sub(" ", article.content_html)).strip()
    if not article.title or len(text) < MIN_ARTICLE_CHARS:
        raise PushError(t("I found no article on that page."))
    return article


def _markup(t: Translator, token: str, chats: list[str]) -> InlineKeyboardMarkup:
    rows = [[InlineKeyboardButton(t.button("Publish to {chat}", chat=chat),
                                  callback_data=f"p:{token}:t:{index}")]
            for index, chat in enumerate(chats)]
    if len(chats) > 1:
        rows.append([InlineKeyboardButton(t.button("Publish to all"),
                                          callback_data=f"p:{token}:a")])
    rows.append([InlineKeyboardButton(t.button("Cancel"), callback_data=f"p:{token}:c")])
    return InlineKeyboardMarkup(rows)


async def push(update: Update, context: NashirContext) -> None:
    t = await translator_for(update, context)
    args = context.args or []
    if not args or len(args) > 2:
        await reply(update, t("Usage: /push URL [CHANNEL]"))
        return
    url = await url_argument(update, t, args[0])
    if url is None:
        return
    config = await context.data.registry.current()
    if len(args) == 2:
        channel = await channel_argument(update, context, t, args[1])
        if channel is None:
            return
        if channel.paused:
            await reply(update, t("The channel {chat} is paused; /resume it first.",
                                  chat=channel.chat))
            return
        targets = [channel]
    else:
        targets = [c for c in config.channels if not c.paused]
        if not targets:
            await reply(update, t("There is no channel to publish to. /channels lists them."))
            return
    await show_typing(update)
    try:
        article = await fetch_article(context, t, url)
    except PushError as exc:
        await reply(update, exc.text)
        return
    await show_preview(update, context, t, article, targets)


async def show_preview(update: Update, context: NashirContext, t: Translator, article: Article,
                       targets: list[ChannelConfig]) -> None:
    from formatters.errors import UnrenderableArticle

    data = context.data
    first_seen = datetime.fromtimestamp(time.time(), UTC)
    try:
        post = data.publisher.render(article, targets[0], first_seen)
    except UnrenderableArticle as exc:
        await reply(update, t("This article cannot be posted: {reason}", reason=exc.reason))
        return
    note = rich_note(t, data.publisher, article, targets, first_seen)
    post_html = post.html
    if note and plain_length(f"{note}\n\n{post.html}") <= (1024 if post.photo_url else 4096):
        post_html = f"{note}\n\n{post.html}"   # kept with the post when the card is edited
    token = new_token()
    key = keys.bot_pending(token)
    user = update.effective_user
    chats = [c.chat for c in targets]
    await data.pending.create(key, {
        "kind": "push", "state": "open", "user_id": user.id if user else 0,
        "article": article_to_json(article), "channels": json.dumps(chats),
        "url": article.url, "preview_html": post_html, "preview_url": post.preview_url or "",
        "photo": 1 if post.photo_url else 0,
    }, keys.PENDING_TTL_S)
    markup = _markup(t, token, chats)
    await data.audit.record(user.id if user else 0, user_label(update), "push.preview",
                            article.url)
    message = await _send_post(update, post_html, post.photo_url, post.preview_url, markup)
    if message is None:
        return
    await data.pending.update(key, {"photo": 1 if message.photo else 0,
                                    "preview_chat": message.chat_id,
                                    "preview_message": message.message_id})


async def _send_post(update: Update, post_html: str, photo_url: str | None,
                     preview_url: str | None, markup: InlineKeyboardMarkup) -> Message | None:
    chat = update.effective_chat
    if chat is None:
        return None
    if photo_url:
        try:
            return await chat.send_photo(photo_url, caption=post_html, reply_markup=markup)
        except BadRequest as exc:
            logger.info("preview photo refused (%s); showing the text", exc)
    preview = (LinkPreviewOptions(url=preview_url) if preview_url
               else LinkPreviewOptions(is_disabled=True))
    return await chat.send_message(post_html, reply_markup=markup, link_preview_options=preview)


# -- button presses ----------------------------------------------------------------------------

async def push_pressed(update: Update, context: NashirContext) -> None:
    query = update.callback_query
    if query is None:
        return
    t = await translator_for(update, context)
    parts = await editor_button(update, context, t, "push")
    if parts is None:
        return
    token, action = parts[1], parts[2]
    data = context.data
    key = keys.bot_pending(token)
    record = await data.pending.get(key)
    message = query.message if isinstance(query.message, Message) else None
    if not record or record.get("kind") != "push":
        await answer_expired(update, message, t("This preview has expired. Send /push again."))
        return
    chats: list[str] = json.loads(record["channels"])
    name = user_label(update)
    user = update.effective_user
    uid = user.id if user else 0
    article = article_from_json(record["article"])
    now = time.time()

    if action == "c":
        won = await data.pending.claim(key, ["open", "dup"], "cancelled", uid)
        if won != Claim.WON:
            await _already(update, t, (await data.pending.get(key)).get("state", ""))
            return
        await data.audit.record(uid, name, "push.cancel", article.url)
        await answer(update, t("Cancelled."))
        await _show_outcome(context, record, message, t("✖️ Cancelled by {name} at {time}.",
                                                         name=name, time=local_time(context, now)))
        return

    if action in ("a", "t"):
        if action == "t":
            try:
                targets = [chats[int(parts[3])]]
            except (IndexError, ValueError):
                await answer(update, t("This button no longer works."))
                return
        else:
            targets = chats
        channels, missing = await _channels(context, targets)
        made, failed = data.publisher.deliveries(article, channels)
        decided = await data.review.decisions.decide(key, Decision(
            expected=("open",), state="published", dup_state="dup", empty_state="failed",
            user_id=uid, name=name, url=article.url, uid=article.uid,
            identities=tuple(article.identity_keys or (article.uid,)), deliveries=tuple(made),
            failed=tuple(missing) + tuple(chat for chat, _ in failed)))
        if decided.result != WON:
            await _already(update, t, decided.state or record.get("state", ""))
            return
        await data.audit.record(uid, name, "push.publish",
                                f"{article.url} -> {', '.join(decided.queued) or '-'}"
                                + (f" (already there: {', '.join(decided.duplicates)})"
                                   if decided.duplicates else ""))
        lines = []
        if decided.queued:
            lines.append(t("✅ Published to {chats} at {time} by {name}.",
                           chats=", ".join(decided.queued), time=local_time(context, now),
                           name=name))
        for chat, reason in failed:
            lines.append(t("Not posted to {chat}: {reason}", chat=chat, reason=reason))
        for chat in missing:
            lines.append(t("The channel {chat} is gone or paused; nothing was sent there.",
                           chat=chat))
        markup = None
        if decided.duplicates:
            lines.append(t("⚠️ Already posted in {chats}. Publish it again anyway?",
                           chats=", ".join(decided.duplicates)))
            markup = InlineKeyboardMarkup([
                [InlineKeyboardButton(t.button("Publish anyway"), callback_data=f"p:{token}:f")],
                [InlineKeyboardButton(t.button("Cancel"), callback_data=f"p:{token}:c")],
            ])
            await answer(update, t("Already posted there."))
        else:
            await answer(update, t("Published.") if decided.queued else t("Nothing was sent."))
        await _show_outcome(context, record, message, Html("\n".join(lines)), markup)
        return

    if action == "f":
        # The chats that had it, as the first decision recorded them (the same step).
        dup_chats = json.loads(record.get("duplicates") or "[]")
        channels, missing = await _channels(context, dup_chats)
        made, failed = data.publisher.deliveries(article, channels)
        decided = await data.review.decisions.decide(key, Decision(
            expected=("dup",), state="published", empty_state="failed", user_id=uid,
            name=name, url=article.url, uid=article.uid,
            identities=tuple(article.identity_keys or (article.uid,)),
            deliveries=tuple(data.publisher.again(made)), force=True,
            failed=tuple(missing) + tuple(chat for chat, _ in failed)))
        if decided.result != WON:
            await _already(update, t, decided.state or record.get("state", ""))
            return
        lines = [t("✅ Published again to {chats} at {time} by {name}.",
                   chats=", ".join(decided.queued) or "-", time=local_time(context, now),
                   name=name)]
        for chat in missing:
            lines.append(t("The channel {chat} is gone or paused; nothing was sent there.",
                           chat=chat))
        await data.audit.record(uid, name, "push.publish_anyway",
                                f"{article.url} -> {', '.join(decided.queued)}")
        await answer(update, t("Published."))
        await _show_outcome(context, record, message, Html("\n".join(lines)))
        return
    await answer(update, t("This button no longer works."))


async def _already(update: Update, t: Translator, state: str) -> None:
    if state == "published":
        text = t("This preview was already published.")
    elif state == "cancelled":
        text = t("This preview was cancelled.")
    else:
        text = t("This preview was already handled.")
    await answer(update, text, alert=True)


async def _channels(context: NashirContext, chats: list[str]
                    ) -> tuple[list[ChannelConfig], list[str]]:
    found, missing = [], []
    for chat in chats:
        channel = await context.data.registry.find_channel(chat)
        if channel is None or channel.paused:
            missing.append(chat)
        else:
            found.append(channel)
    return found, missing


async def _show_outcome(context: NashirContext, record: dict[str, str], message: Message | None,
                        status: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Edit the preview: what happened above the post. When the two do not fit one message,
    the buttons go and the status is sent as a reply to the preview."""
    if message is None:
        return
    post_html = record.get("preview_html", "")
    is_photo = bool(message.photo)
    limit = 1024 if is_photo else 4096
    combined = f"{status}\n\n{post_html}"
    if plain_length(combined) <= limit:
        if is_photo:
            ok = await edit(message, combined, markup=markup)
        else:
            preview_url = record.get("preview_url") or None
            try:
                await message.edit_text(
                    combined, reply_markup=markup,
                    link_preview_options=(LinkPreviewOptions(url=preview_url) if preview_url
                                          else LinkPreviewOptions(is_disabled=True)))
                ok = True
            except TelegramError as exc:
                logger.info("could not edit the preview: %s", exc)
                ok = False
        if ok:
            return
    try:
        await message.edit_reply_markup(markup)
    except TelegramError as exc:
        logger.info("could not change the preview's buttons: %s", exc)
    try:
        await message.reply_text(status, do_quote=True)
    except TelegramError as exc:
        logger.info("could not send the push outcome: %s", exc)
