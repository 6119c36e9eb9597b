"""The world of a chaos run (bench/chaos.py): the channels, the feeds and what they publish, the
worker processes (`main.py run`, as a user runs it) and the Redis server they share.

Everything here is real: workers are separate processes talking HTTP to the strict fake Bot
API and to the local feed server, and Redis is the `redis-server` binary the bot embeds, run
append-only in the run's folder so it can be stopped and started again under the workers.
"""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from tests.fakes.feed_server import FeedItem, FeedServer, render_feed
from tests.support import REPO, bot_env, write_config

TOKEN = "424242:CHAOS-run"
OWNER = 700_001
# Channels A and B are never kicked; C is where the bot is kicked and re-added.
CHANNELS = (-1001700000001, -1001700000002, -1001700000003)
KICKED_CHANNEL = CHANNELS[2]
LINK_ROOT = "https://example.org/chaos/"

# Bodies of the feeds that are always broken (and, for a while, of good feeds).
ENTITY_BOMB = ("<?xml version=\"1.0\"?>\n<!DOCTYPE rss [<!ENTITY a \"aaaaaaaaaa\">"
               + "".join(f"<!ENTITY {chr(98 + i)} \"{('&' + chr(97 + i) + ';') * 10}\">"
                         for i in range(9))
               + "]><rss version=\"2.0\"><channel><title>bomb</title><item><title>&j;</title>"
                 "<link>https://example.org/bomb</link></item></channel></rss>").encode()
GARBAGE_SEED = b"\x00\xff<rss><channel><item><title>\xc3\x28 &#xD800; <<<>>> ]]>"


def unclosed_body(items: list[FeedItem], tags: int = 200_000) -> bytes:
    """Three good items followed by `tags` <item> tags that never close (about 1.2 MB)."""
    head = render_feed(title="unclosed", items=items[:3]).decode()
    return (head.replace("</channel></rss>\n", "") + "<item>" * tags).encode()


def garbage_body(rng_bytes: bytes) -> bytes:
    return GARBAGE_SEED + rng_bytes


@dataclass
class GoodFeed:
    """A feed that publishes new articles all run long; `chats` are where its posts belong."""

    index: int
    chats: tuple[int, ...]
    items: list[FeedItem] = field(default_factory=list)
    broken: str | None = None          # the fault it answers with now, if any

    @property
    def path(self) -> str:
        return f"/good/{self.index}.xml"


@dataclass(frozen=True)
class Published:
    """One article a feed published: where it must arrive, and whether it must at all."""

    link: str
    feed: str
    chats: tuple[int, ...]
    at: float
    optional: bool = False  # the good items inside an always-broken body


def article(feed: str, n: int) -> FeedItem:
    return FeedItem(
        guid=f"chaos-{feed}-{n}",
        title=f"تحليل {feed}-{n}: قراءة في موازين التجارة لعام 2026",
        link=f"{LINK_ROOT}{feed}/{n}",
        published=datetime.now(UTC),
        summary_html=(f"<p>هذه فقرة التحليل {feed}-{n}. ارتفعت كلفة الشحن بنحو 28% خلال عام "
                      "2025، ويرى محللون أن الطريق ما زال طويلاً.</p>"),
    )


class Farm:
    """The feed farm: good feeds that keep publishing, and feeds that are always broken."""

    def __init__(self, server: FeedServer, feeds: int) -> None:
        self.server = server
        n = len(CHANNELS)
        self.good = [GoodFeed(i, (CHANNELS[i % n], CHANNELS[(i + 1) % n])) for i in range(feeds)]
        self.published: list[Published] = []
        self.bad_paths: dict[str, str] = {}

    def setup(self, initial: int = 2) -> None:
        for feed in self.good:
            feed.items = [article(f"g{feed.index}", n) for n in range(initial, 0, -1)]
            self.server.add_feed(feed.path, title=f"مرصد {feed.index}", items=feed.items)
            for item in feed.items:
                self._record(feed, item)
        unclosed = [article("unclosed", n) for n in (3, 2, 1)]
        for item in unclosed:
            assert item.link is not None
            self.published.append(Published(item.link, "unclosed", (CHANNELS[0],),
                                             time.time(), optional=True))
        bodies = {"/bad/garbage.xml": garbage_body(os.urandom(4096)),
                  "/bad/entities.xml": ENTITY_BOMB,
                  "/bad/unclosed.xml": unclosed_body(unclosed)}
        for path, body in bodies.items():
            self.server.set_response(path, body=body,
                                     headers={"Content-Type": "application/rss+xml"})
        self.server.add_feed("/bad/timeout.xml", items=[article("timeout", 1)])
        self.server.delay("/bad/timeout.xml", 600)
        self.server.redirect("/bad/loop-a.xml", "/bad/loop-b.xml")
        self.server.redirect("/bad/loop-b.xml", "/bad/loop-a.xml")
        self.bad_paths = {"garbage": "/bad/garbage.xml", "entity bomb": "/bad/entities.xml",
                          "unclosed items": "/bad/unclosed.xml",
                          "timeout": "/bad/timeout.xml", "redirect loop": "/bad/loop-a.xml"}

    def publish(self, feed: GoodFeed) -> Published:
        n = len(feed.items) + 1
        item = article(f"g{feed.index}", n)
        feed.items.insert(0, item)
        self.server.add_item(feed.path, item)
        return self._record(feed, item)

    def _record(self, feed: GoodFeed, item: FeedItem) -> Published:
        assert item.link is not None
        record = Published(item.link, f"g{feed.index}", feed.chats, time.time())
        self.published.append(record)
        return record

    def break_feed(self, feed: GoodFeed, kind: str, noise: bytes) -> None:
        """Answer `kind` at the feed's address until `mend`; articles published meanwhile
        are kept and served once it is mended."""
        self.server.stash_feed(feed.path)
        feed.broken = kind
        if kind == "timeout":
            self.server.delay(feed.path, 600)
        elif kind == "garbage":
            self.server.set_response(feed.path, body=garbage_body(noise))
        elif kind == "entity bomb":
            self.server.set_response(feed.path, body=ENTITY_BOMB)
        elif kind == "redirect loop":
            self.server.redirect(feed.path, feed.path + "?loop")
            self.server.redirect(feed.path + "?loop", feed.path)
        elif kind == "unclosed items":
            self.server.set_response(feed.path, body=unclosed_body(feed.items),
                                     headers={"Content-Type": "application/rss+xml"})
        elif kind == "dropped connection":
            self.server.drop(feed.path)
        else:
            raise ValueError(kind)

    def mend(self, feed: GoodFeed) -> None:
        if feed.broken is None:
            return
        if feed.broken == "redirect loop":
            self.server.remove(feed.path + "?loop")
        self.server.restore_feed(feed.path)
        feed.broken = None

    def config(self, interval: str = "1m") -> dict[str, Any]:
        feeds = [{"url": self.server.url(f.path), "channels": [str(c) for c in f.chats],
                  "first_run": "all", "interval": interval} for f in self.good]
        feeds += [{"url": self.server.url(path), "channels": [str(CHANNELS[0])],
                   "first_run": "all", "interval": interval}
                  for path in self.bad_paths.values()]
        return {"timezone": "Asia/Riyadh", "owners": [OWNER],
                "channels": [{"chat": str(c), "language": "ar"} for c in CHANNELS],
                "feeds": feeds}


def rss_kib(pid: int) -> int:
    """Resident memory of one process in KiB (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (the parse pool's children, for instance)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


START_GRACE_S = 30.0
_START_REFUSALS = {3: "Redis not usable", 1: "Telegram unreachable"}


class Worker:
    """One `main.py run` process; killed and started again by the run."""

    def __init__(self, index: int, root: Path, config: Path, api_root: str,
                 redis_url: str) -> None:
        self.index = index
        self.data_dir = root / f"worker-{index}"
        self.log_path = root / f"worker-{index}.log"
        self.env = bot_env(config=config, data_dir=self.data_dir, api_root=api_root,
                           token=TOKEN, redis_url=redis_url)
        self.process: asyncio.subprocess.Process | None = None
        self.kills = 0
        self.starts = 0
        self.crashes: list[int] = []     # exit codes of deaths we did not cause
        self.max_rss_kib = 0
        self.killed = False              # down because the run killed it (not a crash)
        self.refusals: Counter[str] = Counter()  # starts refused during an outage, by cause
        self.started_at = 0.0
        self.children: set[int] = set()  # descendants seen while alive
        self._log: IO[bytes] | None = None

    async def start(self) -> None:
        if self._log is None:
            self._log = self.log_path.open("ab")
        self._log.write(f"--- start {self.starts + 1} at {time.strftime('%X')}\n".encode())
        self._log.flush()
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, str(REPO / "main.py"), "run", cwd=str(REPO), env=self.env,
            stdin=asyncio.subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        self.starts += 1
        self.killed = False
        self.started_at = time.monotonic()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def kill(self) -> list[int]:
        """SIGKILL; returns the descendants it had (they must die with it)."""
        assert self.process is not None
        kids = descendants(self.process.pid)
        self.killed = True
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        self.kills += 1
        return kids

    def sample(self) -> None:
        if not self.alive:
            return
        assert self.process is not None
        kids = descendants(self.process.pid)
        self.children.update(kids)
        total = rss_kib(self.process.pid) + sum(rss_kib(k) for k in kids)
        self.max_rss_kib = max(self.max_rss_kib, total)

    async def check_crash(self) -> str | None:
        """A worker that exited on its own is started again, as a supervisor would. Exit 3
        (Redis not usable) or 1 (Telegram unreachable) soon after a start is the documented
        refusal to start during an outage; any other exit is a crash. Returns what happened,
        if anything."""
        if self.process is None or self.process.returncode is None or self.killed:
            return None
        code = self.process.returncode
        refusal = _START_REFUSALS.get(code)
        if refusal and time.monotonic() - self.started_at < START_GRACE_S:
            self.refusals[refusal] += 1
            what = f"refused to start (exit {code}: {refusal})"
        else:
            self.crashes.append(code)
            what = f"crashed (exit {code})"
        await self.start()
        return what

    async def stop(self, grace: float = 30.0) -> int | None:
        """SIGTERM and wait; the exit code (None if it had to be killed)."""
        code: int | None = None
        if self.alive:
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)
            try:
                code = await asyncio.wait_for(self.process.wait(), grace)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        return code


def write_run_config(root: Path, farm: Farm) -> Path:
    return write_config(root / "bot.yaml", farm.config())
