"""Regenerates docs/img/rich-message-seed.png: the seed article (../shared/seed/article-ar.txt)
as an Arabic channel's rich message, drawn by formatters/rich_html.py and photographed by
headless Chromium.

    .venv/bin/python scripts/rich_picture.py [--chromium PATH] [--height PX]

It writes the preview page beside the picture (docs/img/rich-message-seed.html) so the picture
can be checked against the HTML. The seed is read as a feed would carry it (menu items as a
list, the rest as paragraphs); the furniture is dropped by the body builder as in posts.
"""
from __future__ import annotations

import argparse
import html
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from config.schema import ChannelConfig  # noqa: E402  (after the path is set)
from formatters.rich import build_rich  # noqa: E402
from formatters.rich_html import render_rich_preview_html  # noqa: E402
from model.article import Article  # noqa: E402
from model.post import post_options  # noqa: E402

SEED = ROOT.parent / "shared" / "seed" / "article-ar.txt"
OUT = ROOT / "docs" / "img"


def seed_article(text: str) -> Article:
    parts = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("•"):
            parts.append(f"<li>{html.escape(stripped.lstrip('• '))}</li>")
        elif stripped:
            parts.append(f"<p>{html.escape(stripped)}</p>")
    content = "<ul>" + "".join(parts[:3]) + "</ul>\n" + "\n".join(parts[3:])
    return Article(uid="seed", feed_url="https://example.org/feed",
                   url="https://example.org/analysis/syria-russia",
                   title="الدوافع الاستراتيجية للتقارب السوري الروسي",
                   published_at=datetime(2025, 9, 18, 9, 30, tzinfo=UTC),
                   author="هيئة التحرير", content_html=content, source_name="مركز الدراسات")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--height", type=int, default=2200)
    args = parser.parse_args()
    if not SEED.is_file():
        print(f"the seed article is missing: {SEED}", file=sys.stderr)
        return 2
    article = seed_article(SEED.read_text(encoding="utf-8"))
    options = post_options(ChannelConfig(chat="@nashir_ar", language="ar", format="rich"))
    post = build_rich(article, options, timezone="Asia/Riyadh",
                      first_seen=datetime(2025, 9, 18, 12, 0, tzinfo=UTC))
    OUT.mkdir(parents=True, exist_ok=True)
    page = OUT / "rich-message-seed.html"
    page.write_text(render_rich_preview_html(
        [(f"@nashir_ar · sendRichMessage · {post.blocks} blocks", post.payload)]),
        encoding="utf-8")
    picture = OUT / "rich-message-seed.png"
    subprocess.run([args.chromium, "--headless", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", f"--window-size=760,{args.height}",
                    f"--screenshot={picture}", page.as_uri()], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    print(picture)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
