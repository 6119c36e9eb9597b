"""The README's pictures, made again: `.venv/bin/python scripts/screenshots.py [--out docs/img]`.

Runs the bot as a new user would (dry-run, bundled example config, a temporary data dir) and
photographs, with headless Chromium (/usr/bin/chromium, or --chromium PATH):
  preview.png  the dry-run preview page (BOT_DATA_DIR/preview/index.html)
  status.png   the status page at BOT_HTTP_ADDR
  sandbox.png  `main.py sandbox`'s web chat after /push and "Publish"
Nothing of the user's (data, config, token, REDIS_URL) is read or written.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
TIMEOUT = 90.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    if not Path(args.chromium).exists():
        print(f"no Chromium at {args.chromium}: apt-get install chromium, or --chromium PATH",
              file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nashir-shots-") as tmp:
        work = Path(tmp)
        shoot = _shooter(args.chromium, work)
        status_port = _free_port()
        bot = _start([PYTHON, "main.py", "run"], work, _dry_run_env(work, status_port))
        try:
            preview = work / "data" / "preview" / "index.html"
            _wait(lambda: "next poll" in bot.err(), "the first round of posts", bot)
            shoot(preview.as_uri(), args.out / "preview.png", 900, 1300)
            shoot(f"http://127.0.0.1:{status_port}/", args.out / "status.png", 1100, 1250)
        finally:
            bot.stop()
        sandbox = _start([PYTHON, "main.py", "sandbox"], work, _dry_run_env(work, 0))
        try:
            url = _wait(lambda: _match(r"web chat\s+(http://\S+?)/?\s", sandbox.out()),
                        "the sandbox's address", sandbox)
            _wait(lambda: "receives bot updates" in sandbox.err(), "the sandbox's bot", sandbox)
            _post(f"{url}/api/send", {"text": f"/push {url}/samples/article-ar.html"})
            card = _wait(lambda: _card(url), "the preview card", sandbox)
            _post(f"{url}/api/press", {"chat": card["chat"], "message": card["id"],
                                       "data": card["buttons"][0][0]["callback_data"]})
            _wait(lambda: not (_card(url, with_buttons=False) or card)["buttons"], "the post",
                  sandbox)
            shoot(f"{url}/", args.out / "sandbox.png", 1280, 860)
        finally:
            sandbox.stop()
    for name in ("preview.png", "status.png", "sandbox.png"):
        print(f"{args.out / name}  {(args.out / name).stat().st_size // 1024} kB")
    return 0


class _Process:
    def __init__(self, process: subprocess.Popen[bytes], out: Path, err: Path) -> None:
        self.process, self._out, self._err = process, out, err

    def out(self) -> str:
        return self._out.read_text(encoding="utf-8", errors="replace")

    def err(self) -> str:
        return self._err.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def _start(command: list[str], work: Path, env: dict[str, str]) -> _Process:
    name = command[2]
    out, err = work / f"{name}.out", work / f"{name}.err"
    with out.open("wb") as o, err.open("wb") as e:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=o, stderr=e,
                                   stdin=subprocess.DEVNULL)
    return _Process(process, out, err)


def _dry_run_env(work: Path, status_port: int) -> dict[str, str]:
    """A new user's environment: no token, the bundled example, a data dir of our own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEGRAM_"))
           and k != "REDIS_URL"}
    # The example and its sample feed, copied: the status page shows the feed's path, and the
    # picture should not show this checkout's.
    example = work / "nashir" / "config" / "example.yaml"
    for source, target in ((REPO / "config" / "example.yaml", example),
                           (REPO / "samples" / "feed-ar.xml", work / "nashir" / "samples" /
                            "feed-ar.xml")):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    env.update(BOT_DATA_DIR=str(work / "data"), BOT_CONFIG=str(example),
               BOT_HTTP_ADDR=f"127.0.0.1:{status_port}", BOT_LOG_FORMAT="text",
               PYTHONUNBUFFERED="1", TMPDIR=str(work))
    return env


def _shooter(chromium: str, work: Path) -> Callable[[str, Path, int, int], None]:
    def shoot(url: str, path: Path, width: int, height: int) -> None:
        # The virtual time budget lets the page's scripts run (the web chat polls its state).
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars",
                        f"--user-data-dir={work / 'chromium'}", f"--window-size={width},{height}",
                        "--virtual-time-budget=3000", f"--screenshot={path}", url],
                       check=True, capture_output=True, timeout=TIMEOUT)
    return shoot


def _wait(check: Callable[[], Any], what: str, process: _Process) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while not (result := check()):
        if process.process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}:\n{process.err()[-3000:]}")
        time.sleep(0.2)
    return result


def _match(pattern: str, text: str) -> str | None:
    found = re.search(pattern, text)
    return found.group(1) if found else None


def _post(url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(url, json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10):
        pass


def _card(url: str, *, with_buttons: bool = True) -> dict[str, Any] | None:
    """The bot's reply to /push in the private chat (with its buttons while undecided)."""
    with urllib.request.urlopen(f"{url}/api/state", timeout=10) as answer:
        state = json.load(answer)
    cards = [m for m in state["messages"] if m["chat"] == state["user"] and m["from"] == "bot"
             and (m["buttons"] or not with_buttons)]
    return cards[-1] if cards else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


if __name__ == "__main__":
    sys.exit(main())
