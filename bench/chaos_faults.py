"""The faults of a chaos run (bench/chaos.py), each applied for a while and then undone.

Two loops run side by side while the faults last: one SIGKILLs a random worker now and then
and starts it again a few seconds later; the other applies one fault at a time: a Redis restart,
the Bot API answering 5xx, dropping connections after doing the work, a 429 storm, a full
outage, the bot kicked from a channel and added back, or a good feed broken (timeouts, garbage,
an entity bomb, a redirect loop, three good items followed by 200,000 unclosed <item> tags).
"""
from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.chaos_world import KICKED_CHANNEL, OWNER, Farm, Worker, descendants
from sandbox.telegram_api import FakeTelegram
from store.embedded import EmbeddedRedis

FAULTS = ("redis restart", "api 5xx", "api dropped connections", "api 429 storm",
          "api outage", "kick and re-add", "broken feed")
FEED_FAULTS = ("timeout", "garbage", "entity bomb", "redirect loop", "unclosed items",
               "dropped connection")
_AT_NEXT_SEND = ("api 5xx", "api dropped connections", "api 429 storm", "api outage",
                 "kick and re-add")
SEND_METHODS = ("sendMessage", "sendPhoto", "sendRichMessage")
_FOREVER = 10**9  # a fault count that lasts until clear_faults


@dataclass
class FaultLog:
    """What was done, when: the run's own account of its faults."""

    started: float = field(default_factory=time.monotonic)
    counts: Counter[str] = field(default_factory=Counter)
    lines: list[str] = field(default_factory=list)
    echo: Callable[[str], None] | None = None

    def note(self, kind: str, detail: str = "") -> None:
        self.counts[kind] += 1
        line = f"{time.monotonic() - self.started:7.1f}s  {kind}{': ' + detail if detail else ''}"
        self.lines.append(line)
        if self.echo is not None:
            self.echo(line)


def _member(tg: FakeTelegram, status: str) -> dict[str, Any]:
    bot = {"id": tg.bot_id, "is_bot": True, "first_name": tg.bot_name,
           "username": tg.bot_username}
    if status == "kicked":
        return {"status": "kicked", "user": bot, "until_date": 0}
    rights = dict.fromkeys((
        "can_manage_chat", "can_delete_messages", "can_manage_video_chats",
        "can_restrict_members", "can_change_info", "can_invite_users", "can_post_stories",
        "can_edit_stories", "can_delete_stories", "can_post_messages", "can_edit_messages"),
        True)
    return {"status": "administrator", "user": bot, "can_be_edited": False,
            "is_anonymous": False, "can_promote_members": False, **rights}


def set_membership(tg: FakeTelegram, chat: int, old: str, new: str) -> None:
    """What Telegram does when an admin kicks or re-adds the bot: the status changes and a
    my_chat_member update is sent."""
    tg.set_bot_status(chat, new)
    tg.inject_update({"my_chat_member": {
        "chat": tg.chat(chat).to_api(), "date": int(time.time()),
        "from": {"id": OWNER, "is_bot": False, "first_name": "Owner"},
        "old_chat_member": _member(tg, old), "new_chat_member": _member(tg, new)}})


class Chaos:
    """Applies the faults; `stop()` ends them and undoes whatever is still in force."""

    def __init__(self, *, tg: FakeTelegram, farm: Farm, workers: Sequence[Worker],
                 redis: EmbeddedRedis, rng: random.Random, log: FaultLog,
                 faults: Sequence[str] = FAULTS, kill_every: float = 20.0,
                 fault_gap: tuple[float, float] = (3.0, 10.0),
                 fault_length: tuple[float, float] = (8.0, 25.0)) -> None:
        self.tg, self.farm, self.workers, self.redis = tg, farm, workers, redis
        self.rng, self.log, self.faults = rng, log, tuple(faults)
        self.kill_every, self.fault_gap, self.fault_length = kill_every, fault_gap, fault_length
        self.orphans: list[int] = []   # descendants of a killed worker still alive after it
        self.kicked_at: list[float] = []
        self._stop = asyncio.Event()

    async def run(self, seconds: float) -> None:
        loops = [asyncio.create_task(self._faults())]
        if self.kill_every > 0 and self.workers:
            loops.append(asyncio.create_task(self._killer()))
        try:
            await self._sleep(seconds)
        finally:
            self._stop.set()
            await asyncio.gather(*loops)
            self.undo_all()

    def undo_all(self) -> None:
        self.tg.outage(False)
        self.tg.clear_faults()
        if self.tg.chat(KICKED_CHANNEL).bot_status == "kicked":
            set_membership(self.tg, KICKED_CHANNEL, "kicked", "administrator")
        for feed in self.farm.good:
            self.farm.mend(feed)

    async def _sleep(self, seconds: float) -> bool:
        """Sleep, or return early (True) when the faults are over."""
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
            return True
        except TimeoutError:
            return False

    async def _killer(self) -> None:
        while not await self._sleep(self.rng.uniform(0.5, 1.5) * self.kill_every):
            worker = self.rng.choice([w for w in self.workers if w.alive] or [None])
            if worker is None:
                continue
            kids = await worker.kill()
            self.log.note("worker SIGKILL", f"worker {worker.index}, {len(kids)} children")
            await asyncio.sleep(self.rng.uniform(1.0, 5.0))  # down for a while, then back
            self.orphans += [pid for pid in kids if _alive(pid)]
            await worker.start()

    async def _faults(self) -> None:
        while not await self._sleep(self.rng.uniform(*self.fault_gap)):
            kind = self.rng.choice(self.faults)
            length = self.rng.uniform(*self.fault_length)
            # Feeds are polled once a minute, so sends come in bursts: a Bot API fault or a
            # kick waits for the next send, to strike while posts are in flight.
            if kind in _AT_NEXT_SEND and not await self._next_send():
                break
            await getattr(self, "_" + kind.replace(" ", "_").replace("-", "_"))(length)

    async def _next_send(self, patience: float = 90.0) -> bool:
        """Wait until Telegram takes a message (False: the faults ended first)."""
        seen = len(self.tg.messages)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        while len(self.tg.messages) == seen and loop.time() < deadline:
            if await self._sleep(0.2):  # checking period
                return False
        return True

    async def _redis_restart(self, length: float) -> None:
        down = min(length, self.rng.uniform(2.0, 8.0))
        self.log.note("redis restart", f"down {down:.0f} s")
        self.redis.stop()   # SIGTERM: Redis writes its append-only file and exits
        await asyncio.sleep(down)
        self.redis.start()  # must run on the main thread (parent-death signal)

    async def _api_5xx(self, length: float) -> None:
        status = self.rng.choice((500, 502, 503))
        self.log.note("api 5xx", f"{status} for {length:.0f} s")
        for method in (*SEND_METHODS, "getUpdates"):
            self.tg.fail_next(method, status, count=_FOREVER)
        await self._sleep(length)
        self.tg.clear_faults()

    async def _api_dropped_connections(self, length: float) -> None:
        count = self.rng.randint(1, 4)
        self.log.note("api dropped connections", f"next {count} sends carried out, "
                      f"answer lost ({length:.0f} s)")
        self.tg.drop_after_accept("sendMessage", count)
        await self._sleep(length)
        self.tg.clear_faults()

    async def _api_429_storm(self, length: float) -> None:
        retry = self.rng.randint(1, 10)
        self.log.note("api 429 storm", f"retry_after {retry} for {length:.0f} s")
        for method in SEND_METHODS:
            self.tg.fail_next(method, 429, count=_FOREVER, retry_after=retry)
        await self._sleep(length)
        self.tg.clear_faults()

    async def _api_outage(self, length: float) -> None:
        self.log.note("api outage", f"every connection reset for {length:.0f} s")
        self.tg.outage(True)
        await self._sleep(length)
        self.tg.outage(False)

    async def _kick_and_re_add(self, length: float) -> None:
        self.log.note("kick and re-add", f"bot kicked from {KICKED_CHANNEL} for {length:.0f} s")
        self.kicked_at.append(time.time())
        set_membership(self.tg, KICKED_CHANNEL, "administrator", "kicked")
        await self._sleep(length)
        set_membership(self.tg, KICKED_CHANNEL, "kicked", "administrator")

    async def _broken_feed(self, length: float) -> None:
        feed = self.rng.choice([f for f in self.farm.good if f.broken is None])
        kind = self.rng.choice(FEED_FAULTS)
        self.log.note("broken feed", f"{feed.path} answers {kind} for {length:.0f} s")
        self.farm.break_feed(feed, kind, self.rng.randbytes(4096))
        await self._sleep(length)
        self.farm.mend(feed)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return False


__all__ = ["FAULTS", "FEED_FAULTS", "Chaos", "FaultLog", "descendants", "set_membership"]
