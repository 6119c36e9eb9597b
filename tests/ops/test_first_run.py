"""The first minutes as a new user lives them: `python main.py run` in dry-run on the bundled
example, stopped with Ctrl-C as a terminal sends it (SIGINT to the whole process group), then
started again on the same data. Checked: a clean stop (no traceback, no process left behind,
the embedded Redis included), the few lines that say where to look, the second run's
"nothing new", and, in json mode, one JSON object per line on stdout and stderr."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support import REPO, bot_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

EXAMPLE = REPO / "config" / "example.yaml"
GUIDE = re.compile(r"Nashir \(dry-run\): ")


@dataclass
class Run:
    code: int
    stdout: list[str]
    stderr: list[str]
    children: dict[int, str] = field(default_factory=dict)   # pid -> command, while running
    left: list[int] = field(default_factory=list)            # of those, alive after the exit

    def messages(self) -> list[str]:
        return [json.loads(line).get("message", "") for line in self.stderr
                if line.startswith("{")]

    def guide(self) -> str:
        found = [m for m in self.messages() if GUIDE.match(m)]
        assert found, "\n".join(self.stderr[-40:])
        return found[0]


def descendants(pid: int) -> dict[int, str]:
    """Every process below `pid` (children of children too), with its command line."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().replace(
                b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        current = frontier.pop()
        for child, parent in parents.items():
            if parent == current and child not in found:
                found[child] = commands.get(child, "")
                frontier.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def run_until_guide(data: Path, *, timeout: float = 90) -> Run:
    """Start `run` in its own process group, wait for the guide, press Ctrl-C (SIGINT to the
    group, as a terminal does) and wait for the exit."""
    env = bot_env(config=EXAMPLE, data_dir=data)           # BOT_LOG_FORMAT=json, port 0
    process = subprocess.Popen([sys.executable, str(REPO / "main.py"), "run"], cwd=REPO,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    stdout: list[str] = []
    stderr: list[str] = []
    guided = threading.Event()

    def pump(stream: object, into: list[str], watch: bool) -> None:
        for line in stream:  # type: ignore[attr-defined]
            into.append(line.rstrip("\n"))
            if watch and '"message": "Nashir (dry-run): ' in line:
                guided.set()

    readers = [threading.Thread(target=pump, args=(process.stdout, stdout, False), daemon=True),
               threading.Thread(target=pump, args=(process.stderr, stderr, True), daemon=True)]
    for reader in readers:
        reader.start()
    try:
        if not guided.wait(timeout):
            raise AssertionError("no first-run guide within the deadline:\n"
                                 + "\n".join(stderr[-40:]))
        children = descendants(process.pid)
        os.killpg(process.pid, signal.SIGINT)
        code = process.wait(30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    for reader in readers:
        reader.join(10)
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)  # orphans are reaped by init, not by us: give it a moment
    return Run(code, stdout, stderr, children, [pid for pid in children if alive(pid)])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Run]:
    data = tmp_path_factory.mktemp("first-run") / "data"
    first = run_until_guide(data)
    second = run_until_guide(data)
    return first, second


def test_ctrl_c_stops_cleanly_with_nothing_left_behind(runs: tuple[Run, Run]) -> None:
    """Ctrl-C after a poll exits 0, logs "Nashir stopped", prints no traceback (the parse
    process ignores SIGINT: its parent stops it) and leaves no process alive, the embedded
    Redis and the parse process included."""
    for run in runs:
        text = "\n".join(run.stderr)
        assert run.code == 0, text[-3000:]
        assert "Traceback" not in text and "KeyboardInterrupt" not in text, text[-3000:]
        assert "Nashir stopped" in run.messages()
        assert any("redis-server" in command for command in run.children.values()), run.children
        if run is runs[0] and (os.cpu_count() or 1) > 1:  # it polled, and parses apart
            assert any("multiprocessing" in command for command in run.children.values()), \
                run.children
        assert run.left == [], {pid: run.children[pid] for pid in run.left}


def test_the_first_run_says_where_to_look(runs: tuple[Run, Run]) -> None:
    """The first run's guide names the preview page and posts.jsonl (which exist), the status
    page's URL, the next poll, Ctrl-C, and how to post for real."""
    guide = runs[0].guide()
    assert re.match(r"Nashir \(dry-run\): \d+ posts written to the preview", guide), guide
    page = re.search(r"preview\s+(\S+index\.html)", guide)
    jsonl = re.search(r"every post: (\S+posts\.jsonl)", guide)
    assert page and jsonl, guide
    assert (REPO / page.group(1)).is_file() and (REPO / jsonl.group(1)).is_file()
    assert re.search(r"status page\s+http://127\.0\.0\.1:[1-9]\d*/", guide), guide
    assert re.search(r"next poll\s+\d\d:\d\d ", guide) and "Ctrl-C" in guide, guide
    assert "config/bot.yaml" in guide and "TELEGRAM_BOT_TOKEN" in guide
    assert len(guide.splitlines()) <= 7


def test_a_second_run_says_everything_was_already_posted(runs: tuple[Run, Run]) -> None:
    """Started again with nothing new, the bot says so and when it polls next."""
    guide = runs[1].guide()
    assert "nothing new" in guide and "already posted" in guide, guide
    assert re.search(r"next poll\s+\d\d:\d\d ", guide), guide
    assert not any("written to the preview" in m for m in runs[1].messages()
                   if not GUIDE.match(m))


def test_json_mode_prints_one_json_object_per_line(runs: tuple[Run, Run]) -> None:
    """With BOT_LOG_FORMAT=json every line of stdout and stderr (the preview's posts
    included) is one JSON object."""
    for run in runs:
        for line in run.stdout + run.stderr:
            assert isinstance(json.loads(line), dict), line
    posts = [json.loads(line) for line in runs[0].stdout]
    assert posts and all(p["message"] == "written to the preview" and p["chat"] and p["text"]
                         for p in posts)


def test_dry_run_logs_say_written_to_the_preview_not_sent(runs: tuple[Run, Run]) -> None:
    """In dry-run nothing is "sent": each post's log line says it was written to the
    preview."""
    messages = runs[0].messages()
    assert not any(m.startswith("sent message") for m in messages)
    assert sum("written to the preview (dry-run" in m for m in messages) >= 2
