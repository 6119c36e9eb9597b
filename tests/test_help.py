"""`python main.py --help` and each command's help answer a new user's questions: the token,
dry-run and where its preview goes, BOT_CONFIG, the status page, the exit codes."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import REPO

COMMANDS = ["run", "once", "check", "preview", "import-opml", "export-opml", "sandbox"]


def help_of(*args: str) -> str:
    result = subprocess.run([sys.executable, str(REPO / "main.py"), *args, "--help"],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_main_help_names_the_environment_dry_run_status_page_and_exit_codes() -> None:
    """The top-level help names every variable, dry-run and the preview's files, the status
    page's address, the default command and every exit code."""
    text = help_of()
    for needed in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_API_URL", "BOT_CONFIG", "REDIS_URL",
                   "BOT_DATA_DIR", "BOT_HTTP_ADDR", "BOT_LOG_FORMAT", "DRY-RUN",
                   "preview/", "index.html", "posts.jsonl", "http://127.0.0.1:8080/",
                   "config/example.yaml", "With no command: run", "exit codes:"):
        assert needed in text, needed
    for code in ("0", "1", "2", "3"):
        assert f"\n  {code}  " in text, code


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_a_description(command: str) -> None:
    """Each command's own help says what it does in a sentence, beyond its usage line."""
    text = help_of(command)
    usage, _, rest = text.partition("\n\n")
    assert usage.startswith(f"usage: main.py {command}")
    assert len(rest.split("\n\n")[0]) > 40, text


def test_run_once_and_check_help_tell_their_exit_codes() -> None:
    """run, once and check document their exit codes; run tells how to stop it."""
    for command in ("run", "once", "check"):
        assert "exit codes:" in help_of(command)
    assert "Ctrl-C" in help_of("run")


def test_sandbox_is_offered_and_says_what_it_leaves_alone() -> None:
    """The top-level help points a new user at the sandbox; its own help says what to try and
    that the user's token, data and REDIS_URL are not used."""
    assert "sandbox" in help_of().split("environment:")[0]
    text = " ".join(help_of("sandbox").split())
    for needed in ("/push", "Publish", "--port", "--open", "TELEGRAM_BOT_TOKEN", "REDIS_URL",
                   "Ctrl-C"):
        assert needed in text, needed


def test_the_readme_commands_work_when_copied() -> None:
    """The README never says a bare `python main.py` (it lacks the virtualenv's packages), names
    only real commands, and its preview command, copied as written, prints the post it shows."""
    import re

    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert not re.search(r"(?<![/\w.])python main\.py", text)
    named = re.findall(r"^\s+\./scripts/run (\S+)", text, re.M)
    assert named and set(named) <= set(COMMANDS), named
    # The `.venv/bin/python main.py …` form (scripts/run would set up .venv again, under the
    # running suite, whenever pyproject.toml changed).
    result = subprocess.run([sys.executable, "main.py", "preview", "samples/feed-ar.xml"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "الممرات التجارية الجديدة" in result.stdout
    assert "الممرات التجارية الجديدة" in text
