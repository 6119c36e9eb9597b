"""Keeping the bot's own replies within what Telegram accepts: 4,096 characters of text after
the HTML is parsed, counted in UTF-16 code units (never less than Telegram's own count, see
formatters.telegram_html), and at most 100 buttons under a message.

Lists that grow with the publication (feeds, subscriptions, channels, editors, failing feeds,
audit lines) are cut with a last line "…and N more" instead of being refused by Telegram."""
from __future__ import annotations

import html
import re
from collections.abc import Sequence

from bot.i18n import Html, Translator
from formatters.telegram_html import TEXT_LIMIT, telegram_length

MAX_BUTTONS = 100
_TAG = re.compile(r"<[^>]*>")


def reply_length(text: str) -> int:
    """The length Telegram checks for a reply in HTML: tags dropped, entities decoded, UTF-16."""
    return telegram_length(html.unescape(_TAG.sub("", text)))


def fit_reply(t: Translator, head: Sequence[str], blocks: Sequence[Sequence[str]],
              tail: Sequence[str] = (), *, limit: int = TEXT_LIMIT) -> Html:
    """`head`, then as many of `blocks` (each a few lines of HTML) as fit within `limit`, then
    "…and N more" for the blocks left out, then `tail`: one reply Telegram accepts."""
    def build(shown: int) -> str:
        lines = list(head)
        for block in blocks[:shown]:
            lines.extend(block)
        if shown < len(blocks):
            lines.append(t.n("…and {count} more.", "…and {count} more.", len(blocks) - shown))
        lines.extend(tail)
        return t.finish("\n".join(lines))

    # A first guess from each block's own length (plus its line breaks and the mark each line
    # may get), then exact checks, dropping one block at a time.
    budget = limit - reply_length(build(0)) - 1
    shown, used = 0, 0
    for block in blocks:
        cost = sum(reply_length(line) + 2 for line in block)
        if used + cost > budget:
            break
        used += cost
        shown += 1
    text = build(shown)
    while shown > 0 and reply_length(text) > limit:
        shown -= 1
        text = build(shown)
    return Html(text)
