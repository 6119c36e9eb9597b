"""An HTML page showing rendered posts roughly as Telegram's web client does: one `<p dir=auto>`
per line, so each line's direction is decided from its own first strong character, as in the
apps. Used for dry-run previews and by the Chromium test."""
from __future__ import annotations

import html
from collections.abc import Sequence

from model.post import RenderedPost

_STYLE = """
body { background: #dfe5ec; font-family: "Noto Naskh Arabic", "DejaVu Sans", sans-serif;
       margin: 0; padding: 16px; }
.post { background: #fff; border-radius: 12px; max-width: 34em; margin: 0 auto 16px;
        padding: 10px 14px; box-shadow: 0 1px 2px rgba(0,0,0,.15); }
.post h2 { font: 12px monospace; color: #789; margin: 0 0 6px; }
.post img { max-width: 100%; border-radius: 8px; }
.post p { margin: 0; white-space: pre-wrap; line-height: 1.45; min-height: 1em; }
.post a { color: #168acd; text-decoration: none; }
"""


def post_lines_html(post_html: str) -> str:
    """A post's lines, each as its own `<p dir="auto">` (how Telegram's clients choose a
    direction per line); empty lines become gaps. Shared by every page that shows posts."""
    # Our post HTML uses only <b>, <i>, <a href> and escaped text: valid HTML as is.
    return "".join(f'<p dir="auto" class="line">{line}</p>' if line.strip()
                   else '<p class="gap"></p>' for line in post_html.split("\n"))


def render_preview_html(posts: Sequence[tuple[str, RenderedPost]]) -> str:
    """A standalone HTML page with one card per (label, post)."""
    cards = []
    for label, post in posts:
        photo = (f'<img src="{html.escape(post.photo_url, quote=True)}" alt="">'
                 if post.photo_url else "")
        preview = (f'<p class="preview" dir="ltr">🔗 {html.escape(post.preview_url)}</p>'
                   if post.preview_url else "")
        cards.append(
            f'<section class="post" lang="{html.escape(post.language, quote=True)}">'
            f'<h2 dir="auto">{html.escape(label)}</h2>{photo}{post_lines_html(post.html)}{preview}'
            f'</section>'
        )
    return ("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Nashir preview</title>"
            f"<style>{_STYLE}</style></head>\n<body>\n" + "\n".join(cards) + "\n</body></html>\n")
