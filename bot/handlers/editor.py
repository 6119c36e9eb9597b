"""Editors' management commands: /feeds, /addfeed, /removefeed, /pause, /resume, /channels,
/status. (/push is in push.py.)"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update

from bot.context import NashirContext
from bot.handlers.common import (
    answer,
    answer_expired,
    channel_argument,
    check_chat,
    check_url,
    edit,
    join_lines,
    reply,
    show_typing,
    translator_for,
    url_argument,
    user_label,
)
from bot.handlers.push import fetch_error_text
from bot.i18n import N_, Html, Translator, clean_value
from bot.pending import Claim, is_token, new_token
from bot.reply_limits import fit_reply
from config.schema import FeedConfig, format_duration
from model.article import feed_id_for
from model.errors import FeedParseError, FetchError, FetchErrorKind
from store import keys

if TYPE_CHECKING:  # the parser is imported when a feed is added, not at start-up
    from feeds.parser import ParsedFeed

logger = logging.getLogger(__name__)

COMMON_FEED_PATHS = ("/feed", "/rss", "/feed.xml", "/rss.xml", "/atom.xml", "/index.xml")
MAX_DISCOVERY_TRIES = 8


# -- /feeds ------------------------------------------------------------------------------------

async def feed_health_of(context: NashirContext, feeds: list[FeedConfig]
                       ) -> list[tuple[str, dict[str, str]]]:
    """For each feed: paused | failing (also broken and gone) | ok | new, and its state hash;
    the same reading of the state as the status page and the metrics (ops.metrics)."""
    from ops.metrics import feed_health

    async with context.data.redis.pipeline(transaction=False) as pipe:
        for feed in feeds:
            pipe.hgetall(keys.feed_state(feed_id_for(feed.url)))
        states = await pipe.execute()
    result = []
    for feed, state in zip(feeds, states, strict=True):
        health = feed_health(state)
        if feed.paused:
            result.append(("paused", state))
        elif health in ("failing", "broken", "gone"):
            result.append(("failing", state))
        else:
            result.append(("new" if health == "new" else "ok", state))
    return result


_HEALTH_MARK = {"paused": "⏸", "failing": "⚠️", "ok": "✅", "new": "⏳"}


def _interval_line(t: Translator, configured: float, state: dict[str, str]) -> str:
    """How often the feed is polled: as configured, or longer and why (the server's hints,
    backoff after failures)."""
    try:
        effective = float(state.get("interval") or 0)
    except ValueError:
        effective = 0.0
    cause = state.get("interval_cause") or ""
    if not cause or effective <= configured:
        return t("    polled every {interval}", interval=format_duration(configured))
    why = {"max-age": t.raw("the server's Cache-Control max-age"),
           "ttl": t.raw("the feed's own <ttl>"),
           "retry-after": t.raw("the server's Retry-After"),
           "backoff": t.raw("backing off after failures"),
           "rare": t.raw("the feed is broken: tried rarely")}.get(cause, cause)
    return t("    polled every {interval} (configured: {configured}) because of {why}",
             interval=format_duration(effective), configured=format_duration(configured),
             why=why)


async def feeds_page(context: NashirContext, t: Translator, page: int
                     ) -> tuple[Html, InlineKeyboardMarkup | None]:
    config = await context.data.registry.current()
    titles = await context.data.registry.feed_titles()
    feeds = list(config.feeds)
    if not feeds:
        return t("No feeds yet. Add one with /addfeed URL CHANNEL."), None
    size = context.data.feeds_page_size
    pages = (len(feeds) + size - 1) // size
    page = max(0, min(page, pages - 1))
    shown = feeds[page * size:(page + 1) * size]
    head = [t("<b>Feeds</b> ({page}/{pages})", page=page + 1, pages=pages)]
    blocks = []
    rows = []
    healths = await feed_health_of(context, shown)
    for (number, feed), (health, state) in zip(enumerate(shown, start=page * size + 1), healths,
                                               strict=True):
        feed_id = feed_id_for(feed.url)
        # Each value is capped so that a full page always fits one message (fit_reply is the
        # backstop); addresses are shown with credentials masked (clean_value).
        title = clean_value(titles.get(feed_id) or "", 100).strip() or clean_value(feed.url, 100)
        chats = clean_value(", ".join(target.chat for target in feed.channels), 120)
        lines: list[str] = [t("{number}. {mark} <b>{title}</b> → {chats}", number=number,
                   mark=Html(_HEALTH_MARK[health]), title=title, chats=chats),
                 t("    {url}", url=clean_value(feed.url, 150))]
        if health == "failing" and state.get("last_error"):
            lines.append(t("    last error: {error}", error=clean_value(state["last_error"], 150)))
        lines.append(_interval_line(t, feed.interval, state))
        if feed.mode == "review":
            lines.append(t("    every item goes to review first"))
        blocks.append(lines)
        toggle = "r" if feed.paused else "p"
        label = t.button("Resume {number}", number=number) if feed.paused else \
            t.button("Pause {number}", number=number)
        rows.append(InlineKeyboardButton(label, callback_data=f"f:{page}:{feed_id}:{toggle}"))
    keyboard = [rows[i:i + 3] for i in range(0, len(rows), 3)]
    nav = []
    if page > 0:
        nav.append(InlineKeyboardButton("◀", callback_data=f"f:{page - 1}"))
    if page < pages - 1:
        nav.append(InlineKeyboardButton("▶", callback_data=f"f:{page + 1}"))
    if nav:
        keyboard.append(nav)
    return fit_reply(t, head, blocks), InlineKeyboardMarkup(keyboard)


async def feeds_command(update: Update, context: NashirContext) -> None:
    args = context.args or []
    if args and args[0].lower() == "export":
        from bot.opml import export_feeds

        await export_feeds(update, context)
        return
    t = await translator_for(update, context)
    if args:
        await reply(update, t("Usage: /feeds, or /feeds export for an OPML file"))
        return
    text, markup = await feeds_page(context, t, 0)
    await reply(update, text, markup=markup)


async def feeds_pressed(update: Update, context: NashirContext) -> None:
    query = update.callback_query
    if query is None:
        return
    t = await translator_for(update, context)
    parts = (query.data or "").split(":")
    try:
        page = int(parts[1])
    except (IndexError, ValueError):
        await answer(update, t("This button no longer works."))
        return
    notice = ""
    if len(parts) == 4:
        feed_id, toggle = parts[2], parts[3]
        config = await context.data.registry.current()
        feed = next((f for f in config.feeds if feed_id_for(f.url) == feed_id), None)
        if feed is None:
            await answer(update, t("That feed is no longer followed."), alert=True)
        else:
            await context.data.registry.set_feed_paused(feed.url, toggle == "p")
            user = update.effective_user
            await context.data.audit.record(user.id if user else 0, user_label(update),
                                            "feed.pause" if toggle == "p" else "feed.resume",
                                            feed.url)
            notice = t("Paused.") if toggle == "p" else t("Resumed.")
    if notice:
        await answer(update, notice)
    else:
        await answer(update, "")
    text, markup = await feeds_page(context, t, page)
    message = query.message if isinstance(query.message, Message) else None
    await edit(message, text, markup=markup)


# -- /addfeed ----------------------------------------------------------------------------------

class AddFeedError(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


async def _fetch_parsed(context: NashirContext, url: str) -> tuple[str, ParsedFeed]:
    from feeds.parser import parse_feed
    from guards.network import check_url_allowed

    data = context.data
    await check_url_allowed(url, data.allow_networks)
    result = await data.fetcher.fetch(url, trusted=False, allow_networks=data.allow_networks)
    if result.body is None:
        raise FeedParseError("the address returned an empty response, not a feed",
                             kind=FetchErrorKind.EMPTY)
    parsed = await asyncio.to_thread(parse_feed, result.body, feed_url=result.url or url,
                                     content_type=result.content_type)
    return result.url or url, parsed


async def discover_feed(context: NashirContext, t: Translator, url: str
                        ) -> tuple[str, ParsedFeed]:
    """(feed URL, ParsedFeed) for `url`: a feed itself, or a page/site that advertises one
    (<link rel="alternate">) or has one at a common path."""
    try:
        return await _fetch_parsed(context, url)
    except FetchError as exc:
        raise AddFeedError(fetch_error_text(t, exc)) from None
    except FeedParseError as exc:
        if exc.kind in (FetchErrorKind.CHALLENGE, FetchErrorKind.UNSAFE_XML):
            raise AddFeedError(t("That address cannot be used: {reason}",
                                 reason=exc.message)) from None
        advertised = list(exc.feed_links)
    parts = urlsplit(url)
    root = f"{parts.scheme}://{parts.netloc}"
    candidates: list[str] = []
    for candidate in advertised + [urljoin(root, path) for path in COMMON_FEED_PATHS]:
        if candidate not in candidates and candidate != url:
            candidates.append(candidate)
    for candidate in candidates[:MAX_DISCOVERY_TRIES]:
        try:
            return await _fetch_parsed(context, candidate)
        except (FetchError, FeedParseError) as exc:
            logger.info("no feed at %s: %s", candidate, exc)
            if isinstance(exc, FetchError) and exc.kind is FetchErrorKind.BLOCKED_ADDRESS:
                continue
    raise AddFeedError(t("I found no feed at that address, nor one the page points to."))


async def addfeed(update: Update, context: NashirContext) -> None:
    t = await translator_for(update, context)
    args = context.args or []
    if len(args) != 2:
        await reply(update, t("Usage: /addfeed URL CHANNEL"))
        return
    url = await url_argument(update, t, args[0])
    if url is None:
        return
    channel = await channel_argument(update, context, t, args[1])
    if channel is None:
        return
    await show_typing(update)
    try:
        feed_url, parsed = await discover_feed(context, t, url)
    except AddFeedError as exc:
        await reply(update, exc.text)
        return
    existing = await context.data.registry.find_feed(feed_url)
    if existing is not None:
        await reply(update, t("That feed is already followed ({url}).", url=feed_url))
        return
    token = new_token()
    user = update.effective_user
    title = parsed.title or feed_url
    await context.data.pending.create(keys.bot_pending(token), {
        "kind": "addfeed", "state": "open", "user_id": user.id if user else 0,
        "feed_url": feed_url, "chat": channel.chat, "title": title,
        "items": len(parsed.articles),
    }, keys.PENDING_TTL_S)
    lines = [t("<b>Feed found:</b> {title}", title=title), t("{url}", url=feed_url)]
    if parsed.articles:
        newest = parsed.articles[0]
        lines.append(t("Newest item: {title}", title=newest.title or newest.url))
        lines.append(t.n("Items in the feed now: {count}", "Items in the feed now: {count}",
                         len(parsed.articles)))
    else:
        lines.append(t("The feed has no items yet."))
    lines.append(t("Posts go to {chat}. What should I do with the items already in it?",
                   chat=channel.chat))
    markup = InlineKeyboardMarkup([
        [InlineKeyboardButton(t.button("Nothing: only new ones"), callback_data=f"a:{token}:none")],
        [InlineKeyboardButton(t.button("Post the newest"), callback_data=f"a:{token}:latest")],
        [InlineKeyboardButton(t.button_n("Post all {count}", "Post all {count}",
                                         len(parsed.articles)),
                              callback_data=f"a:{token}:all")],
        [InlineKeyboardButton(t.button("Cancel"), callback_data=f"a:{token}:c")],
    ])
    await reply(update, join_lines(t, lines), markup=markup)


_FIRST_RUN_TEXT = {"none": N_("only new items will be posted"),
                   "latest": N_("the newest item will be posted, then new ones"),
                   "all": N_("every item in the feed will be posted, then new ones")}


async def addfeed_pressed(update: Update, context: NashirContext) -> None:
    query = update.callback_query
    if query is None:
        return
    t = await translator_for(update, context)
    parts = (query.data or "").split(":")
    message = query.message if isinstance(query.message, Message) else None
    if len(parts) != 3 or parts[2] not in ("none", "latest", "all", "c") or \
            not is_token(parts[1]):
        await answer(update, t("This button no longer works."))
        return
    key = keys.bot_pending(parts[1])
    record = await context.data.pending.get(key)
    if not record or record.get("kind") != "addfeed":
        await answer_expired(update, message, t("This question has expired. Send /addfeed again."))
        return
    user = update.effective_user
    uid = user.id if user else 0
    choice = parts[2]
    won = await context.data.pending.claim(key, ["open"], "cancelled" if choice == "c" else "done",
                                           uid)
    if won != Claim.WON:
        await answer(update, t("This was already answered."), alert=True)
        return
    if choice == "c":
        await answer(update, t("Cancelled."))
        await edit(message, t("✖️ Not added: cancelled by {name}.", name=user_label(update)))
        return
    feed_url, chat, title = record["feed_url"], record["chat"], record.get("title") or ""
    if await context.data.registry.find_feed(feed_url) is not None:
        await answer(update, t("That feed is already followed ({url}).", url=feed_url), alert=True)
        return
    await context.data.registry.add_feed(feed_url, chat, first_run=choice, title=title,
                                         user_id=uid)
    await context.data.audit.record(uid, user_label(update), "feed.add",
                                    f"{feed_url} -> {chat} (first run: {choice})")
    await answer(update, t("Feed added."))
    await edit(message, join_lines(t, [
        t("✅ Following {title} → {chat}.", title=title, chat=chat),
        t("{url}", url=feed_url),
        t("Existing items: {what}.", what=Html(t.raw(_FIRST_RUN_TEXT[choice]))),
    ]))


# -- /removefeed, /pause, /resume -------------------------------------------------------------

async def removefeed(update: Update, context: NashirContext) -> None:
    t = await translator_for(update, context)
    args = context.args or []
    if len(args) != 1 or check_url(args[0]) is None:
        await reply(update, t("Usage: /removefeed URL"))
        return
    registry = context.data.registry
    feed = await registry.find_feed(check_url(args[0]) or "")
    if feed is None:
        await reply(update, t("That feed is not followed. /feeds lists the feeds."))
        return
    if registry.is_declared_feed(feed.url):
        await reply(update, t("That feed is in the config file; remove it there, or /pause it."))
        return
    await registry.remove_feed(feed.url)
    user = update.effective_user
    await context.data.audit.record(user.id if user else 0, user_label(update), "feed.remove",
                                    feed.url)
    await reply(update, t("✅ Feed removed: {url}", url=feed.url))


async def _pause_or_resume(update: Update, context: NashirContext, paused: bool) -> None:
    t = await translator_for(update, context)
    args = context.args or []
    usage = t("Usage: /pause URL-or-CHANNEL") if paused else t("Usage: /resume URL-or-CHANNEL")
    if len(args) != 1:
        await reply(update, usage)
        return
    registry = context.data.registry
    user = update.effective_user
    uid, name = (user.id if user else 0), user_label(update)
    if check_chat(args[0]) is not None:
        channel = await channel_argument(update, context, t, args[0])
        if channel is None:
            return
        await registry.set_channel_paused(channel.chat, paused)
        await context.data.audit.record(uid, name, "channel.pause" if paused else "channel.resume",
                                        channel.chat)
        await reply(update, t("⏸ Channel {chat} paused: nothing is posted there until /resume.",
                              chat=channel.chat) if paused else
                    t("▶️ Channel {chat} resumed.", chat=channel.chat))
        return
    url = check_url(args[0])
    feed = await registry.find_feed(url) if url else None
    if feed is None:
        await reply(update, t("That is neither a followed feed nor a channel. /feeds and "
                              "/channels list them."))
        return
    await registry.set_feed_paused(feed.url, paused)
    await context.data.audit.record(uid, name, "feed.pause" if paused else "feed.resume",
                                    feed.url)
    await reply(update, t("⏸ Feed paused: {url}", url=feed.url) if paused else
                t("▶️ Feed resumed: {url}", url=feed.url))


async def pause(update: Update, context: NashirContext) -> None:
    await _pause_or_resume(update, context, True)


async def resume(update: Update, context: NashirContext) -> None:
    await _pause_or_resume(update, context, False)
