"""Parse processes die with the bot, even when it is killed with SIGKILL."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Starts a poller's parse pool (as `run` does), reads one feed through it, prints the pool's
# process ids, then waits to be killed.
_CHILD = """
import asyncio, functools, sys
from feeds.poller import Poller, read_feed
from feeds.parser import parse_feed
from config.schema import BotConfig

BODY = b'<rss version="2.0"><channel><title>t</title><item><guid>1</guid><title>a b c d</title></item></channel></rss>'

async def main():
    poller = Poller(BotConfig(), store=None, fetcher=None, parse_workers=1)
    read = await poller._read(functools.partial(read_feed, parse_feed, BODY, feed_url="https://e.org/f"))
    assert read is not None
    print(" ".join(str(p) for p in poller._parse_pool._processes), flush=True)
    sys.stdin.read()

asyncio.run(main())
"""


def _alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "State:\tZ" not in status.read_text()
    except FileNotFoundError:
        return False


def test_parse_processes_do_not_outlive_a_killed_bot() -> None:
    """After SIGKILL of the process that owns the parse pool, its parse processes exit."""
    child = subprocess.Popen([sys.executable, "-c", _CHILD], cwd=REPO, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        line = child.stdout.readline()  # type: ignore[union-attr]
    finally:
        child.kill()
        child.wait()
    workers = [int(pid) for pid in line.split()]
    assert workers, "the parse pool started no process"
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)  # polling other processes' exit, with a deadline
    assert not any(_alive(pid) for pid in workers), "a parse process outlived its owner"
