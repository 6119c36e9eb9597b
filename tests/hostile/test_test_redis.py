"""The test suite never touches a Redis it did not start: REDIS_URL in the runner's shell is
ignored, and an external server named for tests is refused when it holds data."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from store.embedded import EmbeddedRedis
from tests.scratch_redis import TEST_REDIS_VARIABLE

REPO = Path(__file__).resolve().parents[2]
# One quick test that writes to the `redis` fixture (which flushes the database first).
A_TEST_THAT_WRITES = ("tests/store/test_redis_store.py::"
                      "test_queue_article_marks_seen_and_queues_each_chat_once")

pytestmark = pytest.mark.slow


@pytest.fixture
def users_redis(tmp_path: Path) -> Iterator[redis.Redis]:
    """Someone's real Redis, holding a key the tests must leave alone."""
    with EmbeddedRedis(tmp_path / "theirs") as server:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        client.set("their:sentinel", "precious")
        client.hset("their:feeds", "a", "1")
        try:
            yield client
        finally:
            client.close()


def run_pytest(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("REDIS_URL", TEST_REDIS_VARIABLE, "PYTEST_ADDOPTS")}
    environment.update(env)
    return subprocess.run(  # noqa: S603 - our interpreter, fixed arguments
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--basetemp", str(tmp_path / "inner"), A_TEST_THAT_WRITES],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=110, check=False)


def url_of(client: redis.Redis) -> str:
    path = client.connection_pool.connection_kwargs["path"]
    return f"unix://{path}"


def test_redis_url_in_the_shell_is_left_alone(tmp_path: Path, users_redis: redis.Redis) -> None:
    """A pytest run with REDIS_URL at a Redis holding data passes on its own server and leaves
    every key there as it was."""
    result = run_pytest(tmp_path, REDIS_URL=url_of(users_redis))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout
    assert users_redis.get("their:sentinel") == "precious"
    assert users_redis.hgetall("their:feeds") == {"a": "1"}
    assert users_redis.dbsize() == 2


def test_a_test_redis_with_data_is_refused(tmp_path: Path, users_redis: redis.Redis) -> None:
    """NASHIR_TEST_REDIS_URL at a database that holds keys: the run stops before any test with
    a message saying why and what to do, and the keys are untouched."""
    result = run_pytest(tmp_path, **{TEST_REDIS_VARIABLE: url_of(users_redis)})
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout[-2000:]
    output = result.stdout + result.stderr
    assert "holds 2 keys" in output and "empty database" in output
    assert users_redis.get("their:sentinel") == "precious"
    assert users_redis.dbsize() == 2


def test_an_empty_test_redis_is_used(tmp_path: Path, users_redis: redis.Redis) -> None:
    """NASHIR_TEST_REDIS_URL at an empty database (another db number) is used for the run."""
    base = url_of(users_redis)
    scratch = redis.Redis.from_url(base + "?db=5", decode_responses=True)
    try:
        assert scratch.dbsize() == 0
        result = run_pytest(tmp_path, **{TEST_REDIS_VARIABLE: base + "?db=5"})
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        assert scratch.dbsize() > 0          # the test wrote there, not to db 0
    finally:
        scratch.close()
    assert users_redis.get("their:sentinel") == "precious"
    assert users_redis.dbsize() == 2
