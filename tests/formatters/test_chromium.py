"""Posts in a real browser engine: headless Chromium lays out each line as the web client does
(`<p dir="auto">`) and reports the direction it computed. A screenshot is kept as an artifact."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from formatters.post import render_post, render_preview_html
from model.post import RenderedPost
from tests.formatters.conftest import ARTIFACTS, FIRST_SEEN, article, channel, seed_html

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.chromium,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Chromium is not at /usr/bin/chromium: apt-get install chromium "
                              "(.ci/run installs it)"),
]

# Collects, for every line paragraph, its card's language, its class and the computed direction.
_PROBE = """<script>
const rows = [...document.querySelectorAll('p.line, p.control')].map(p => ({
  lang: p.closest('section') ? p.closest('section').lang : '',
  kind: p.className, direction: getComputedStyle(p).direction, rtl: p.matches(':dir(rtl)'),
  text: p.textContent }));
const out = document.createElement('pre'); out.id = 'probe';
out.textContent = JSON.stringify(rows); document.body.appendChild(out);
</script>"""
# Lines as they would be without our marks: the browser must get these wrong (the control).
_CONTROLS = ["CNN: قالت الشبكة إن النسبة 45%", "iPhone 17 يصل إلى الأسواق", "#Syria هاشتاغ"]


def _posts() -> list[tuple[str, RenderedPost]]:
    published = datetime(2025, 9, 18, 9, tzinfo=UTC)
    starts = "{title}\n{date}\n{excerpt}\n{hashtags}\n{link}"
    cases = [
        ("seed, default template", article(content_html=seed_html()),
         channel(calendars=("gregorian", "hijri"))),
        ("lines starting with Latin, numbers, emoji, hashtags",
         article(title="CNN: what comes next for Syria? 28% say…", published_at=None,
                 content_html="<p>2025-09-18: بدأت المفاوضات في موسكو بحضور وفد من 12 عضوا.</p>"
                              "<p>😀 iPhone 17 يصل إلى الأسواق السورية بنسبة 30% أقل.</p>"
                              "<p>https://example.org/a?b=1 هو رابط التقرير الكامل للمقال.</p>",
                 categories=("Syria", "الشأن السوري")),
         channel(template=starts, digits="arabic")),
        ("english", article(title="Interview with الشرع on CNN", author="هيئة التحرير",
                            content_html="<p>The interview covered relations with موسكو and "
                                         "a 30% troop reduction since 2024-12-08.</p>"),
         channel(language="en", calendars=("gregorian", "hijri"))),
        # Persian, Urdu and Hebrew: lines that start with Latin, digits and hashtags too.
        ("persian", article(title="iPhone 17 در ایران: ۳۰٪ گران‌تر", author="Hossein Derakhshan",
                            content_html="<p>2025-09-18: نشست در تهران با حضور 12 عضو آغاز شد.</p>",
                            categories=("جامعه‌شناسی", "Iran")),
         channel(language="fa", calendars=("persian", "gregorian"), template=starts)),
        ("urdu", article(title="BBC اردو: پاکستان کے لیے امریکی امداد", source_name="BBC News اردو",
                         content_html="<p>70 سالہ تعلقات میں جب بھی کشیدگی آتی ہے تو امداد رک "
                                      "جاتی ہے۔</p>",
                         categories=("پاکستان", "US aid")),
         channel(language="ur", calendars=("gregorian", "hijri"))),
        ("hebrew", article(title="Harry Potter: האם נכתב בידי צוות?", author="אלי אשד",
                           content_html="<p>3.1 מחר יום שלישי יתנהל דיון בין 8 ל-9 בבוקר.</p>",
                           categories=("ספרות", "Fantasy")),
         channel(language="he", calendars=("gregorian", "hebrew"), template=starts)),
    ]
    posts = []
    for label, art, chan in cases:
        posts.append((label, render_post(art, chan, timezone="Asia/Damascus",
                                         first_seen=FIRST_SEEN if art.published_at else published)))
    return posts


def _run(args: list[str], tmp_path: Path) -> str:
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--no-first-run", "--disable-dev-shm-usage",
               f"--user-data-dir={tmp_path / 'profile'}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    return done.stdout


def test_every_line_has_the_posts_direction_in_chromium(tmp_path: Path) -> None:
    """Chromium computes RTL for every line of an Arabic, Persian, Urdu or Hebrew post and LTR
    for an English one."""
    page = render_preview_html(_posts())
    controls = "".join(f'<section lang="control"><p dir="auto" class="control">{c}</p></section>'
                       for c in _CONTROLS)
    page = page.replace("</body>", controls + _PROBE + "</body>")
    path = tmp_path / "preview.html"
    path.write_text(page, encoding="utf-8")

    dom = _run(["--dump-dom", path.as_uri()], tmp_path)
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.DOTALL)
    assert found, "Chromium produced no probe output:\n" + dom[-2000:]
    rows = json.loads(found.group(1).replace("&lt;", "<").replace("&gt;", ">")
                      .replace("&quot;", '"').replace("&amp;", "&"))
    lines = [r for r in rows if r["kind"] == "line"]
    assert len(lines) >= 30
    assert {r["lang"] for r in lines} == {"ar", "en", "fa", "ur", "he"}
    for row in lines:
        expected = "rtl" if row["lang"] in ("ar", "fa", "ur", "he") else "ltr"
        assert row["direction"] == expected, row
        assert row["rtl"] == (expected == "rtl"), row
    # The control: the same kind of lines without our marks come out LTR in the browser.
    assert [r["direction"] for r in rows if r["kind"] == "control"] == ["ltr"] * len(_CONTROLS)

    # Keep a picture of the posts for a human to look at (tests/artifacts is git-ignored).
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "formatters-preview.png"
    shutil.copyfile(path, ARTIFACTS / "formatters-preview.html")
    _run([f"--screenshot={shot}", "--window-size=760,2600", "--hide-scrollbars", path.as_uri()],
         tmp_path)
    assert shot.is_file() and shot.stat().st_size > 10_000
