"""A rich message payload -> HTML, for our own pages (dry-run preview, status page).

    rich_message_html(payload) -> str            one <article>, dir="rtl" when is_rtl
    render_rich_preview_html([(label, payload)]) -> str   a standalone page of cards

Everything from the payload is escaped; links and images keep only http(s) URLs (tg:// and
others become plain text), so a payload built from a hostile feed cannot inject markup or
scripts. Unknown block or text types are skipped, never an error: these pages also show
stored payloads from older versions.
"""
from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

_MAX_DEPTH = 20
_FORMATS = {"bold": "b", "italic": "i", "underline": "u", "strikethrough": "s", "marked": "mark",
            "code": "code", "subscript": "sub", "superscript": "sup", "spoiler": "span"}
_STYLE = """
body { background: #dfe5ec; font-family: "Noto Naskh Arabic", "DejaVu Sans", sans-serif;
       margin: 0; padding: 16px; }
.card { max-width: 36em; margin: 0 auto 16px; }
.card > h2 { font: 12px monospace; color: #789; margin: 0 0 6px; }
.rich { background: #fff; border-radius: 12px; padding: 10px 16px;
        box-shadow: 0 1px 2px rgba(0,0,0,.15); line-height: 1.55; }
.rich img { max-width: 100%; border-radius: 8px; }
.rich figure { margin: 8px 0; }
.rich figcaption { font-size: 90%; color: #555; }
.rich .pullquote { text-align: center; font-size: 115%; font-style: italic; margin: 12px 8%; }
.rich blockquote { border-inline-start: 3px solid #168acd; margin: 8px 0; padding: 0 10px; }
.rich footer { color: #707579; font-size: 90%; margin: 4px 0 10px; }
.rich .buttons { display: flex; gap: 6px; justify-content: center; margin-top: 10px; }
.rich .buttons a, .rich .buttons span { background: #e8f2fb; border-radius: 8px;
        color: #168acd; padding: 6px 12px; text-decoration: none; }
.rich a { color: #168acd; }
.rich .spoiler { background: #ccc; color: transparent; }
"""


def _safe_url(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    url = value.strip()
    if url.lower().startswith(("https://", "http://")) and not any(c.isspace() for c in url):
        return url
    return None


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def _text(value: object, depth: int = 0) -> str:
    """RichText (a string, an array, or a typed object) as escaped inline HTML."""
    if depth > _MAX_DEPTH:
        return ""
    if isinstance(value, str):
        return html.escape(value, quote=False)
    if isinstance(value, list):
        return "".join(_text(item, depth + 1) for item in value)
    if not isinstance(value, Mapping):
        return ""
    kind = value.get("type")
    inner = _text(value.get("text", ""), depth + 1)
    if kind == "url":
        url = _safe_url(value.get("url"))
        return f'<a href="{_attr(url)}" rel="nofollow noopener">{inner}</a>' if url else inner
    if kind == "spoiler":
        return f'<span class="spoiler">{inner}</span>'
    if isinstance(kind, str) and kind in _FORMATS:
        tag = _FORMATS[kind]
        return f"<{tag}>{inner}</{tag}>"
    if kind == "button":
        button = value.get("button")
        return _button(button) if isinstance(button, Mapping) else ""
    return inner  # date_time and types this page does not know: their text


def _button(button: Mapping[str, Any]) -> str:
    label = _text(button.get("text", ""))
    url = _safe_url(button.get("url"))
    if url:
        return f'<a href="{_attr(url)}" rel="nofollow noopener">{label}</a>'
    return f"<span>{label}</span>"


def _blocks(blocks: object, depth: int = 0) -> str:
    if not isinstance(blocks, list) or depth > _MAX_DEPTH:
        return ""
    return "".join(_block(block, depth) for block in blocks if isinstance(block, Mapping))


def _credit(block: Mapping[str, Any]) -> str:
    credit = block.get("credit")
    return f"<cite>{_text(credit)}</cite>" if credit else ""


def _block(block: Mapping[str, Any], depth: int) -> str:
    kind = block.get("type")
    text = _text(block.get("text", ""))
    if kind == "heading":
        size = block.get("size")
        level = size if isinstance(size, int) and 1 <= size <= 6 else 2
        return f"<h{level}>{text}</h{level}>"
    if kind == "paragraph":
        return f"<p>{text}</p>"
    if kind == "footer":
        return f"<footer>{text}</footer>"
    if kind == "divider":
        return "<hr>"
    if kind == "pullquote":
        return f'<aside class="pullquote"><p>{text}</p>{_credit(block)}</aside>'
    if kind == "blockquote":
        return f"<blockquote>{_blocks(block.get('blocks'), depth + 1)}{_credit(block)}</blockquote>"
    if kind == "photo":
        return _photo(block)
    if kind == "list":
        return _list(block, depth)
    if kind == "details":
        return (f"<details><summary>{_text(block.get('summary', ''))}</summary>"
                f"{_blocks(block.get('blocks'), depth + 1)}</details>")
    if kind == "buttons":
        buttons = block.get("buttons")
        if not isinstance(buttons, list):
            return ""
        row = "".join(_button(b) for b in buttons if isinstance(b, Mapping))
        return f'<nav class="buttons">{row}</nav>'
    return ""


def _photo(block: Mapping[str, Any]) -> str:
    photo = block.get("photo")
    src = _safe_url(photo.get("media")) if isinstance(photo, Mapping) else None
    image = f'<img src="{_attr(src)}" alt="" loading="lazy">' if src else ""
    caption = block.get("caption")
    figcaption = ""
    if isinstance(caption, Mapping):
        figcaption = f"<figcaption>{_text(caption.get('text', ''))}{_credit(caption)}</figcaption>"
    return f"<figure>{image}{figcaption}</figure>" if image or figcaption else ""


def _list(block: Mapping[str, Any], depth: int) -> str:
    items = block.get("items")
    if not isinstance(items, list):
        return ""
    valid = [item for item in items if isinstance(item, Mapping)]
    ordered = any(isinstance(item.get("value"), int) for item in valid)
    tag = "ol" if ordered else "ul"
    rows = []
    for item in valid:
        value = item.get("value")
        number = f' value="{value}"' if isinstance(value, int) and not isinstance(value, bool) \
            else ""
        rows.append(f"<li{number}>{_blocks(item.get('blocks'), depth + 1)}</li>")
    return f"<{tag}>{''.join(rows)}</{tag}>"


# The rules that draw `rich_message_html`, for pages of our own that embed it.
RICH_STYLE = _STYLE[_STYLE.index(".rich {"):]


def rich_message_html(payload: Mapping[str, Any]) -> str:
    """One rich message as an `<article>` (escaped, safe to embed in our pages)."""
    direction = "rtl" if payload.get("is_rtl") is True else "ltr"
    return f'<article class="rich" dir="{direction}">{_blocks(payload.get("blocks"))}</article>'


def render_rich_preview_html(messages: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """A standalone HTML page with one card per (label, payload)."""
    cards = "\n".join(f'<section class="card"><h2 dir="auto">{html.escape(label)}</h2>'
                      f"{rich_message_html(payload)}</section>" for label, payload in messages)
    return ("<!doctype html>\n<html><head><meta charset=\"utf-8\">"
            "<title>Nashir rich preview</title>"
            f"<style>{_STYLE}</style></head>\n<body>\n{cards}\n</body></html>\n")
