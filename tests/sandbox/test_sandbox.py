"""`main.py sandbox` as an editor meets it: a process that runs the real bot against the local
Telegram stand-in, a web chat in Chromium where /push, the card's buttons and the channel view
work, and a Ctrl-C that ends it quietly, leaving nothing of the user's touched."""
from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.formatters.conftest import ARTIFACTS
from tests.sandbox.harness import CHROMIUM, chromium_page, running_sandbox

pytestmark = pytest.mark.slow

ARABIC_CHANNEL = -1001000000001
TITLE = "مياه الفرات: من يملك النهر حين يجفّ؟"


async def test_ctrl_c_stops_the_sandbox_cleanly(tmp_path: Path) -> None:
    """SIGINT to the process group (a terminal's Ctrl-C) once the bot runs: exit 0, the bot says
    it stopped, no traceback; the temporary data dir is gone; the user's token, REDIS_URL and
    data dir were never used."""
    async with running_sandbox(tmp_path) as sandbox:
        assert "Ctrl-C stops it" in sandbox.out()
        sandbox.ctrl_c()
        code = await sandbox.wait_exit()
        err = sandbox.err()
        assert code == 0, err[-3000:]
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]
        assert "Nashir stopped" in err
        assert "the-users-real-token" not in err + sandbox.out()
        assert "127.0.0.1:9" not in err  # the user's REDIS_URL: never tried
    assert _leftovers(tmp_path) == [], "the sandbox's data dir was left behind"
    assert not (tmp_path / "users-data").exists()


def _leftovers(folder: Path) -> list[Path]:
    return list(folder.glob("nashir-sandbox-*"))


@pytest.mark.chromium
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not at /usr/bin/chromium: "
                    "apt-get install chromium (.ci/run installs it)")
async def test_push_publish_and_see_the_post_in_chromium(tmp_path: Path) -> None:
    """In the web chat: type /push with the sample article, get the preview card with a button
    per channel, press the Arabic channel's, see the card say so and the post land in the
    channel view, laid out right to left; the page fits a phone's width."""
    async with running_sandbox(tmp_path) as sandbox, chromium_page(tmp_path) as page:
        await page.call("Page.enable")
        await page.call("Page.navigate", url=f"{sandbox.url}/")
        await page.wait_js("document.querySelectorAll('#tabs button').length === 2",
                           "the channel tabs")
        sample = f"{sandbox.url}/samples/article-ar.html"
        assert sample in await page.js("document.getElementById('samples').textContent")

        # Type the command as a user would and send it with the form's button.
        await page.js("document.getElementById('text').focus()")
        await page.call("Input.insertText", text=f"/push {sample}")
        await page.js("document.getElementById('send').click()")
        card = ("[...document.querySelectorAll('#private-log .msg.bot')]"
                ".find(m => m.textContent.includes('مياه الفرات') && m.querySelector('button'))")
        labels = await page.wait_js(
            f"(() => {{ const c = {card}; return c && [...c.querySelectorAll('button')]"
            ".map(b => b.textContent); })()", "the preview card with its buttons")
        assert len(labels) == 4 and "@nashir_sandbox" in labels[0], labels
        assert "@nashir_sandbox_en" in labels[1]
        # The card is the post: the title in bold, the link to the article.
        assert await page.js(f"{card}.querySelector('.text b').textContent.includes('مياه')")

        await page.js(f"{card}.querySelector('button').click()")  # publish to @nashir_sandbox
        channel = f"document.querySelector('.log[data-chat=\"{ARABIC_CHANNEL}\"]')"
        post = (f"[...{channel}.querySelectorAll('.msg')]"
                ".find(m => m.textContent.includes('مياه الفرات'))")
        await page.wait_js(f"!!{post}", "the post in the channel view")
        await page.wait_js(
            "[...document.querySelectorAll('#private-log .msg.bot')]"
            ".some(m => m.textContent.includes('@nashir_sandbox') && !m.querySelector('button')"
            " && m.textContent.includes('مياه الفرات'))",
            "the card edited to say it was published, its buttons gone")
        state = await sandbox.state()
        posted = [m for m in state["messages"] if m["chat"] == ARABIC_CHANNEL]
        assert any(TITLE in m["text"] for m in posted)

        # Right to left as Telegram shows it: the bold title sits at the bubble's right edge.
        edges = await page.js(
            f"(() => {{ const p = {post}; const b = p.querySelector('.text b')"
            ".getBoundingClientRect(); const t = p.querySelector('.text').getBoundingClientRect();"
            " return [t.right - b.right, b.left - t.left]; })()")
        assert edges[0] < 4 and edges[1] > 20, edges
        # A link in the post opens the article.
        assert await page.js(f"{post}.querySelector('a[href=\"{sample}\"]') !== null")

        shot = await page.call("Page.captureScreenshot", format="png")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "sandbox-chat.png").write_bytes(base64.b64decode(shot["data"]))

        # At a phone's width nothing overflows sideways.
        await page.call("Emulation.setDeviceMetricsOverride", width=390, height=844,
                        deviceScaleFactor=1, mobile=True)
        await page.wait_js("innerWidth === 390", "the phone-sized viewport")
        widths = await page.js("[document.documentElement.scrollWidth, innerWidth]")
        assert widths[0] <= widths[1], widths
