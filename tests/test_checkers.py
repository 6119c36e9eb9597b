"""The checkers keep the house: import-linter's layer contracts, ruff and mypy run with the suite
and must be clean. Their settings are in pyproject.toml; each runs as the tool a developer runs."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    executable = BIN / tool
    if not executable.exists():
        pytest.fail(f"{tool} is not installed next to {sys.executable}; run ./scripts/setup")
    return subprocess.run([str(executable), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)


def test_layers_hold_one_way_down() -> None:
    # No cache: two copies of the suite may run at once on one checkout.
    done = _run("lint-imports", "--no-cache")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_ruff_finds_nothing() -> None:
    done = _run("ruff", "check", ".", "--no-cache", "--output-format", "concise")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_finds_nothing(tmp_path: Path) -> None:
    # A cache of its own per run: mypy's cache is not safe to share between concurrent runs.
    done = _run("mypy", "--cache-dir", str(tmp_path / "mypy"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found" in done.stdout
