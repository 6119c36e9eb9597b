"""The embedded Redis: persistence across restarts and a clean slate after SIGKILL."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import redis

from store.embedded import EmbeddedRedis

REPO = Path(__file__).resolve().parents[2]

_CHILD = """
import sys, redis
from pathlib import Path
from store.embedded import EmbeddedRedis
server = EmbeddedRedis(Path(sys.argv[1]))
server.start()
client = redis.Redis.from_url(server.url)
client.set("kept", "yes")
print(server.pid, flush=True)
sys.stdin.read()   # wait here until killed
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); read its state.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


def test_data_survives_a_restart(tmp_path: Path) -> None:
    """What was written before a clean stop is there after the next start."""
    with EmbeddedRedis(tmp_path) as server:
        redis.Redis.from_url(server.url).set("k", "v")
    with EmbeddedRedis(tmp_path) as server:
        assert redis.Redis.from_url(server.url).get("k") == b"v"


def test_sigkill_of_the_bot_stops_its_redis_and_the_next_start_has_the_data(
        tmp_path: Path) -> None:
    """Killing the owning process with SIGKILL takes its Redis down (nothing left holding the
    socket) and a new start loads the append-only file."""
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path)], cwd=REPO,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        redis_pid = int(child.stdout.readline())  # type: ignore[union-attr]
    finally:
        child.kill()
        child.wait()
    deadline = time.monotonic() + 10
    while _alive(redis_pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # polling another process's exit, with a deadline
    assert not _alive(redis_pid), "the embedded Redis outlived its owner"
    with EmbeddedRedis(tmp_path) as server:
        assert redis.Redis.from_url(server.url).get("kept") == b"yes"
