"""Reading the container files without Docker: the Dockerfile's instructions, the
.dockerignore rules (Docker's semantics: last matching pattern wins, a pattern matching a
parent folder covers what is inside), and the build context they give."""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Instruction:
    keyword: str          # upper case: FROM, RUN, COPY, …
    value: str            # the rest, continuation lines joined
    stage: int            # index of the FROM it belongs to

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form instruction, else None."""
        text = self.value
        if self.keyword == "HEALTHCHECK":
            text = text.split("CMD", 1)[1] if "CMD" in text else ""
        text = text.strip()
        if not text.startswith("["):
            return None
        return json.loads(text)

    def flags(self) -> dict[str, str]:
        return dict(re.findall(r"--([a-z-]+)=(\S+)", self.value))


def parse_dockerfile(path: Path) -> list[Instruction]:
    lines = path.read_text(encoding="utf-8").splitlines()
    logical: list[str] = []
    current = ""
    for raw in lines:
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # comments inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1].rstrip() + " "
            continue
        logical.append(current + stripped)
        current = ""
    if current:
        logical.append(current)
    instructions = []
    stage = -1
    for line in logical:
        keyword, _, value = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(keyword, value.strip(), stage))
    return instructions


def build_args(instructions: list[Instruction]) -> dict[str, str]:
    args = {}
    for ins in instructions:
        if ins.keyword == "ARG" and "=" in ins.value:
            name, _, default = ins.value.partition("=")
            args[name.strip()] = default.strip()
    return args


def substitute(text: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), text)


def env_of(instructions: list[Instruction], stage: int) -> dict[str, str]:
    """ENV values of one stage (KEY=VALUE form)."""
    env: dict[str, str] = {}
    for ins in instructions:
        if ins.stage == stage and ins.keyword == "ENV":
            for key, value in re.findall(r"(\w+)=(\S+)", ins.value):
                env[key] = value
    return env


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
            continue
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            continue
        out += {"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char))
        i += 1
    return re.compile(out + r"\Z")


def dockerignore_rules(path: Path) -> list[tuple[bool, re.Pattern[str]]]:
    return [(negate, _pattern_regex(pattern)) for negate, pattern in _raw_rules(path)]


def _raw_rules(path: Path) -> list[tuple[bool, str]]:
    rules = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        rules.append((negate, pattern.strip().strip("/")))
    return rules


def is_excluded(relative: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = relative.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for negate, regex in rules:
        if any(regex.match(c) for c in candidates):
            excluded = not negate
    return excluded


def build_context(repo: Path, dockerignore: Path) -> list[str]:
    """Files (relative paths) that `docker build` would send, per .dockerignore."""
    import os

    rules = dockerignore_rules(dockerignore)
    negations = [pattern for negate, pattern in _raw_rules(dockerignore) if negate]
    files = []
    for folder, dirs, names in os.walk(repo):
        base = Path(folder).relative_to(repo).as_posix()
        base = "" if base == "." else base + "/"
        # Skip folders nothing can re-include (.git, .venv, data: large, and never sent).
        dirs[:] = sorted(d for d in dirs if not is_excluded(base + d, rules) or any(
            n.startswith(base + d + "/") or "**" in n for n in negations))
        for name in sorted(names):
            relative = base + name
            if not is_excluded(relative, rules):
                files.append(relative)
    return sorted(files)


def copy_context(repo: Path, dockerignore: Path, target: Path) -> list[str]:
    """Copy the build context into `target` (what `COPY . /app` puts in the image)."""
    files = build_context(repo, dockerignore)
    for relative in files:
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / relative, destination)
    return files
