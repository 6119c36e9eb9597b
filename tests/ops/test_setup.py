"""The README's first command as a new user runs it: `scripts/setup` on a fresh copy of the
checkout says one line, warns of nothing, and leaves a .venv holding exactly the locked
packages; `--help` of the scripts prints usage and sets nothing up."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ops.conftest import REPO

SKIP = shutil.ignore_patterns(".venv", ".git", "data", "artifacts", "__pycache__", "*.pyc",
                              "build", "*.egg-info", ".mypy_cache", ".ruff_cache",
                              ".pytest_cache", ".hypothesis")


def checkout_copy(root: Path) -> Path:
    """The working tree as a fresh clone has it (no .venv, no data)."""
    copy = root / "nashir"
    shutil.copytree(REPO, copy, ignore=SKIP, symlinks=True)
    return copy


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env.update(extra)
    return env


@pytest.mark.parametrize("script", ["setup", "run"])
def test_help_prints_usage_and_sets_nothing_up(tmp_path: Path, script: str) -> None:
    """`scripts/setup --help` and `scripts/run --help` print their usage and exit 0 without
    creating a virtualenv."""
    copy = checkout_copy(tmp_path)
    for flag in ("--help", "-h"):
        result = subprocess.run([str(copy / "scripts" / script), flag], capture_output=True,
                                text=True, timeout=60, env=clean_env())
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"usage: scripts/{script}"), result.stdout
        assert not (copy / ".venv").exists()
    assert "TELEGRAM_BOT_TOKEN" in result.stdout or "requirements-test.lock" in result.stdout


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_fresh_setup_is_one_quiet_line_and_exactly_the_locks(tmp_path: Path) -> None:
    """On a fresh copy, scripts/setup prints one line, neither it nor pip nor setuptools warns
    of anything (its whole log is read), and .venv holds exactly requirements-test.lock's
    packages (plus pip and the project); a second call is silent and instant."""
    copy = checkout_copy(tmp_path)
    # The machine's own pip configuration (extra local indexes) adds lines of its own about
    # folders it lacks; the project's install is judged without it.
    env = clean_env(PIP_CONFIG_FILE=os.devnull)
    result = subprocess.run([str(copy / "scripts" / "setup")], capture_output=True, text=True,
                            timeout=560, env=env)
    log = (copy / ".venv" / "setup.log").read_text() if (copy / ".venv").exists() else ""
    assert result.returncode == 0, result.stderr + log[-4000:]
    output = (result.stdout + result.stderr).strip().splitlines()
    assert len(output) == 1 and output[0].startswith("Setting up .venv"), output
    warnings = [line for line in log.splitlines() if re.search(r"warn", line, re.I)]
    assert warnings == [], "\n".join(warnings[:40])
    frozen = subprocess.run([str(copy / ".venv" / "bin" / "python"), "-m", "pip", "freeze",
                             "--all", "--exclude-editable"], capture_output=True, text=True,
                            timeout=60, env=env).stdout
    installed = {name.lower().replace("_", "-"): version for name, version in
                 re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)$", frozen, re.M)}
    lock = (copy / "requirements-test.lock").read_text()
    locked = {name.lower().replace("_", "-"): version for name, version in
              re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)", lock, re.M)}
    locked["pip"] = re.search(r"^pip==(\S+)", (copy / "requirements-pip.lock").read_text(),
                              re.M).group(1)
    assert installed == locked
    again = subprocess.run([str(copy / "scripts" / "setup")], capture_output=True, text=True,
                           timeout=60, env=env)
    assert again.returncode == 0 and again.stdout + again.stderr == ""
