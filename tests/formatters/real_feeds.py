"""An audit of posts made from real publishers' feeds, as a sub-editor would read them.

Each item of ../shared/corpus/real/rtl-feeds is parsed with the real feed parser and rendered
with the real formatter; the checks below look at the post's text only, with rules written
independently of the formatter's own code, and name every defect they find:

  empty        the feed carries 80+ characters of text but the post has no excerpt
  skipped      two excerpt paragraphs that do not follow each other in the article
  bracket      an excerpt that leaves a bracket or quote open (﴿ « ( [) that the source closes
  truncated    a publisher's cut shown as if whole: the excerpt ends on the half word or the
               dangling word before the cut, or without "…"
  mid_cut      the excerpt ends mid-sentence although its last paragraph has a sentence end
               in the last 60% of its length
  date         a date line claiming a year before 1995, year 1, or a day after first sight
  junk         the site's name after the title, a placeholder author, a boilerplate feed title
               as the source, a masthead or a CMS link list as text

Run `python -m tests.formatters.real_feeds` for the report, one line per defect.
"""
from __future__ import annotations

import html as html_module
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from feeds.parser import parse_feed
from formatters.errors import UnrenderableArticle
from formatters.post import render_post
from formatters.telegram_html import html_to_plain
from formatters.text import clean_inline, comparison_key
from model.article import Article
from model.post import PostOptions, RenderedPost

REAL_FEEDS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "real" / "rtl-feeds"
# After the newest item of every feed (2026-08-09): when a bot polling them would have seen it.
FIRST_SEEN = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
# What an operator would write as each feed's `name` (FeedConfig.name): the pipeline puts it in
# Article.source_name. Feeds not listed keep their own title.
OPERATOR_NAMES = {
    "ar-news-alhurra-rss.xml": "الحرة",
    "ar-news-hespress-rss.xml": "هسبريس",
    "ar-news-elaph-rss.xml": "إيلاف",
    "ar-news-aawsat-rss.xml": "الشرق الأوسط",
    "ar-news-arabi21-rss.xml": "عربي21",
    "ar-news-raialyoum-rss.xml": "رأي اليوم",
    "ar-news-alarab-drupal-pdfpages-rss.xml": "العرب",
    "ar-analysis-psrecord-wordpress-rss.xml": "السجل",
}
# A marker template: each field on its own line between separator lines that always show.
SEP = "⁂"
MARKED = PostOptions(template=f"{{title}}\n{SEP}\n{{date}}\n{SEP}\n{{excerpt}}\n{SEP}\n"
                              f"{{author}}\n{SEP}\n{{source}}")
DEFAULT = PostOptions(calendars=("gregorian", "hijri"))

_MARKS = dict.fromkeys(map(ord, "\u200e\u200f\u061c\u2066\u2067\u2068\u2069"))
_BLOCK_TAG = re.compile(
    r"<(?:br|p|div|li|ul|ol|h[1-6]|blockquote|pre|tr|td|th|table|section|article|figure|"
    r"figcaption|header|footer|dd|dt|hr)\b[^>]*>|</(?:p|div|li|h[1-6]|blockquote|pre|tr|td|th|"
    r"table|section|article|figure|figcaption|dd|dt)>", re.IGNORECASE)
_DROPPED = re.compile(r"<(script|style|figcaption|nav|aside|footer)\b.*?</\1>|<!--.*?-->",
                      re.I | re.S)
_TAG = re.compile(r"<[^>]+>")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
TERMINAL = ".!?\u061f\u06d4\u2026"
_CLOSERS = "\"'\u201d\u2019\u00bb)]\ufd3e"
_SENTENCE_END = re.compile("[.!?\u061f\u06d4\u2026]+[\"'\u201d\u2019\u00bb)\\]\ufd3e]*(?=\\s)")
_PAIRS = (("\ufd3f", "\ufd3e"), ("\u00ab", "\u00bb"), ("(", ")"), ("[", "]"))
# Words a sentence cannot end on (Arabic prepositions, conjunctions, particles, relative
# pronouns, "هذ" cut short): an excerpt ending on one shows the publisher's cut, not a sentence.
_DANGLING_WORDS = (
    "في من على إلى الى عن مع أن ان إن لن لم قد ثم أو او بل لكن حتى منذ عند بين نحو حول ضد دون "
    "و ف ب ل ك وفي ومن وعلى وإلى وعن ومع وأن وإن ولم وقد هذ التي الذي الذين اللذين "
    "كما مثل عبر خلال سوى إذا اذا لو")
DANGLING = frozenset(_DANGLING_WORDS.split(" "))
_PLACEHOLDER_AUTHORS = {"unknown", "admin", "administrator", "editor", "kheditor", "webmaster",
                        "anonymous", "root", "غيرمعروف", "مجهول"}
_BOILERPLATE_SOURCE = re.compile(r"article feed|\bRSS\b|\bfeed\b|^\S.* on \S", re.IGNORECASE)
_MASTHEAD = re.compile(r"الإشراف العام\s*:|رئيس التحرير\s*:|مدير التحرير\s*:")
_CMS_LINKS = re.compile(r"\.pdf\b|PDF pages|الصفحات PDF|\bIssue Reference\b", re.IGNORECASE)


@dataclass
class Post:
    """One rendered item, split into the fields a reader sees."""

    feed: str
    article: Article
    title: str = ""
    date: str = ""
    excerpt: list[str] = field(default_factory=list)
    author: str = ""
    source: str = ""
    skipped: str = ""          # the skip reason when the item did not become a post
    posts: list[RenderedPost] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The item's name in reports: feed file and link (or title)."""
        return f"{self.feed} {self.article.url or self.article.title!r}"


@dataclass(frozen=True)
class Defect:
    """One defect: its class, the post, and what was seen."""

    kind: str
    post: str
    detail: str


def plain(post: RenderedPost) -> str:
    """The post's text as a reader sees it, without our invisible direction marks."""
    return html_to_plain(post.html, keep_urls=False).translate(_MARKS)


def _article(article: Article, feed_file: str) -> Article:
    name = OPERATOR_NAMES.get(feed_file)
    if not name:
        return article
    return Article(**{**{f: getattr(article, f) for f in article.__slots__},  # type: ignore[attr-defined]
                      "source_name": name})


def render_feed(path: Path, *, names: bool = True) -> Iterator[Post]:
    """Every item of one feed file, rendered with the marker template (and the default one)."""
    parsed = parse_feed(path.read_bytes(), feed_url=f"https://feeds.example/{path.name}")
    for original in parsed.articles:
        art = _article(original, path.name) if names else original
        post = Post(path.name, art)
        try:
            marked = render_post(art, MARKED, timezone="UTC", first_seen=FIRST_SEEN)
            default = render_post(art, DEFAULT, timezone="UTC", first_seen=FIRST_SEEN)
        except UnrenderableArticle as skip:
            post.skipped = skip.reason
            yield post
            continue
        post.posts = [marked, default]
        _split(post, plain(marked))
        yield post


def _split(post: Post, text: str) -> None:
    """Fill the post's fields from the marker template's text."""
    parts: list[list[str]] = [[]]
    for line in text.split("\n"):
        if line == SEP:
            parts.append([])
        else:
            parts[-1].append(line)
    title, date, excerpt, author, source = ("\n".join(p).strip("\n") for p in parts)
    post.title, post.date, post.author, post.source = title, date, author, source
    post.excerpt = [line for line in excerpt.split("\n") if line]


def real_item(feed_file: str, link_start: str) -> Article:
    """One item of a real feed, by its link (or title); the test is skipped without ../shared."""
    import pytest

    path = REAL_FEEDS / feed_file
    if not path.is_file():
        pytest.skip(f"the real feeds are not at {REAL_FEEDS.resolve()}; this test needs ../shared")
    parsed = parse_feed(path.read_bytes(), feed_url=f"https://feeds.example/{feed_file}")
    for article in parsed.articles:
        if (article.url or article.title).startswith(link_start):
            return _article(article, feed_file)
    raise LookupError(f"no item {link_start!r} in {feed_file}")


def render_one(article: Article, options: PostOptions = MARKED) -> Post:
    """One article rendered like the audit renders it (fields filled for the marker template)."""
    post = Post("", article)
    made = render_post(article, options, timezone="UTC", first_seen=FIRST_SEEN)
    post.posts = [made]
    if options.template == MARKED.template:
        _split(post, plain(made))
    return post


def all_posts(*, names: bool = True) -> list[Post]:
    """Every item of every real RTL feed."""
    return [post for path in sorted(REAL_FEEDS.glob("*.xml"))
            for post in render_feed(path, names=names)]


# ------------------------------------------------------------------------------------------
# the source as lines, independently of the formatter's HTML reading

def source_lines(content: str) -> list[str]:
    """The article's text blocks in order: block tags and <br> end a line; inline tags vanish."""
    if "<" not in content:
        pieces = html_module.unescape(content).split("\n")
    else:  # newlines inside a block are only source formatting
        text = _DROPPED.sub("\x00", content)
        text = _TAG.sub("", _BLOCK_TAG.sub("\x00", text))
        pieces = html_module.unescape(text).split("\x00")
    lines = (clean_inline(raw) for raw in pieces)
    # A line with no word and no sentence mark ("٭ ٭ ٭") is a separator, not a line of text.
    return [line for line in lines if line and (
        any(ch.isalnum() for ch in line) or any(ch in ".\u2026?\u061f!" for ch in line))]


def feed_text(content: str) -> str:
    """The feed's text without links: what there is to make an excerpt from."""
    return clean_inline(_URL.sub(" ", " ".join(source_lines(content))))


def _bare(paragraph: str) -> str:
    return paragraph.removesuffix("\u2026").rstrip()


def _locate(paragraph: str, lines: list[str], start: int) -> int:
    """The index of the source line this excerpt paragraph comes from (-1 if none)."""
    key = comparison_key(_bare(paragraph))
    if not key:  # "- ..." (a silent reply): the text itself
        return next((index for index in range(start, len(lines))
                     if lines[index] == paragraph.strip()), -1)
    for index in range(start, len(lines)):
        line_key = comparison_key(lines[index])
        if line_key.startswith(key) or (len(key) > 30 and key[:30] in line_key):
            return index
    return -1


# ------------------------------------------------------------------------------------------
# the checks

def check_empty(post: Post) -> Iterator[Defect]:
    """No excerpt although the feed has 80+ characters of text."""
    text = feed_text(post.article.content_html)
    if len(text) >= 80 and not post.excerpt:
        yield Defect("empty", post.name, f"{len(text)} characters of feed text: {text[:70]}…")


def _sentence(line: str) -> bool:
    """A line of prose by a reader's eye: a sentence of four words or more."""
    return len(line.split()) >= 4 and line.rstrip(_CLOSERS).endswith(tuple(TERMINAL))


def check_skipped(post: Post) -> Iterator[Defect]:
    """Excerpt lines are consecutive lines of the source, and no sentence before the first
    one was passed over (only the title, headings and such may come before it)."""
    lines = source_lines(post.article.content_html)
    previous = -1
    for paragraph in post.excerpt:
        index = _locate(paragraph, lines, max(previous, 0))
        if index < 0:
            yield Defect("skipped", post.name, f"not found in the source: {paragraph[:60]}")
            return
        if previous < 0:
            title = comparison_key(post.article.title)
            passed = [line for line in lines[:index]
                      if _sentence(line) and comparison_key(line) != title]
            if passed:
                yield Defect("skipped", post.name, f"starts after a sentence: {passed[0][:60]}")
        elif index != previous + 1:
            gap = " / ".join(line[:40] for line in lines[previous + 1:index])
            yield Defect("skipped", post.name, f"skips {index - previous - 1} line(s): {gap}")
        previous = index


def check_brackets(post: Post) -> Iterator[Defect]:
    """No bracket or guillemet is left open by the excerpt."""
    text = "\n".join(post.excerpt)
    for opener, closer in _PAIRS:
        if text.count(opener) > text.count(closer):
            yield Defect("bracket", post.name, f"{opener} left open: …{text[-60:]}")


def _last_word(text: str) -> str:
    words = re.findall(r"[\w\u0600-\u06ff\u0640]+", text)
    return words[-1] if words else ""


def check_truncation(post: Post) -> Iterator[Defect]:
    """A publisher's cut is not shown as a whole text, nor with its half or dangling word."""
    if not post.excerpt:
        return
    lines = source_lines(post.article.content_html)
    last = post.excerpt[-1]
    source_end = lines[-1] if lines else ""
    # The WordPress trailer and the "[…]" before it are the CMS's, not the text's end.
    source_end = re.sub(r"\s*(?:\[(?:…|\.\.\.)\])?\s*The post .* appeared first on .*$", " […]",
                        source_end)
    word = _last_word(last)
    if last.endswith("\u2026") and word in DANGLING:
        yield Defect("truncated", post.name, f"ends on a dangling word «{word}»: …{last[-50:]}")
    marked_cut = bool(re.search(r"(?:…|\.\.\.|\[…\]|\[\.\.\.\])\s*$", source_end))
    whole_source = comparison_key(_bare(last)).endswith(comparison_key(source_end)[-20:])
    if not whole_source and not comparison_key(source_end).startswith(comparison_key(_bare(last))):
        return
    glued = re.search(r"([\w\u0600-\u06ff]+)(?:…|\.\.\.)\s*$", source_end)
    if glued and last.endswith("\u2026") and word == glued.group(1):
        yield Defect("truncated", post.name, f"keeps the half word «{word}» the publisher cut")
    if marked_cut and not last.endswith("\u2026"):
        yield Defect("truncated", post.name, f"the publisher's cut shown without «…»: {last[-40:]}")
    if not marked_cut and not last.endswith("\u2026") and not last.rstrip(_CLOSERS).endswith(
            tuple(TERMINAL)) and (len(word) == 1 or word in DANGLING):
        yield Defect("truncated", post.name, f"cut at «{word}» shown as whole: …{last[-50:]}")


def check_mid_cut(post: Post) -> Iterator[Defect]:
    """An excerpt ending mid-sentence had no sentence end in its last paragraph's last 60%."""
    if not post.excerpt:
        return
    last = post.excerpt[-1]
    if not last.endswith("\u2026"):
        return
    body = _bare(last)
    if body.rstrip(_CLOSERS).endswith(tuple(TERMINAL)):
        return  # ends on a sentence, then "…"
    ends = [m.end() for m in _SENTENCE_END.finditer(body)]
    if ends and ends[-1] >= 0.4 * len(body):
        yield Defect("mid_cut", post.name, f"a sentence ended at {ends[-1]}/{len(body)}: "
                                           f"…{body[-50:]}")


def check_date(post: Post) -> Iterator[Defect]:
    """The date line never claims an impossible day."""
    if not post.date:
        return
    years = [int(y) for y in re.findall(r"(?<!\d)(\d{1,4})(?= م(?:\s|$)| —|$)", post.date)]
    gregorian = years[0] if years else None
    seen = post.date.startswith("رُصد في")
    published = post.article.published_at
    if gregorian is not None and (gregorian < 1995 or gregorian > FIRST_SEEN.year):
        yield Defect("date", post.name, f"year {gregorian}: {post.date}")
    elif published is not None and not seen and (published.year < 1995 or published > FIRST_SEEN):
        yield Defect("date", post.name, f"shows {published:%Y-%m-%d} as published: {post.date}")


def check_junk(post: Post) -> Iterator[Defect]:
    """No site suffix on titles, placeholder author, boilerplate source, masthead or link list."""
    site = OPERATOR_NAMES.get(post.feed, "")
    if site and re.search(rf"\s[|\-\u2013\u2014]\s*{re.escape(site)}\s*$", post.title):
        yield Defect("junk", post.name, f"site suffix on the title: {post.title[-30:]}")
    if comparison_key(post.author) in _PLACEHOLDER_AUTHORS or (
            post.author and comparison_key(post.author) == comparison_key(post.source)):
        yield Defect("junk", post.name, f"placeholder author «{post.author}»")
    if post.source and _BOILERPLATE_SOURCE.search(post.source):
        yield Defect("junk", post.name, f"boilerplate source «{post.source}»")
    text = "\n".join(post.excerpt)
    for pattern, what in ((_MASTHEAD, "masthead"), (_CMS_LINKS, "CMS link list")):
        if found := pattern.search(text):
            yield Defect("junk", post.name, f"{what} as text: «{found.group(0)}»")


CHECKS = (check_empty, check_skipped, check_brackets, check_truncation, check_mid_cut,
          check_date, check_junk)


def audit(posts: list[Post]) -> list[Defect]:
    """Every defect of every post."""
    return [defect for post in posts if not post.skipped for check in CHECKS
            for defect in check(post)]


def main() -> None:
    """Print the audit: one line per defect, then the count per class."""
    posts = all_posts(names="--no-names" not in sys.argv)
    defects = audit(posts)
    for defect in defects:
        print(f"{defect.kind:9} {defect.post[:110]}\n          {defect.detail}")
    counts: dict[str, set[str]] = {}
    for defect in defects:
        counts.setdefault(defect.kind, set()).add(defect.post)
    skipped = [post for post in posts if post.skipped]
    for post in skipped:
        print(f"{'SKIP':9} {post.name[:110]}\n          {post.skipped}")
    print(f"{len(posts)} items, {len(skipped)} skipped; posts with a defect: "
          f"{len({d.post for d in defects})}; "
          + ", ".join(f"{kind} {len(names)}" for kind, names in sorted(counts.items())))


if __name__ == "__main__":
    main()
