"""A chaos run: several workers on one Redis, a feed farm that keeps publishing, and faults.

    .venv/bin/python bench/chaos.py --minutes 3 --workers 3 --seed 1

Starts the strict fake Bot API (Telegram's flood limits), the local feed server (good feeds
that keep publishing, and feeds that are always broken), one append-only Redis server (the
binary the bot embeds) and `--workers` worker processes (`main.py run`, as a user runs it, all
roles). For `--minutes` it SIGKILLs workers at random and starts them again, restarts Redis,
turns the Bot API to 5xx, dropped connections, 429 storms and a full outage, kicks the bot from a
channel and adds it back (with the my_chat_member updates), and breaks good feeds for a while
(bench/chaos_faults.py). Then publishing stops, the faults are undone, and the run waits (at most
`--drain` seconds) until every article reached each of its chats or is held there.

It reconciles what the feeds published with what each chat received (bench/chaos_reconcile.py):
lost, posted twice (allowed: at most the sends in flight per kill, plus sends whose answer the
fake dropped), held for a kicked channel, wrong chat, plus the workers' peak memory and whether
every process not killed is still alive. Prints a table; exits 1 if anything was lost, posted
in the wrong chat or unexpected, held outside a kicked chat, duplicated beyond the bound, or a
process crashed or outlived its parent; 0 otherwise.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    os.environ.setdefault("PTB_TIMEDELTA", "true")

import redis.asyncio as aioredis

from bench.chaos_faults import FAULTS, Chaos, FaultLog
from bench.chaos_reconcile import HeldRecord, Reconciliation, reconcile, table
from bench.chaos_world import CHANNELS, KICKED_CHANNEL, OWNER, TOKEN, Farm, Worker, write_run_config
from delivery.queue import DeliveryQueue
from sandbox.telegram_api import FakeTelegram, RateLimits
from store.embedded import EmbeddedRedis
from tests.fakes.feed_server import FeedServer

# The sender's bound on sends in flight (delivery/sender.py): what one kill can leave
# accepted by Telegram but unrecorded, hence sent again.
SENDS_IN_FLIGHT = 8
_COUNTED_APART = ("worker SIGKILL", "redis restart", "worker exited")
_FEED_FIELD = re.compile(r'"feed": "([^"]+)"')


@dataclass
class Options:
    minutes: float = 3.0
    workers: int = 3
    seed: int = 1
    feeds: int = 4
    initial: int = 2                 # articles each good feed has before the workers start
    publish_every: float = 4.0       # seconds between two new articles (any feed), on average
    publish_for: float | None = None  # seconds of publishing (default: as long as the faults)
    drain: float = 300.0             # at most this long for the backlog after the faults
    kill_every: float = 25.0
    faults: tuple[str, ...] = FAULTS
    fault_gap: tuple[float, float] = (3.0, 10.0)
    fault_length: tuple[float, float] = (8.0, 25.0)
    root: Path | None = None
    echo: bool = True


@dataclass
class Report:
    options: Options
    result: Reconciliation
    faults: dict[str, int]
    fault_lines: list[str]
    kills: int
    redis_restarts: int
    crashes: list[tuple[int, int]]           # (worker, exit code)
    refusals: dict[str, int]                 # starts refused during an outage, by cause
    not_alive: list[str]
    orphans: list[int]
    max_rss_mib: float
    rate_limited: int
    dropped_sends: int
    requests: int
    seconds: float
    drain_seconds: float
    published: int
    exit_codes: list[int | None] = field(default_factory=list)
    feed_refusals: dict[str, int] = field(default_factory=dict)  # failed polls, by feed kind
    root: Path | None = None

    @property
    def duplicate_bound(self) -> int:
        return self.kills * SENDS_IN_FLIGHT + self.dropped_sends

    @property
    def failures(self) -> list[str]:
        r = self.result
        checks = [(len(r.lost), "lost"), (len(r.wrong_chat), "in the wrong chat"),
                  (len(r.unexpected), "unexpected posts"),
                  (len(r.held_other), "held outside a kicked chat"),
                  (len(self.crashes), "worker crashes"), (len(self.not_alive), "not alive"),
                  (len(self.orphans), "orphaned children of killed workers")]
        found = [f"{n} {what}" for n, what in checks if n]
        if r.duplicated > self.duplicate_bound:
            found.append(f"{r.duplicated} duplicates, more than the bound {self.duplicate_bound}")
        return found

    def render(self) -> str:
        r, o = self.result, self.options
        rows: list[tuple[str, object]] = [
            ("command", f"bench/chaos.py --minutes {o.minutes:g} --workers {o.workers} "
                        f"--seed {o.seed}"),
            ("run time", f"{self.seconds:.0f} s (faults {o.minutes * 60:.0f} s, drain "
                         f"{self.drain_seconds:.0f} s)"),
            ("articles published", f"{self.published} ({r.expected} article-chat pairs)"),
            ("delivered", f"{r.delivered} pairs, {r.copies} posts"),
            ("lost", len(r.lost)),
            ("posted twice", f"{r.duplicated} (bound: {self.kills} kills x {SENDS_IN_FLIGHT} "
                             f"in flight + {self.dropped_sends} answers dropped = "
                             f"{self.duplicate_bound})"),
            ("held, kicked channel", len(r.held_kicked)),
            ("held, other chats", len(r.held_other)),
            ("wrong chat", len(r.wrong_chat)),
            ("unexpected posts", len(r.unexpected)),
            ("good items in the unclosed body", f"{r.optional_delivered}/{r.optional_total} "
                                                "posted"),
            ("failed polls logged", ", ".join(f"{k} {v}" for k, v in
                                              sorted(self.feed_refusals.items()))),
            ("owner notices", r.notices),
            ("429s answered", self.rate_limited),
            ("Bot API requests", self.requests),
            ("workers SIGKILLed", self.kills),
            ("Redis restarts", self.redis_restarts),
            ("other faults", ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items())
                                       if k not in _COUNTED_APART)),
            ("worker crashes", len(self.crashes)),
            ("starts refused in an outage", ", ".join(
                f"{n} ({why})" for why, n in sorted(self.refusals.items())) or "none"),
            ("processes not alive", ", ".join(self.not_alive) or "none"),
            ("max worker RSS", f"{self.max_rss_mib:.0f} MiB (process and its children)"),
            ("worker exit codes on SIGTERM", self.exit_codes),
            ("verdict", "; ".join(self.failures) or "ok"),
        ]
        details = [f"  lost: {link} -> {chat}" for link, chat in r.lost[:20]]
        details += [f"  twice: {link} -> {chat} x{n}" for link, chat, n in r.duplicates[:20]]
        details += [f"  wrong chat: {link} -> {chat}" for link, chat in r.wrong_chat[:20]]
        details += [f"  held: {link} -> {chat}: {why}" for link, chat, why in r.held_other[:20]]
        details += [f"  unexpected in {chat}: {text!r}" for chat, text in r.unexpected[:10]]
        return table(rows) + ("\n" + "\n".join(details) if details else "")


async def held_records(redis_url: str) -> list[HeldRecord]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        posts = await DeliveryQueue(client, "chaos-reconcile").held_posts(limit=100_000)
    finally:
        await client.aclose()
    return [HeldRecord(p.delivery.chat if p.delivery else p.chat,
                       p.delivery.url if p.delivery else "", p.reason) for p in posts]


async def run_chaos(options: Options) -> Report:
    rng = random.Random(options.seed)
    root = options.root or Path(tempfile.mkdtemp(prefix="nashir-chaos-"))
    root.mkdir(parents=True, exist_ok=True)
    log = FaultLog(echo=print if options.echo else None)
    began = time.monotonic()
    async with FakeTelegram(token=TOKEN, rate_limits=RateLimits()) as tg, \
            FeedServer() as server:
        for i, chat in enumerate(CHANNELS):
            tg.add_chat(chat, type="channel", title=f"قناة {i + 1}")
        tg.add_user(OWNER, "Owner")  # told when a channel refuses the bot
        farm = Farm(server, options.feeds)
        farm.setup(options.initial)
        config = write_run_config(root, farm)
        redis = EmbeddedRedis(root / "redis-data")
        redis.start()
        workers = [Worker(i, root, config, tg.api_root, redis.url)
                   for i in range(options.workers)]
        try:
            for worker in workers:
                await worker.start()
            chaos = Chaos(tg=tg, farm=farm, workers=workers, redis=redis, rng=rng, log=log,
                          faults=options.faults, kill_every=options.kill_every,
                          fault_gap=options.fault_gap, fault_length=options.fault_length)
            seconds = options.minutes * 60
            publish_for = seconds if options.publish_for is None else options.publish_for
            monitor = asyncio.create_task(_monitor(workers, log))
            publisher = asyncio.create_task(_publish(farm, rng, options.publish_every,
                                                     publish_for))
            await chaos.run(seconds)
            await publisher
            if log.echo is not None:
                log.echo(f"faults over: {len(farm.published)} articles published; draining")
            drain_began = time.monotonic()
            kicked = {KICKED_CHANNEL} if chaos.kicked_at else set()
            result = await _drain(farm, tg, redis.url, kicked, options.drain)
            drain_seconds = time.monotonic() - drain_began
            monitor.cancel()
            not_alive = [f"worker {w.index}" for w in workers if not w.alive]
            if redis.pid is None:
                not_alive.append("redis")
            exit_codes = [await w.stop() for w in workers]
        finally:
            for worker in workers:
                await worker.stop(grace=5)
            redis.stop()
    dropped = sum(1 for r in tg.requests if r.description == "dropped after accept")
    return Report(
        options=options, result=result, faults=dict(log.counts), fault_lines=log.lines,
        kills=sum(w.kills for w in workers), redis_restarts=log.counts["redis restart"],
        crashes=[(w.index, code) for w in workers for code in w.crashes],
        refusals=dict(sum((w.refusals for w in workers), Counter())),
        not_alive=not_alive, orphans=chaos.orphans,
        max_rss_mib=max(w.max_rss_kib for w in workers) / 1024,
        rate_limited=len(tg.rate_limited), dropped_sends=dropped, requests=len(tg.requests),
        seconds=time.monotonic() - began, drain_seconds=drain_seconds,
        published=sum(1 for p in farm.published if not p.optional), exit_codes=exit_codes,
        root=root, feed_refusals=_failed_polls(farm, workers))


def _failed_polls(farm: Farm, workers: list[Worker]) -> dict[str, int]:
    """How many polls each kind of feed failed, from the workers' logs (one line each)."""
    kinds = {farm.server.url(path): kind for kind, path in farm.bad_paths.items()}
    kinds.update({farm.server.url(f.path): "good feeds" for f in farm.good})
    counts: Counter[str] = Counter()
    for worker in workers:
        for line in worker.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            if "feed poll failed" in line:
                feed = _FEED_FIELD.search(line)
                counts[kinds.get(feed.group(1), "other") if feed else "other"] += 1
    return dict(counts)


async def _publish(farm: Farm, rng: random.Random, every: float, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(left, rng.expovariate(1 / every)))
        if time.monotonic() < deadline:
            farm.publish(rng.choice(farm.good))


async def _monitor(workers: list[Worker], log: FaultLog) -> None:
    while True:
        for worker in workers:
            worker.sample()
            if what := await worker.check_crash():
                log.note("worker exited", f"worker {worker.index} {what}; started again")
        await asyncio.sleep(1.0)  # the sampling period


async def _drain(farm: Farm, tg: FakeTelegram, redis_url: str, kicked: set[int],
                 limit: float) -> Reconciliation:
    """Wait until every article reached its chats or is held (or `limit` seconds passed),
    then a few seconds more for late second copies."""
    deadline = time.monotonic() + limit
    while True:
        result = reconcile(farm.published, tg.messages, await _held(redis_url), kicked)
        if result.settled or time.monotonic() > deadline:
            break
        await asyncio.sleep(2.0)  # the reconciliation period
    await asyncio.sleep(3.0)
    return reconcile(farm.published, tg.messages, await _held(redis_url), kicked)


async def _held(redis_url: str) -> list[HeldRecord]:
    try:
        return await held_records(redis_url)
    except (OSError, aioredis.RedisError):
        return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0, help="how long faults last")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--feeds", type=int, default=4, help="good feeds that keep publishing")
    parser.add_argument("--publish-every", type=float, default=4.0, metavar="SECONDS")
    parser.add_argument("--drain", type=float, default=300.0, metavar="SECONDS",
                        help="at most this long for the backlog after the faults")
    parser.add_argument("--dir", type=Path, help="keep the run here (config, logs, Redis)")
    args = parser.parse_args(argv)
    options = Options(minutes=args.minutes, workers=args.workers, seed=args.seed,
                      feeds=args.feeds, publish_every=args.publish_every, drain=args.drain,
                      root=args.dir)
    report = asyncio.run(run_chaos(options))
    print(f"\nChaos run, seed {options.seed}; logs and data in {report.root}")
    print(report.render())
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
