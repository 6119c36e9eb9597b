"""What editors see of a rich channel's message on /push previews and review cards.

The card shows the HTML summary (what the channel falls back to, and what the editor can read
on every client) with one line above it saying that the channel gets the whole piece as a
rich message: how many blocks and whether it was cut. The rich message itself is not sent to
the editor as the card because a card is edited in place with each decision (a rich message
has no text to edit), and Telegram Web and the macOS app show rich messages as "not
supported" or an empty bubble (docs/rich-messages.md): an editor there would see nothing.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.i18n import Translator
from config.schema import ChannelConfig
from model.article import Article
from pipeline.publish import Publisher


def rich_note(t: Translator, publisher: Publisher, article: Article,
              channels: Sequence[ChannelConfig], first_seen: datetime) -> str:
    """One line for the card ("" when none of `channels` posts rich messages)."""
    rich = [c for c in channels if c.format == "rich"]
    if not rich:
        return ""
    post = publisher.rich(article, rich[0], first_seen)
    chats = ", ".join(c.chat for c in rich)
    if post is None:
        return t("📰 {chats} take rich messages, but none can be made of this article: they "
                 "get the summary below.", chats=chats)
    if post.cut:
        return t.n("📰 {chats}: the whole piece as a rich message ({count} block), cut at a "
                   "block boundary with a button to continue on the site. Below: its summary.",
                   "📰 {chats}: the whole piece as a rich message ({count} blocks), cut at a "
                   "block boundary with a button to continue on the site. Below: its summary.",
                   post.blocks, chats=chats)
    return t.n("📰 {chats}: the whole piece as a rich message ({count} block). Below: its "
               "summary, which goes instead where Telegram refuses rich messages.",
               "📰 {chats}: the whole piece as a rich message ({count} blocks). Below: its "
               "summary, which goes instead where Telegram refuses rich messages.",
               post.blocks, chats=chats)
