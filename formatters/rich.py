"""Article + post options -> one Telegram rich message (the `rich_message` of sendRichMessage).

    build_rich(article, options, timezone=..., first_seen=...) -> RichPost (payload + notes)
    render_rich(article, options, timezone=..., first_seen=...) -> dict   (the payload alone)

The message, top to bottom (docs/rich-messages.md):

    heading size 1      the title
    footer              date line (as posts write it) · source · author
    photo               the lead image (`article.image_url`), when it is a usable http(s) URL
    body                paragraphs, subheadings (size 2-6), pull quote, quotations, lists, in
                        the article's order, furniture dropped (`formatters.rich_body`)
    buttons             "اقرأ على الموقع" / "Read on the site" -> the article

Arabic messages carry `is_rtl`; every text starts with the message's strong mark (RLM or LRM)
and has its opposite-direction runs isolated exactly as posts do (`formatters.rtl`), so a line
that starts with a Latin word or a number still reads right to left on clients that ignore
`is_rtl`. `skip_entity_detection` is always set: an article's "#1" or "$5" is not a hashtag.

Too long for Telegram (characters or blocks, `RichLimits`): the body is cut at a block boundary
and the button becomes "تابع القراءة على الموقع" / "Continue reading on the site". Only when the
first body block alone does not fit is it cut inside, at a sentence end where one is near
(`formatters.excerpt.cut_text`); a list or quotation keeps the items that fit.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from formatters.dates import post_date, zone
from formatters.errors import UnrenderableArticle
from formatters.excerpt import cut_text
from formatters.rich_body import Body, Heading, ListPart, Paragraph, Part, Quote, body_parts
from formatters.rtl import isolate_text, line_mark
from formatters.telegram_html import checked_url
from formatters.text import clean_inline
from model.article import Article
from model.post import PostOptions

__all__ = ["RichLimits", "RichPost", "UnrenderableArticle", "build_rich", "render_rich",
           "text_length", "block_count"]

logger = logging.getLogger(__name__)

JSON = dict[str, Any]
TITLE_MAX = 256
AUTHOR_MAX = 80
SOURCE_MAX = 80
CREDIT_MAX = 120
RAW_FIELD_MAX = 4 * TITLE_MAX
_FIT_ATTEMPTS = 8
_FOOTER_SEPARATOR = " · "
# Names CMSs fill in when a post has no author: not worth a reader's attention.
_NO_AUTHOR = frozenset({"unknown", "admin", "administrator", "anonymous", "غير معروف", "مجهول"})
READ_LABEL = {"ar": "اقرأ على الموقع", "en": "Read on the site"}
CONTINUE_LABEL = {"ar": "تابع القراءة على الموقع", "en": "Continue reading on the site"}


@dataclass(frozen=True, slots=True)
class RichLimits:
    """Telegram's limits for one rich message (Bot API formatting options). `text` counts code
    points of every string shown; lower it if Telegram turns out to count UTF-8 bytes. `depth`
    is never approached: our blocks nest three levels at most (list, item, paragraph)."""

    text: int = 32_768
    blocks: int = 500
    depth: int = 16
    media: int = 50


@dataclass(frozen=True, slots=True)
class RichPost:
    """A rich message ready for `delivery.rich.send_rich`, and what the caller should report.

    `cut`: why the body was shortened (None: the whole article is in). `left_out`: body parts
    a rich message does not show ("2 code blocks"). `photo`: the lead image used, if any."""

    payload: JSON
    language: str
    cut: str | None = None
    left_out: tuple[str, ...] = ()
    photo: str | None = None
    blocks: int = 0
    chars: int = 0


# --- counting, as the fake Bot API does (sandbox/telegram_rich.py) ---------------------------


def _rich_text_length(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(_rich_text_length(item) for item in value)
    if isinstance(value, dict):
        if value.get("type") == "button":
            return _rich_text_length((value.get("button") or {}).get("text", ""))
        return _rich_text_length(value.get("text", ""))
    return 0


def text_length(blocks: Iterable[JSON]) -> int:
    """Code points of every string a reader sees: texts, credits, captions, summaries and
    button labels (URLs are not text)."""
    total = 0
    for block in blocks:
        for key in ("text", "credit", "summary"):
            total += _rich_text_length(block.get(key))
        caption = block.get("caption")
        if isinstance(caption, dict):
            total += _rich_text_length(caption.get("text")) + _rich_text_length(
                caption.get("credit"))
        total += text_length(block.get("blocks") or [])
        for item in block.get("items") or []:
            total += text_length(item.get("blocks") or [])
        for button in block.get("buttons") or []:
            total += _rich_text_length(button.get("text"))
    return total


def block_count(blocks: Iterable[JSON]) -> int:
    """Blocks as Telegram counts them: every block at any depth, and every list item."""
    total = 0
    for block in blocks:
        total += 1 + block_count(block.get("blocks") or [])
        for item in block.get("items") or []:
            total += 1 + block_count(item.get("blocks") or [])
    return total


# --- building blocks -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Style:
    language: str

    def text(self, value: str) -> str:
        """Clean one-line text -> what a block carries: the strong mark, then the text with its
        opposite-direction runs isolated."""
        return line_mark(self.language) + isolate_text(value, self.language)

    def paragraph(self, value: str) -> JSON:
        return {"type": "paragraph", "text": self.text(value)}

    def part(self, part: Part) -> JSON:
        if isinstance(part, Paragraph):
            return self.paragraph(part.text)
        if isinstance(part, Heading):
            return {"type": "heading", "size": part.level, "text": self.text(part.text)}
        if isinstance(part, Quote):
            credit = cut_text(part.credit, CREDIT_MAX)
            if part.pull:
                block: JSON = {"type": "pullquote", "text": self.text(" ".join(part.paragraphs))}
            else:
                block = {"type": "blockquote",
                         "blocks": [self.paragraph(text) for text in part.paragraphs]}
            if credit:
                block["credit"] = self.text(credit)
            return block
        items: list[JSON] = []
        for number, text in enumerate(part.items, start=1):
            item: JSON = {"blocks": [self.paragraph(text)]}
            if part.ordered:
                item["value"] = number
            items.append(item)
        return {"type": "list", "items": items}


def _short(value: object, limit: int) -> str:
    if not isinstance(value, str) or not value:
        return ""
    return cut_text(clean_inline(value[:RAW_FIELD_MAX]), limit)


def _plural(kind: str, count: int) -> str:
    return f"{count} {kind}" if count == 1 else f"{count} {kind}s"


# --- fitting the limits --------------------------------------------------------------------------


@dataclass(slots=True)
class _Budget:
    chars: int
    blocks: int

    def fits(self, block: JSON) -> bool:
        return text_length([block]) <= self.chars and block_count([block]) <= self.blocks

    def take(self, block: JSON) -> None:
        self.chars -= text_length([block])
        self.blocks -= block_count([block])


def _shrink_text(text: str, make: Callable[[str], JSON], budget: _Budget) -> JSON | None:
    """The longest start of `text` (cut at a sentence end where possible) whose block fits."""
    room = budget.chars
    for _ in range(_FIT_ATTEMPTS):
        if room <= 1:
            return None
        piece = cut_text(text, room)
        if not piece:
            return None
        block: JSON = make(piece)
        if budget.fits(block):
            return block
        room -= max(1, text_length([block]) - budget.chars)  # our marks and isolates
    return None


def _shrink(style: _Style, part: Part, budget: _Budget) -> JSON | None:
    """As much of one too-long part as fits, or None."""
    if isinstance(part, Paragraph):
        return _shrink_text(part.text, style.paragraph, budget)
    if isinstance(part, Quote) and part.pull:
        return _shrink_text(" ".join(part.paragraphs),
                            lambda t: style.part(Quote((t,), part.credit, pull=True)), budget)
    if isinstance(part, Quote | ListPart):
        texts = part.paragraphs if isinstance(part, Quote) else part.items

        def make(kept: tuple[str, ...]) -> JSON:
            return style.part(Quote(kept, part.credit) if isinstance(part, Quote)
                              else ListPart(kept, part.ordered))

        # Whole items while they fit: each costs its paragraph (and, in a list, the item).
        empty = make(texts[:1])
        chars = budget.chars - (text_length([empty]) - text_length([style.paragraph(texts[0])]))
        blocks = budget.blocks - 1
        count = 0
        for text in texts:
            cost = text_length([style.paragraph(text)])
            need = 2 if isinstance(part, ListPart) else 1
            if cost > chars or need > blocks:
                break
            chars, blocks, count = chars - cost, blocks - need, count + 1
        if count:
            block = make(texts[:count])
            if budget.fits(block):
                return block
        return _shrink_text(texts[0], lambda t: make((t,)), budget)
    return None


def _fit_body(style: _Style, parts: list[Part], budget: _Budget) -> tuple[list[JSON], str | None]:
    """Body blocks within the budget, and why the body was cut (None: all of it fits)."""
    blocks: list[JSON] = []
    for index, part in enumerate(parts):
        block = style.part(part)
        if budget.fits(block):
            budget.take(block)
            blocks.append(block)
            continue
        over = "characters" if text_length([block]) > budget.chars else "blocks"
        reason = (f"the body is longer than a rich message holds ({over}); cut after "
                  f"{_plural('block', len(blocks))}, {len(parts) - index} part(s) left out")
        if all(b["type"] == "heading" for b in blocks):  # nothing to read yet
            shrunk = _shrink(style, part, budget)
            if shrunk is not None:
                budget.take(shrunk)
                blocks.append(shrunk)
                reason = (f"the first part of the body alone is longer than a rich message "
                          f"holds ({over}); cut inside it")
        while blocks and blocks[-1]["type"] == "heading":
            blocks.pop()  # a heading with nothing under it
        return blocks, reason
    return blocks, None


# --- the message ---------------------------------------------------------------------------------


def build_rich(article: Article, options: PostOptions, *, timezone: str, first_seen: datetime,
               limits: RichLimits = RichLimits(), photo: bool = True) -> RichPost:
    """One article as a rich message with one channel's options (`timezone`: the default zone).

    `photo=False` leaves the lead image out (for a chat where the bot may not send photos).
    Raises UnrenderableArticle(reason) when there is nothing to show; any other failure is
    turned into one too, so a single bad item can never stop a feed."""
    try:
        return _build(article, options, timezone=timezone, first_seen=first_seen,
                      limits=limits, photo=photo)
    except UnrenderableArticle as exc:
        logger.info("skipping article %s of %s: %s", getattr(article, "url", "?"),
                    getattr(article, "feed_url", "?"), exc.reason)
        raise
    except Exception as exc:  # the contract: a logged skip, never a crash of the caller
        logger.exception("skipping article %s of %s: rich formatter failed",
                         getattr(article, "url", "?"), getattr(article, "feed_url", "?"))
        raise UnrenderableArticle(f"internal formatter error ({type(exc).__name__})") from exc


def render_rich(article: Article, options: PostOptions, *, timezone: str, first_seen: datetime,
                limits: RichLimits = RichLimits(), photo: bool = True) -> JSON:
    """The `rich_message` payload alone (see `build_rich`)."""
    return build_rich(article, options, timezone=timezone, first_seen=first_seen,
                      limits=limits, photo=photo).payload


def _build(article: Article, options: PostOptions, *, timezone: str, first_seen: datetime,
           limits: RichLimits, photo: bool) -> RichPost:
    language = options.language if options.language in READ_LABEL else "ar"
    style = _Style(language)
    title = _short(article.title, TITLE_MAX)
    content = article.content_html if isinstance(article.content_html, str) else ""
    body: Body = body_parts(content, title=title)
    if not title and not body.parts:
        raise UnrenderableArticle("nothing to show: no title and no body text")

    head: list[JSON] = []
    if title:
        head.append({"type": "heading", "size": 1, "text": style.text(title)})
    footer = _footer(article, options, language, timezone, first_seen)
    if footer:
        head.append({"type": "footer", "text": style.text(footer)})
    image = checked_url(article.image_url) if photo else None
    if image and limits.media >= 1:
        head.append({"type": "photo", "photo": {"type": "photo", "media": image}})
    else:
        image = None

    url = checked_url(article.url)

    def buttons(label: str) -> list[JSON]:
        if not url:
            return []
        return [{"type": "buttons", "align": "center",
                 "buttons": [{"text": label, "url": url}]}]

    # Budget with the longer label: the button is chosen only after the body is cut.
    budget = _Budget(limits.text - text_length(head + buttons(CONTINUE_LABEL[language])),
                     limits.blocks - block_count(head + buttons(CONTINUE_LABEL[language])))
    if budget.chars < 0 or budget.blocks < 0:
        raise UnrenderableArticle("the title and date alone exceed a rich message's limits")
    body_blocks, cut = _fit_body(style, body.parts, budget)
    if not title and not body_blocks:
        raise UnrenderableArticle("nothing to show: no title, and no body text fits")
    if cut and not url:
        cut += " (the article has no link to continue on)"
    blocks = head + body_blocks + buttons(CONTINUE_LABEL[language] if cut else READ_LABEL[language])

    payload: JSON = {}
    if language == "ar":
        payload["is_rtl"] = True
    payload["skip_entity_detection"] = True
    payload["blocks"] = blocks
    left_out = tuple(_plural(kind, count) for kind, count in sorted(body.left_out.items()))
    if cut:
        logger.info("rich message of %s cut: %s", url or article.uid, cut)
    if left_out:
        logger.info("rich message of %s leaves out %s", url or article.uid, ", ".join(left_out))
    return RichPost(payload=payload, language=language, cut=cut, left_out=left_out, photo=image,
                    blocks=block_count(blocks), chars=text_length(blocks))


def _footer(article: Article, options: PostOptions, language: str, timezone: str,
            first_seen: datetime) -> str:
    """The date line as posts write it, then the source and the author (each once)."""
    date = post_date(article.published_at, first_seen, tz=zone(options.timezone or timezone),
                     language=language, month_names=options.month_names, digits=options.digits,
                     calendars=options.calendars)
    author = _short(article.author, AUTHOR_MAX)
    if author.casefold() in _NO_AUTHOR:
        author = ""
    source = _short(article.source_name, SOURCE_MAX)
    if source.casefold() == author.casefold():
        source = ""
    return _FOOTER_SEPARATOR.join(p for p in (date.text, source, author) if p)
