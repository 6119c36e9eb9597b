"""Only one replica long-polls getUpdates: a Redis lock with renewal. A replica that dies stops
renewing and another takes over; a replica that loses the lock stops polling at once."""
from __future__ import annotations

import asyncio
import os
import signal
import sys
from contextlib import AsyncExitStack

from bot.updates import UpdatesLock
from store import keys
from tests.bot.conftest import EDITOR, STRANGER, base_config, eventually, plain, running_bot
from tests.support import REPO, write_config


async def test_clean_stop_hands_over_at_once(tg, redis, pages, tmp_path):
    """Two replicas: the second waits; when the first stops it releases the lock and the second
    answers the next command."""
    config = base_config()
    (tmp_path / "b").mkdir()
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(running_bot(
            tg, redis, pages, config, tmp_path, lock=UpdatesLock(redis, "replica-a", ttl_s=30)))
        second = await stack.enter_async_context(running_bot(
            tg, redis, pages, config, tmp_path / "b",
            lock=UpdatesLock(redis, "replica-b", ttl_s=30), register=False))
        assert await redis.get(keys.bot_updates_lock()) == "replica-a"
        [reply] = await first.say(STRANGER, "/start")
        assert "Welcome" in plain(reply.html)
        first.stop.set()
        await asyncio.wait_for(first.task, 15)

        async def taken() -> bool:
            return await redis.get(keys.bot_updates_lock()) == "replica-b"

        await eventually(taken, 5, "replica-b to take the lock")
        [reply] = await second.say(STRANGER, "/help")
        assert "Commands" in plain(reply.html)
        assert not [r for r in tg.calls("getUpdates") if r.status == 409]
    assert await redis.get(keys.bot_updates_lock()) is None


async def test_lost_lock_stops_polling(tg, redis, pages, tmp_path):
    """When the lock turns out to be someone else's (it expired during a Redis outage and
    another replica took it), this replica stops polling; it polls again once it is free."""
    lock = UpdatesLock(redis, "replica-a", ttl_s=0.6)
    async with running_bot(tg, redis, pages, base_config(), tmp_path, lock=lock) as bot:
        await redis.set(keys.bot_updates_lock(), "intruder", px=60_000)
        updater = bot.app.updater
        assert updater is not None
        await tg.wait_for(lambda: not updater.running, 10, "polling to stop")
        await redis.delete(keys.bot_updates_lock())
        await tg.wait_for(lambda: updater.running, 10, "polling to start again")
        [reply] = await bot.say(EDITOR, "/start")
        assert "Welcome" in plain(reply.html)


async def _spawn(env: dict[str, str]) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.bot.replica", cwd=str(REPO), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    assert line.strip() == b"ready", line
    return process


async def test_replica_dies_and_another_takes_over(tg, redis, redis_url, tmp_path):
    """Two replica processes against one Redis: only the lock holder polls; when it is killed
    (SIGKILL: no clean-up at all) the other takes over within the lock's lifetime."""
    config = write_config(tmp_path / "bot.yaml", base_config())
    env = {**os.environ, "API_ROOT": tg.api_root, "REDIS_URL": redis_url,
           "BOT_CONFIG": str(config), "LOCK_TTL": "1.5", "PYTHONPATH": str(REPO)}
    processes = {
        "a": await _spawn({**env, "REPLICA_ID": "a"}),
        "b": await _spawn({**env, "REPLICA_ID": "b"}),
    }
    try:
        async def holder() -> str | None:
            return await redis.get(keys.bot_updates_lock())

        first = await eventually(holder, 20, "a replica to take the lock")
        tg.inject_message(STRANGER, "/start")
        await tg.wait_for(lambda: tg.messages_to(STRANGER), 20, "the holder's answer")
        assert await holder() == first

        processes[first].kill()
        await processes[first].wait()
        other = "b" if first == "a" else "a"

        async def other_holds() -> bool:
            return await holder() == other

        await eventually(other_holds, 20, f"replica {other} to take over")
        tg.inject_message(STRANGER, "/help")
        await tg.wait_for(lambda: len(tg.messages_to(STRANGER)) >= 2, 20, "the new holder")
        assert "Commands" in plain(tg.messages_to(STRANGER)[1].html)
        # Never two pollers at once: Telegram would have answered 409 to one of them.
        assert not [r for r in tg.calls("getUpdates") if r.status == 409]

        processes[other].send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(processes[other].wait(), 20) == 0
        assert await holder() is None
    finally:
        for process in processes.values():
            if process.returncode is None:
                process.kill()
                await process.wait()


async def test_waits_out_telegram_outage_at_start(tg, redis, pages, tmp_path):
    """Telegram down when the worker starts: the bot retries getMe instead of giving up."""
    tg.fail_next("getMe", status=502, count=2)
    async with running_bot(tg, redis, pages, base_config(), tmp_path) as bot:
        [reply] = await bot.say(STRANGER, "/start")
        assert "Welcome" in plain(reply.html)
        assert [r.status for r in tg.calls("getMe")][:3] == [502, 502, 200]
