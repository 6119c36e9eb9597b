"""Telegram's HTML parse mode, the part we emit: escaping, links, lengths, and the way back.

We only ever produce `<b>`, `<i>` and `<a href>` around escaped text, so the markup is valid by
construction; the tests check it with a strict re-implementation of Telegram's parser.
"""
from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from formatters.rtl import LRI, PDI

TEXT_LIMIT = 4096      # sendMessage text, after entity parsing
CAPTION_LIMIT = 1024   # sendPhoto caption
RAW_BYTES_LIMIT = 32768  # the Bot API server refuses longer raw text before parsing it
MAX_URL_CHARS = 2048
# Spaces and controls make Telegram drop a link; bidi controls in a URL exist only to spoof
# how it reads.
_BAD_URL_CHAR = re.compile(
    "[\\s\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c\ud800-\udfff]"
)


def escape_text(text: str) -> str:
    """Escape text for Telegram HTML (only <, > and & are special outside attributes)."""
    return html.escape(text, quote=False)


def escape_attr(value: str) -> str:
    """Escape a value for a double-quoted attribute."""
    return html.escape(value, quote=True)


def telegram_length(text: str) -> int:
    """Length in UTF-16 code units: what entity offsets use, and never less than Telegram's
    own code-point count, so staying within the limit in this unit is always safe."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def checked_url(url: str | None) -> str | None:
    """The URL if it is a usable http(s) link for a post, else None.

    Telegram silently drops a text link it does not like (other schemes, no dotted host,
    spaces or controls); we refuse those up front so a post never shows a dead "link".
    """
    if not url:
        return None
    url = url.strip()
    if not url or len(url) > MAX_URL_CHARS:
        return None
    if _BAD_URL_CHAR.search(url) is not None:
        return None
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return None
    # The authority ends at the first "/", "?" or "#"; Telegram wants a dotted host in it.
    end = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0),
              default=len(rest))
    host_port = rest[:end].rpartition("@")[2]
    if host_port.startswith("["):
        return None  # IP-literal hosts: Telegram refuses them anyway (no dot)
    host, _, port = host_port.partition(":")
    if "." not in host.strip("."):
        return None
    if port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        return None
    return url


def link(url: str, label: str) -> str:
    """`<a href>` around an escaped label; `url` must come from `checked_url`."""
    return f'<a href="{escape_attr(url)}">{escape_text(label)}</a>'


class _PlainText(HTMLParser):
    def __init__(self, keep_urls: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.keep_urls = keep_urls
        self.parts: list[str] = []
        self.hrefs: list[tuple[str, int]] = []  # (href, index in parts where its text starts)
        self.urls: list[tuple[int, str]] = []   # (index in parts after the link text, url)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = next((value for name, value in attrs if name == "href" and value), "")
            self.hrefs.append((href, len(self.parts)))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.hrefs:
            href, start = self.hrefs.pop()
            label = "".join(self.parts[start:])
            if href and href not in label:
                self.urls.append((len(self.parts), href))

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_plain(html_text: str, *, keep_urls: bool = True, limit: int = TEXT_LIMIT) -> str:
    """Our Telegram HTML back to plain text, for the fallback when Telegram refuses the HTML.

    Tags go, entities are decoded, bidi marks stay. With `keep_urls`, each link's URL follows
    its label (isolated, so it reads left to right inside an Arabic line) -- otherwise the
    fallback would lose the link to the article -- unless that would take the text past `limit`
    UTF-16 units, in which case the URLs are left out.
    """
    parser = _PlainText(keep_urls)
    parser.feed(html_text)
    parser.close()
    plain = "".join(parser.parts)
    if not keep_urls or not parser.urls:
        return plain
    parts = list(parser.parts)
    for index, url in reversed(parser.urls):
        parts.insert(index, f" {LRI}{url}{PDI}")
    with_urls = "".join(parts)
    return with_urls if telegram_length(with_urls) <= limit else plain
