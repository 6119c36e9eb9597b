"""`main.py sandbox` as a real process, and headless Chromium driven over the Chrome DevTools
Protocol (a small client over aiohttp's websockets: no playwright, no selenium)."""
from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.support import REPO

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_MISSING = ("Chromium is not at /usr/bin/chromium: apt-get install chromium (.ci/run "
                    "installs it)")
START_TIMEOUT = 60.0   # the machine may be busy: the sandbox starts in ~3 s when it is not


async def wait_until(check: Any, what: str, within: float = START_TIMEOUT,
                     every: float = 0.1) -> Any:
    """Re-check `check()` (sync or async) until it is truthy; an AssertionError after `within`
    seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(every)


@dataclass
class Sandbox:
    """A running `main.py sandbox`: its process, output files and the web chat's address."""

    process: asyncio.subprocess.Process
    stdout: Path
    stderr: Path
    url: str = ""

    def out(self) -> str:
        return self.stdout.read_text(encoding="utf-8", errors="replace")

    def err(self) -> str:
        return self.stderr.read_text(encoding="utf-8", errors="replace")

    async def state(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as session, session.get(f"{self.url}/api/state") as r:
            data: dict[str, Any] = await r.json()
            return data

    def ctrl_c(self) -> None:
        """What a terminal's Ctrl-C does: SIGINT to the whole process group."""
        os.killpg(self.process.pid, signal.SIGINT)

    async def wait_exit(self, within: float = START_TIMEOUT) -> int:
        try:
            return await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            raise AssertionError(f"the sandbox did not exit within {within} s:\n"
                                 f"{self.err()[-3000:]}") from None


@asynccontextmanager
async def running_sandbox(tmp_path: Path, *args: str) -> AsyncIterator[Sandbox]:
    """Start `main.py sandbox` in a session of its own (so a test's SIGINT reaches it as a
    terminal's would), with a token, REDIS_URL and data dir of the user's that it must ignore;
    yield once the bot runs (the feed's post is in the channel, the commands are polled)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEGRAM_"))}
    env.update(TELEGRAM_BOT_TOKEN="999:the-users-real-token", REDIS_URL="redis://127.0.0.1:9/0",
               BOT_DATA_DIR=str(tmp_path / "users-data"), PYTHONUNBUFFERED="1",
               TMPDIR=str(tmp_path))
    stdout, stderr = tmp_path / "sandbox.out", tmp_path / "sandbox.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(REPO / "main.py"), "sandbox", *args, cwd=REPO, env=env,
            stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
    sandbox = Sandbox(process, stdout, stderr)
    try:
        def address() -> str | None:
            assert process.returncode is None, f"the sandbox exited:\n{sandbox.err()[-3000:]}"
            found = re.search(r"web chat\s+(http://\S+?)/?\s", sandbox.out())
            return found.group(1) if found else None

        sandbox.url = await wait_until(address, "the sandbox's web chat address")

        async def running() -> bool:
            assert process.returncode is None, f"the sandbox exited:\n{sandbox.err()[-3000:]}"
            state = await sandbox.state()
            channel_posts = [m for m in state["messages"] if m["chat"] < 0]
            return bool(channel_posts) and "receives bot updates" in sandbox.err()

        await wait_until(running, "the sandbox's bot to run (first post, updates polled)",
                         every=0.3)
        yield sandbox
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


class Cdp:
    """One page of a headless Chromium, driven over the DevTools protocol."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        await self.ws.send_json({"id": call_id, "method": method, "params": params})
        while True:  # events come in between; only our answer counts
            message = json.loads(await self.ws.receive_str(timeout=START_TIMEOUT))
            if message.get("id") == call_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result

    async def js(self, expression: str) -> Any:
        """Evaluate in the page; the value (JSON-able), or an AssertionError with the JS error."""
        answer = await self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                                 awaitPromise=True)
        if "exceptionDetails" in answer:
            raise AssertionError(f"{expression[:80]}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    async def wait_js(self, expression: str, what: str, within: float = START_TIMEOUT) -> Any:
        return await wait_until(lambda: self.js(expression), what, within, every=0.2)


@asynccontextmanager
async def chromium_page(tmp_path: Path) -> AsyncIterator[Cdp]:
    """Headless Chromium with remote debugging on a free port; yields its first page."""
    profile = tmp_path / "chromium-profile"
    process = await asyncio.create_subprocess_exec(
        str(CHROMIUM), *["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
         f"--user-data-dir={profile}", "--window-size=1280,900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        await wait_until(lambda: port_file.is_file() and port_file.read_text().count("\n") >= 1,
                         "Chromium's DevTools port")
        port = int(port_file.read_text().split()[0])
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as r:
                targets = await r.json()
            page = next(t for t in targets if t["type"] == "page")
            async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                cdp = Cdp(ws)
                await cdp.call("Runtime.enable")
                yield cdp
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()
        shutil.rmtree(profile, ignore_errors=True)
