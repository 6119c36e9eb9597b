"""Which Redis the tests and benches may write to, and the check that keeps them off anyone
else's data.

The suite and the benches flush their database between runs. They therefore run on a Redis of
their own: an embedded server started in a temporary folder. `REDIS_URL` (which an operator's
shell often has, pointing at the bot's real data) is never used. A developer who wants an
external server for the tests names it in `NASHIR_TEST_REDIS_URL` (the benches:
`NASHIR_BENCH_REDIS_URL`), and it is used only if its database holds no key at all.
"""
from __future__ import annotations

import redis

TEST_REDIS_VARIABLE = "NASHIR_TEST_REDIS_URL"
BENCH_REDIS_VARIABLE = "NASHIR_BENCH_REDIS_URL"


class ForeignDataError(RuntimeError):
    """The Redis named for tests or benches already holds data that is not theirs."""


def require_empty(url: str, variable: str) -> None:
    """Raise ForeignDataError unless the database at `url` holds no key (tests flush it)."""
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        count = int(client.dbsize())
    finally:
        client.close()
    if count:
        raise ForeignDataError(
            f"{variable} names a Redis database that holds {count} keys. The tests flush the "
            f"database they use, so they refuse one with data in it. Point {variable} at an "
            f"empty database (another db number, e.g. /15, or a scratch server), or unset it to "
            f"use an embedded server of the tests' own.")
