"""/why URL: what became of an article in each chat (editors)."""
from __future__ import annotations

from telegram import Update

from bot.context import NashirContext
from bot.handlers.common import reply, translator_for, url_argument
from bot.reply_limits import fit_reply
from bot.why import why


async def why_command(update: Update, context: NashirContext) -> None:
    t = await translator_for(update, context)
    text = " ".join(context.args or [])
    if not text.strip():
        await reply(update, t("Tell me the article's address: /why URL"))
        return
    url = await url_argument(update, t, text.strip())
    if url is None:
        return
    config = await context.data.registry.current()
    answer = await why(context.data.redis, config, url, t.lang)
    head, *rest = answer.lines
    await reply(update, fit_reply(t, [head], [[line] for line in rest]))
