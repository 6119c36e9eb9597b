"""No test is left out silently: every skip and expected failure is listed with its reason in
the normal output, and each reason names what is missing and how to get it."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from tests.support import REPO


def test_a_missing_shared_folder_is_named_in_the_normal_output(tmp_path: Path) -> None:
    """Run as the README says (no -rs), tests that need the shared folder show up as SKIPPED
    lines naming the missing path and how to provide it."""
    env = {**os.environ, "NASHIR_SHARED_DIR": str(tmp_path / "no-shared-here")}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "tests/formatters/test_corpus.py"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    skipped = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED [")]
    assert skipped, result.stdout[-3000:]
    for line in skipped:
        assert str(tmp_path / "no-shared-here") in line and "NASHIR_SHARED_DIR" in line, line
        assert "ln -s" in line


def reasons(tree: ast.AST) -> list[tuple[int, str | None]]:
    """(line, reason) of every pytest.skip / skipif / importorskip / xfail call."""
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        name = node.func.attr
        if name not in ("skip", "skipif", "importorskip", "xfail"):
            continue
        words = [kw.value for kw in node.keywords if kw.arg in ("reason", "msg")]
        if name == "skip" and node.args:
            words.append(node.args[0])
        text = None
        for value in words:
            if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "shared_missing":
                text = "the shared folder is missing: ln -s (tests.support.shared_missing)"
                continue
            parts = [v.value for v in ast.walk(value)
                     if isinstance(v, ast.Constant) and isinstance(v.value, str)]
            text = " ".join(parts)
        if name in ("skip", "skipif", "importorskip") or words:
            found.append((node.lineno, text))
    return found


def test_every_skip_in_the_suite_gives_a_reason_that_says_how_to_get_what_is_missing() -> None:
    """Each skip, skipif, importorskip and xfail in the tests carries a reason of some words
    (not a bare skip), and a reason about a tool names the command that brings it."""
    missing = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        if path.name == Path(__file__).name:
            continue
        for line, text in reasons(ast.parse(path.read_text(encoding="utf-8"))):
            if text is None or len(text) < 30:
                missing.append(f"{path.relative_to(REPO)}:{line}: {text!r}")
            elif any(gone in text for gone in ("is missing", "not installed", "not on PATH")) \
                    and not any(how in text for how in ("install", "scripts/setup", "ln -s")):
                missing.append(f"{path.relative_to(REPO)}:{line}: no way to get it")
    assert missing == []
