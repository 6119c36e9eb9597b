"""Article + post options -> the post Telegram receives (`RenderedPost`). Pure: no I/O.

    render_post(article, options, timezone=..., first_seen=...) -> RenderedPost
    render_preview_html([(label, post), ...]) -> str   (an HTML page, as the web client shows it)

Order of work: clean every field (formatters.text), pick the excerpt's paragraphs
(formatters.excerpt), the date line (formatters.dates), hashtags, link and photo; isolate
opposite-direction runs in each field and start each line with a strong mark (formatters.rtl);
fill the template (formatters.templates). Then fit Telegram's limit (4096 UTF-16 units, 1024
for a photo caption) by shortening only the excerpt, never the markup.
"""
from __future__ import annotations

import logging
from datetime import datetime

from formatters.dates import post_date, zone
from formatters.errors import TemplateError, UnrenderableArticle
from formatters.excerpt import Excerpt, cut_text
from formatters.hashtags import hashtags
from formatters.labels import LABELS
from formatters.metadata import clean_author, clean_title, plausible_date, site_names, source_line
from formatters.preview import render_preview_html
from formatters.rtl import LRI, PDI, RLI, first_strong_rtl, has_rtl, isolate_text, line_mark
from formatters.telegram_html import (
    CAPTION_LIMIT,
    RAW_BYTES_LIMIT,
    TEXT_LIMIT,
    checked_url,
    escape_text,
    link,
    telegram_length,
)
from formatters.templates import (
    DEFAULT_TEMPLATES,
    EMPTY,
    Fragment,
    compile_template,
    render,
    validate_template,
)
from formatters.text import clean_inline, comparison_key
from model.article import Article
from model.post import PostOptions, RenderedPost, is_rtl

__all__ = ["UnrenderableArticle", "render_post", "render_preview_html", "validate_template"]

logger = logging.getLogger(__name__)

TITLE_MAX = 256
AUTHOR_MAX = 80
SOURCE_MAX = 80
# Raw fields are cut before cleaning so a 1 MB "title" costs no more than a long one.
RAW_FIELD_MAX = 4 * TITLE_MAX
_FIT_ATTEMPTS = 8
_INVISIBLE = frozenset("\u200b\u200c\u200d\u200e\u200f\u2066\u2067\u2068\u2069\ufeff")


def _clean(value: object) -> str:
    if not isinstance(value, str) or not value:
        return ""
    return clean_inline(value[:RAW_FIELD_MAX])


def _plain(text: str, language: str) -> Fragment:
    if not text:
        return EMPTY
    text = isolate_text(text, language)
    return Fragment(escape_text(text), text)


def _bold(text: str, language: str) -> Fragment:
    fragment = _plain(text, language)
    return Fragment(f"<b>{fragment.html}</b>", fragment.text) if fragment.text else EMPTY


def _hashtag(tag: str, language: str) -> str:
    # Each tag is isolated on its own, and only as a whole: "#Syria #Russia" as one LTR run
    # would read backwards, and an isolate character inside a tag (after the "#", or between
    # the Latin and the Arabic of "#COVID19_سوريا") would end Telegram's hashtag there. In a
    # right-to-left post a tag that starts with a Latin letter goes in an LTR isolate, and a
    # tag that starts with an RTL letter stays in the line's direction. In a left-to-right post
    # a tag with an RTL letter goes in an RTL isolate with its "#", so the "#" stands where its
    # reader starts, on the right (in an LTR isolate it would trail on the left, after the word).
    if is_rtl(language):
        return tag if first_strong_rtl(tag) else f"{LRI}{tag}{PDI}"
    if has_rtl(tag):
        return f"{RLI}{tag}{PDI}"
    return tag


def _hashtags(tags: list[str], language: str) -> Fragment:
    text = " ".join(_hashtag(tag, language) for tag in tags)
    return Fragment(escape_text(text), text) if text else EMPTY


def _mark_lines(post: Fragment, language: str) -> Fragment:
    """Start every non-empty line with the post's strong mark (RLM or LRM).

    Blank lines are exactly "" (render() guarantees it) and no line can end with one of our
    marks otherwise (input marks are stripped), so "mark + newline" only ever means a blank line.
    """
    mark = line_mark(language)
    newline = "\n" + mark
    blank = mark + "\n"
    return Fragment((mark + post.html.replace("\n", newline)).replace(blank, "\n"),
                    (mark + post.text.replace("\n", newline)).replace(blank, "\n"))


def _visible(text: str) -> bool:
    """Whether Telegram would find anything to show (it refuses text of only spaces, marks
    and joiners as empty)."""
    return any(not ch.isspace() and ch not in _INVISIBLE for ch in text)


def _over(post: Fragment, limit: int) -> int:
    """How many units too long the post is (<= 0 when it fits)."""
    over_text = telegram_length(post.text) - limit
    over_bytes = len(post.html.encode("utf-8")) - RAW_BYTES_LIMIT
    # One character of text can take up to 5 bytes of markup ("&amp;").
    return max(over_text, -(-over_bytes // 5))


def render_post(article: Article, options: PostOptions, *, timezone: str,
                first_seen: datetime) -> RenderedPost:
    """Render one article with one channel's options (`timezone`: the default zone).

    Raises UnrenderableArticle(reason) when no valid post can be made (nothing to show, or a
    template too long for Telegram); any other failure is turned into one too, so a single
    bad item can never stop a feed.
    """
    try:
        return _render(article, options, timezone=timezone, first_seen=first_seen)
    except UnrenderableArticle as exc:
        logger.info("skipping article %s of %s: %s", getattr(article, "uid", "?"),
                    getattr(article, "feed_url", "?"), exc.reason)
        raise
    except TemplateError as exc:
        reason = f"the channel's template is invalid: {exc}"
        logger.error("skipping article %s of %s: %s", getattr(article, "uid", "?"),
                     getattr(article, "feed_url", "?"), reason)
        raise UnrenderableArticle(reason) from exc
    except Exception as exc:  # the contract: a logged skip, never a crash of the caller
        logger.exception("skipping article %s of %s: formatter failed",
                         getattr(article, "uid", "?"), getattr(article, "feed_url", "?"))
        raise UnrenderableArticle(f"internal formatter error ({type(exc).__name__})") from exc


def _render(article: Article, channel: PostOptions, *, timezone: str,
            first_seen: datetime) -> RenderedPost:
    language = channel.language if channel.language in LABELS else "ar"
    read_more = LABELS[language].read_more
    # Metadata as a sub-editor would write it (formatters.metadata): no site name after the
    # title, no placeholder byline, no feed boilerplate as the source, no impossible date.
    source_name = _clean(article.source_name)
    names = site_names(source=source_name, urls=(_clean(article.url), _clean(article.feed_url)))
    title = cut_text(clean_title(_clean(article.title), names), TITLE_MAX)
    excerpt = Excerpt.from_content(article.content_html if isinstance(article.content_html, str)
                                   else "", title=title)
    if not title and excerpt.empty:
        raise UnrenderableArticle("nothing to show: no title and no body text")
    if excerpt.empty and not any(ch.isalpha() for ch in title):
        raise UnrenderableArticle(f"nothing to show: the title {title!r} has no words and "
                                  "there is no body text")

    author = cut_text(clean_author(_clean(article.author), names), AUTHOR_MAX)
    source = cut_text(source_line(source_name), SOURCE_MAX)
    if comparison_key(source) == comparison_key(author):
        source = ""
    published = plausible_date(article.published_at, first_seen, link=_clean(article.url))
    date = post_date(published, first_seen,
                     tz=zone(channel.timezone or timezone), language=language,
                     month_names=channel.month_names, digits=channel.digits,
                     calendars=channel.calendars)
    url = checked_url(article.url)
    photo = checked_url(article.image_url) if channel.photo else None
    tags = hashtags(article.categories) if channel.hashtags else []

    fields = {
        "title": _bold(title, language),
        "date": _plain(date.text, language),
        "author": _plain(author, language),
        "source": _plain(source, language),
        "hashtags": _hashtags(tags, language),
        "link": Fragment(link(url, read_more), read_more) if url else EMPTY,
        "excerpt": EMPTY,
    }
    lines = compile_template(channel.template or DEFAULT_TEMPLATES[language], language)

    def assemble(excerpt_text: str) -> Fragment:
        fields["excerpt"] = _plain(excerpt_text, language)
        return _mark_lines(render(lines, fields), language)

    # Fit Telegram's limit by shortening the excerpt only. Usually the first try fits; the
    # isolates and line marks added to the excerpt are why a second one may be needed.
    limit = CAPTION_LIMIT if photo else TEXT_LIMIT
    budget = channel.excerpt_chars
    post: Fragment | None = None
    with_excerpt = False
    for _ in range(_FIT_ATTEMPTS):
        text = excerpt.text(budget) if budget > 0 else ""
        candidate = assemble(text)
        over = _over(candidate, limit)
        if over <= 0:
            post, with_excerpt = candidate, bool(text)
            break
        if text:
            budget = max(0, min(budget, len(text)) - over)
        elif photo:
            photo, limit, budget = None, TEXT_LIMIT, channel.excerpt_chars  # a text post can
        else:
            raise UnrenderableArticle("the post is too long for Telegram even without an "
                                      "excerpt (check the channel's template)")
    if post is None:  # did not converge (cannot happen with sane limits): go without excerpt
        post = assemble("")
        if _over(post, limit) > 0:
            raise UnrenderableArticle("the post does not fit Telegram's length limit")
    if not title and not with_excerpt:
        raise UnrenderableArticle("nothing to show: no title, and no body text fits")
    if not _visible(post.text):
        raise UnrenderableArticle("nothing to show: the channel's template shows no field "
                                  "this article has")
    preview = url if (channel.link_preview and url and not photo) else None
    return RenderedPost(html=post.html, photo_url=photo, preview_url=preview, language=language)
