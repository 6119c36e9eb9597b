"""Running the bot as a real process for end-to-end tests."""
from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
# The project's shared folder (docs, the corpus of real feeds, the seed article) lies beside the
# checkout, never inside it; NASHIR_SHARED_DIR points elsewhere.
SHARED = Path(os.environ.get("NASHIR_SHARED_DIR") or REPO.parent / "shared").resolve()


def shared_missing(path: Path, what: str) -> str:
    """The skip reason for a test that needs `path` from the shared folder."""
    return (f"{what} needs the project's shared folder, and {path} is missing: this checkout "
            f"has no {SHARED} beside it. Put (or link) the project's shared/ folder there "
            f"(ln -s /path/to/shared {SHARED}), or set NASHIR_SHARED_DIR; CI has it.")


@dataclass
class ProcessResult:
    code: int
    stdout: str
    stderr: str


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def bot_env(*, config: Path, data_dir: Path, api_root: str | None = None,
            token: str | None = None, redis_url: str | None = None,
            extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment for the bot: nothing leaks in from the test runner's own env."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_API_URL", "REDIS_URL", "BOT_CONFIG",
                        "BOT_DATA_DIR", "BOT_HTTP_ADDR", "BOT_LOG_FORMAT")}
    env.update(BOT_CONFIG=str(config), BOT_DATA_DIR=str(data_dir), BOT_LOG_FORMAT="json",
               BOT_HTTP_ADDR="127.0.0.1:0", PYTHONUNBUFFERED="1")
    if token:
        env["TELEGRAM_BOT_TOKEN"] = token
    if api_root:
        env["TELEGRAM_API_URL"] = api_root
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra or {})
    return env


async def start_bot(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, str(REPO / "main.py"), *args, cwd=str(REPO), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def run_bot(*args: str, env: dict[str, str], within: float = 90.0) -> ProcessResult:
    """Run main.py to completion while this test's servers keep serving on the same loop."""
    process = await start_bot(*args, env=env)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), within)
    except TimeoutError:
        process.kill()
        stdout, stderr = await process.communicate()
        raise AssertionError(f"main.py {' '.join(args)} did not finish in {within} s:\n"
                             f"{stderr.decode(errors='replace')[-3000:]}") from None
    return ProcessResult(process.returncode or 0, stdout.decode(errors="replace"),
                         stderr.decode(errors="replace"))
