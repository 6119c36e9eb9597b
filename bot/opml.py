"""OPML in and out through the bot: an editor sends an .opml file (caption: the channel) and
each feed in it is checked and added, with progress shown by editing one message; `/feeds
export` sends the feeds back as an OPML file."""
from __future__ import annotations

import io
import logging
import time

from telegram import InputFile, Message, Update
from telegram.error import TelegramError

from bot.context import NashirContext
from bot.handlers.common import (
    check_chat,
    check_url,
    edit,
    join_lines,
    reply,
    translator_for,
    user_label,
)
from bot.i18n import Html, Translator
from model.errors import FeedParseError, FetchError
from ops.opml import MASKED, OpmlError, export_opml, outline_refusal, registry_feeds
from ops.opml import parse_opml as parse_outlines

logger = logging.getLogger(__name__)

MAX_OPML_BYTES = 1_000_000
MAX_OPML_FEEDS = 200
PROGRESS_EVERY_S = 1.0


def parse_opml(data: bytes) -> list[tuple[str, str]]:
    """(xmlUrl, title) of every feed outline, in document order, without repeats (read by
    ops.opml.parse_opml, which raises OpmlError for what is not OPML)."""
    return [(outline["url"], outline["title"]) for outline in parse_outlines(data)]


async def export_feeds(update: Update, context: NashirContext) -> None:
    t = await translator_for(update, context)
    config = await context.data.registry.current()
    titles = await context.data.registry.feed_titles()
    data = export_opml(registry_feeds(config, titles)).encode("utf-8")
    chat = update.effective_chat
    if chat is None:
        return
    user = update.effective_user
    await context.data.audit.record(user.id if user else 0, user_label(update), "opml.export",
                                    f"{len(config.feeds)} feeds")
    await chat.send_document(InputFile(io.BytesIO(data), filename="nashir-feeds.opml"),
                             caption=t.n("{count} feed.", "{count} feeds.", len(config.feeds)))


async def import_document(update: Update, context: NashirContext) -> None:
    from bot.handlers.editor import _fetch_parsed

    t = await translator_for(update, context)
    message = update.message
    if message is None or message.document is None:
        return
    document = message.document
    name = (document.file_name or "").lower()
    if not name.endswith((".opml", ".xml")):
        await reply(update, t("I can import an OPML file (.opml). Send it with the channel as "
                              "the caption, like @channel."))
        return
    if (document.file_size or 0) > MAX_OPML_BYTES:
        await reply(update, t("That file is too large (at most 1 MB)."))
        return
    chat = check_chat((message.caption or "").strip())
    channel = await context.data.registry.find_channel(chat) if chat else None
    if channel is None:
        await reply(update, t("Write the channel the feeds should post to as the file's "
                              "caption, like @channel."))
        return
    try:
        telegram_file = await document.get_file()
        data = bytes(await telegram_file.download_as_bytearray())
        entries = parse_opml(data[:MAX_OPML_BYTES])
    except OpmlError as exc:
        await reply(update, t("That file cannot be used: {reason}", reason=str(exc)))
        return
    if not entries:
        await reply(update, t("The file lists no feeds."))
        return
    cut = max(0, len(entries) - MAX_OPML_FEEDS)
    entries = entries[:MAX_OPML_FEEDS]
    progress = await reply(update, t.n("Checking {count} feed…", "Checking {count} feeds…",
                                       len(entries)))
    user = update.effective_user
    uid = user.id if user else 0
    added, present, failed = 0, 0, []
    last_edit = time.monotonic()
    for index, (raw_url, title) in enumerate(entries, start=1):
        refusal = outline_refusal(raw_url)  # only http(s) outlines, as the CLI import
        url = check_url(raw_url) if refusal is None else None
        if url is None:
            failed.append((raw_url, t.raw("its password or key was masked by an export")
                           if refusal == MASKED else t.raw("not a web address")))
        elif await context.data.registry.find_feed(url) is not None:
            present += 1
        else:
            try:
                feed_url, parsed = await _fetch_parsed(context, url)
                # Imported feeds post only what they publish from now on (as the CLI import);
                # an address that redirects to a feed already followed is that feed.
                made = await context.data.registry.add_feed(
                    feed_url, channel.chat, first_run="none",
                    title=parsed.title or title or feed_url, user_id=uid)
                if made is None:
                    present += 1
                else:
                    added += 1
            except (FetchError, FeedParseError) as exc:
                failed.append((url, exc.message))
        if time.monotonic() - last_edit >= PROGRESS_EVERY_S and index < len(entries):
            await _progress(progress, t, index, len(entries), added, present, len(failed))
            last_edit = time.monotonic()
    await context.data.audit.record(uid, user_label(update), "opml.import",
                                    f"{added} added, {present} already, {len(failed)} failed "
                                    f"-> {channel.chat}")
    lines = [t("✅ Import finished: {added}, {present}, {failed}.",
               **_tally(t, added, present, len(failed)))]
    for url, reason in failed[:10]:
        lines.append(t("• {url}: {reason}", url=url, reason=reason[:120]))
    if cut:
        lines.append(t("The file lists {more} past the first {limit}; they were not imported: "
                       "send them in another file.",
                       more=t.counted("{count} more feed", "{count} more feeds", cut),
                       limit=MAX_OPML_FEEDS))
    final = join_lines(t, lines)
    if not await edit(progress, final):
        await reply(update, final)


def _tally(t: Translator, added: int, present: int, failed: int) -> dict[str, Html]:
    """The three counts of an import, each in the form its number needs."""
    return {"added": t.counted("{count} added", "{count} added", added),
            "present": t.counted("{count} already followed", "{count} already followed", present),
            "failed": t.counted("{count} failed", "{count} failed", failed)}


async def _progress(message: Message | None, t: Translator, done: int, total: int, added: int,
                    present: int, failed: int) -> None:
    try:
        await edit(message, t("Checking feeds: {done}/{total} ({added}, {present}, {failed})…",
                              done=done, total=total, **_tally(t, added, present, failed)))
    except TelegramError as exc:
        logger.info("progress edit failed: %s", exc)
