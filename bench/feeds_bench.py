"""Polling 10,000 feeds in one cycle: the real Poller against a local farm, with a real Redis.

Run from the repository root:   python bench/feeds_bench.py  [--feeds 10000]

What runs where: the farm (bench/feeds_farm.py, one aiohttp server process on 32 loopback
addresses) and an embedded Redis each run in their own process, so the CPU times printed for
the poller are the poller's own (its process and its feed parsing processes). Every farm feed
lists its ten newest items (about 7 KB of Arabic) with ETag and Last-Modified; a "bump"
publishes one new item in 10% of the feeds.

The poller runs with the collector settings of `main.py run` (ops/heap.py) and
`parse_workers` = CPUs - 1 (feedparser holds the GIL; parsing in a process uses another core);
`main.py run` uses one parse process on a machine with more than one core, the same on this
2-core machine.

Steps, all printed in one run:
  1. warm-up: the first poll of every feed (parses everything, remembers every item; not
     measured, and parsed on every core to keep the bench short);
  2. cycle U (every feed due, none changed: 10,000 x 304) and the limit, a bare aiohttp loop
     of conditional GETs over the same farm, taking turns twice (the best of each counts);
     then the poller's own part: a cycle whose fetches answer 304 without any HTTP;
  3. cycle M, twice: every feed due, 10% with one new item each (parsed, rendered for its
     channel and queued): wall time of the cycle, CPU time per changed feed;
  4. peak RSS, Redis bytes per remembered item (MEMORY USAGE over every feed's seen set and
     content hashes, divided by the items remembered);
  5. the usual bot: download and feedparser.parse every feed every time, in its event loop
     (on a sample of the farm, extrapolated to all of it).
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

# Run as a script: make the checkout importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import feedparser
import redis.asyncio as aioredis

from bench.feeds_farm import FarmProcess
from config.schema import parse_config
from feeds.fetcher import Fetcher, FetchLimits, make_session
from model.article import FetchResult, feed_id_for
from ops.heap import settle_heap
from pipeline.poller import Poller
from store import keys
from store.embedded import EmbeddedRedis
from store.redis_store import Store, connect

CHANNELS = 10
CONCURRENCY = 100
PARSE_WORKERS = max(1, (os.cpu_count() or 2) - 1)
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of another process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def children_cpu() -> float:
    """CPU seconds of this process's multiprocessing children (the parse workers)."""
    return sum(cpu_of(p.pid) for p in multiprocessing.active_children() if p.pid)


def children_peak_rss_mb() -> float:
    total = 0
    for child in multiprocessing.active_children():
        status = Path(f"/proc/{child.pid}/status").read_text()
        total += next(int(line.split()[1]) for line in status.splitlines()
                      if line.startswith("VmHWM:"))
    return total / 1024


class Offset:
    """The poller's clock, moved forward a day per cycle so every feed is due again."""

    def __init__(self) -> None:
        self.days = 0

    def __call__(self) -> float:
        return time.time() + self.days * 86_400


class GcClock:
    """CPU seconds spent in the garbage collector (gc callbacks)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.process_time()
        else:
            self.seconds += time.process_time() - self._start


GC = GcClock()


class EchoFetcher:
    """Answers every poll with 304 at once, echoing the validators: what is left is the
    poller's own work (claims, schedule, batched state writes)."""

    async def fetch(self, url: str, *, etag: str | None = None,
                    last_modified: str | None = None, **_: object) -> FetchResult:
        return FetchResult(url=url, status=304, body=None, etag=etag,
                           last_modified=last_modified)


async def cycle(poller: Poller, redis_pid: int, farm_pid: int) -> dict[str, float]:
    """Run one full cycle (every feed is due) and measure it."""
    wall, cpu, parse_cpu = time.perf_counter(), time.process_time(), children_cpu()
    redis_cpu, farm_cpu, gc_cpu = cpu_of(redis_pid), cpu_of(farm_pid), GC.seconds
    outcomes = await poller.poll_due(lease_s=600)
    result = {
        "wall": time.perf_counter() - wall,
        "parse_cpu": children_cpu() - parse_cpu,
        "redis_cpu": cpu_of(redis_pid) - redis_cpu, "farm_cpu": cpu_of(farm_pid) - farm_cpu,
        "gc": GC.seconds - gc_cpu,
        "polled": len(outcomes),
        "unchanged": sum(o.status == "unchanged" for o in outcomes),
        "new": sum(o.status == "new" for o in outcomes),
        "errors": sum(o.status == "error" for o in outcomes),
        "queued": sum(o.queued for o in outcomes),
        "partial": sum(o.parsed == "partial" for o in outcomes),
        "full": sum(o.parsed == "full" for o in outcomes),
    }
    result["cpu"] = time.process_time() - cpu + result["parse_cpu"]
    if result["errors"]:
        sample = next(o.error for o in outcomes if o.status == "error")
        print(f"   ! {result['errors']} errors, e.g. {sample}")
    return result


async def redis_memory(redis: aioredis.Redis, feeds: list[str]) -> dict[str, float]:
    """Bytes Redis spends on what the poller remembers, per remembered item."""
    seen_bytes = content_bytes = identities = articles = 0
    ids = [feed_id_for(url) for url in feeds]
    for start in range(0, len(ids), 500):
        async with redis.pipeline(transaction=False) as pipe:
            for feed_id in ids[start:start + 500]:
                pipe.memory_usage(keys.feed_seen(feed_id), samples=0)
                pipe.memory_usage(keys.feed_content(feed_id), samples=0)
                pipe.zcard(keys.feed_seen(feed_id))
                pipe.hlen(keys.feed_content(feed_id))
            answers = await pipe.execute()
        for i in range(0, len(answers), 4):
            seen_bytes += answers[i] or 0
            content_bytes += answers[i + 1] or 0
            identities += answers[i + 2]
            articles += answers[i + 3]
    posted_bytes = posted_ids = 0
    for c in range(CHANNELS):
        chat = str(-1001000000000 - c)
        posted_bytes += await redis.memory_usage(keys.chat_posted(chat), samples=0) or 0
        posted_ids += await redis.zcard(keys.chat_posted(chat))
    return {"articles": articles, "identities": identities,
            "per_article": (seen_bytes + content_bytes) / max(1, articles),
            "seen_per_identity": seen_bytes / max(1, identities),
            "posted_per_article": posted_bytes / max(1, posted_ids / 2),
            "used_memory": float((await redis.info("memory"))["used_memory"])}


async def raw_http(farm: FarmProcess, etags: dict[int, str]) -> dict[str, float]:
    """The limit: a bare aiohttp loop of conditional GETs (all answered 304). When `etags` is
    empty, an unmeasured first pass learns them."""
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    statuses: dict[int, int] = {}
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one(i: int) -> None:
            headers = {"If-None-Match": etags[i]} if i in etags else {}
            async with session.get(farm.url(i), headers=headers) as resp:
                await resp.read()
                statuses[resp.status] = statuses.get(resp.status, 0) + 1
                etags[i] = resp.headers.get("ETag", "")

        async def worker(queue: list[int]) -> None:
            while queue:
                await one(queue.pop())

        for _ in range(1 if etags else 2):
            queue = list(range(farm.feeds))
            statuses.clear()
            wall, cpu = time.perf_counter(), time.process_time()
            farm_cpu = cpu_of(farm.process.pid)
            await asyncio.gather(*(worker(queue) for _ in range(CONCURRENCY)))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"rate": farm.feeds / wall, "cpu_per": cpu / farm.feeds, "wall": wall,
            "farm_cpu_per": (cpu_of(farm.process.pid) - farm_cpu) / farm.feeds,
            "not_modified": statuses.get(304, 0)}


async def naive(farm: FarmProcess, sample: int) -> dict[str, float]:
    """The usual bot: GET every feed (no validators) and feedparser.parse it, in the loop."""
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    entries = 0
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker(queue: list[int]) -> None:
            nonlocal entries
            while queue:
                async with session.get(farm.url(queue.pop())) as resp:
                    body = await resp.read()
                entries += len(feedparser.parse(body).entries)

        queue = list(range(0, farm.feeds, max(1, farm.feeds // sample)))[:sample]
        count = len(queue)
        wall, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(queue) for _ in range(CONCURRENCY)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"rate": count / wall, "cpu_per": cpu / count, "entries": entries / count}


async def main(feeds: int, hosts: int, naive_sample: int) -> None:
    started = time.perf_counter()
    print(f"feeds bench: {feeds:,} feeds on {hosts} loopback hosts, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory(prefix="nashir-bench-") as tmp:
        redis_server = EmbeddedRedis(Path(tmp))
        redis_server.start()
        farm = FarmProcess(feeds, hosts)
        try:
            await run(farm, redis_server, naive_sample)
        finally:
            farm.close()
            redis_server.stop()
    print(f"total bench time {time.perf_counter() - started:.0f} s, load average "
          f"{os.getloadavg()[0]:.1f} at the end")


async def run(farm: FarmProcess, redis_server: EmbeddedRedis, naive_sample: int) -> None:
    chats = [str(-1001000000000 - c) for c in range(CHANNELS)]
    urls = [farm.url(i) for i in range(farm.feeds)]
    config = parse_config({
        "channels": [{"chat": chat} for chat in chats],
        "feeds": [{"url": url, "channels": [chats[i % CHANNELS]]} for i, url in enumerate(urls)],
    })
    redis = await connect(redis_server.url)
    assert redis_server.pid is not None
    redis_pid, farm_pid = redis_server.pid, farm.process.pid
    limits = FetchLimits()
    clock = Offset()
    async with make_session(limits) as session:
        store = Store(redis)
        fetcher = Fetcher(session, limits)

        def poller(**options: object) -> Poller:
            return Poller(config, store, options.pop("fetcher", fetcher),  # type: ignore[arg-type]
                          worker_id="bench", clock=clock, concurrency=CONCURRENCY,
                          **options)  # type: ignore[arg-type]

        # As `main.py run` does once everything is loaded (ops/heap.py): the config's objects
        # (10,000 feeds) live as long as the process, so the collector need not walk them.
        settle_heap()

        warm = poller(parse_workers=os.cpu_count() or 2)
        await warm.sync_schedule()
        print("1. warm-up (first poll of every feed; not measured) ...", flush=True)
        w = await cycle(warm, redis_pid, farm_pid)
        await warm.close()
        print(f"   {w['polled']:,} feeds in {w['wall']:.1f} s, {w['queued']:,} posts queued "
              f"(first run: newest item only)")

        measured = poller(parse_workers=PARSE_WORKERS)
        # Cycle U and the raw loop take turns, twice each; the best of each counts (the
        # machine may be shared: the better run is the one less disturbed).
        u_runs, raw_runs = [], []
        etags: dict[int, str] = {}
        for _ in range(2):
            clock.days += 1
            u_runs.append(await cycle(measured, redis_pid, farm_pid))
            raw_runs.append(await raw_http(farm, etags))
        per_unchanged = min(r["cpu"] / r["polled"] for r in u_runs)
        unchanged_rate = max(r["polled"] / r["wall"] for r in u_runs)
        raw = max(raw_runs, key=lambda r: r["rate"])
        for n, r in enumerate(u_runs, 1):
            print(f"2. cycle U{n}, nothing changed: {r['polled']:,} feeds ({r['unchanged']:,} "
                  f"unchanged) in {r['wall']:.2f} s = {r['polled'] / r['wall']:,.0f} feeds/s; "
                  f"poller CPU {r['cpu'] / r['polled'] * 1e6:.0f} us/feed (garbage collector "
                  f"{r['gc'] / r['polled'] * 1e6:.0f}); Redis CPU "
                  f"{r['redis_cpu'] / r['polled'] * 1e6:.0f} us/feed; farm CPU "
                  f"{r['farm_cpu'] / r['polled'] * 1e6:.0f} us/feed")
        for n, r in enumerate(raw_runs, 1):
            print(f"   raw HTTP {n} (bare aiohttp, conditional GETs, same farm): "
                  f"{r['rate']:,.0f} req/s ({r['not_modified']:,} x 304), client CPU "
                  f"{r['cpu_per'] * 1e6:.0f} us/req, farm CPU "
                  f"{r['farm_cpu_per'] * 1e6:.0f} us/req")
        clock.days += 1
        e = await cycle(poller(fetcher=EchoFetcher()), redis_pid, farm_pid)
        print(f"   the poller's own part (every feed answered 304 without HTTP): "
              f"{e['cpu'] / e['polled'] * 1e6:.0f} us/feed, {e['polled'] / e['wall']:,.0f} "
              f"feeds/s")

        m_runs = []
        for bump in (1, 2):
            await asyncio.to_thread(farm.bump, bump)
            clock.days += 1
            m = await cycle(measured, redis_pid, farm_pid)
            changed = m["new"]
            m["per_changed"] = (m["cpu"] - (m["polled"] - changed) * per_unchanged) / max(
                1, changed)
            m_runs.append(m)
            print(f"3. cycle M{bump}, 10% changed: {m['polled']:,} feeds in {m['wall']:.2f} s "
                  f"(CPU {m['cpu']:.2f} s, of which parse processes {m['parse_cpu']:.2f} s and "
                  f"garbage collector {m['gc']:.2f} s); {changed:,} with a new item "
                  f"({m['partial']:,} parsed in part, {m['full']:,} whole), {m['queued']:,} "
                  f"posts queued; CPU per changed feed {m['per_changed'] * 1e3:.2f} ms")
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        parse_rss_mb = children_peak_rss_mb()
        await measured.close()
        memory = await redis_memory(redis, urls)
        print(f"4. peak RSS: {rss_mb:.0f} MB for the poller process, {parse_rss_mb:.0f} MB for "
              f"its {PARSE_WORKERS} parse process(es)")
        print(f"   Redis: {memory['per_article']:.0f} bytes per remembered item "
              f"({memory['articles']:,.0f} items: seen set and content hash; "
              f"{memory['seen_per_identity']:.0f} bytes per identity key), "
              f"{memory['posted_per_article']:.0f} bytes per posted item in the per-chat "
              f"dedup sets; Redis used_memory {memory['used_memory'] / 2**20:.0f} MB")

        nv = await naive(farm, naive_sample)
        print(f"5. naive poller (GET + feedparser every feed, {naive_sample:,} sampled): "
              f"{nv['rate']:,.0f} feeds/s, CPU {nv['cpu_per'] * 1e3:.2f} ms/feed "
              f"-> {farm.feeds / nv['rate']:.1f} s per cycle of {farm.feeds:,}")
    await redis.aclose()

    best = min(m_runs, key=lambda m: m["wall"])
    runs = ", ".join(f"{m['wall']:.2f}" for m in m_runs)
    print("\nsummary")
    print(f"  cycle of {farm.feeds:,} feeds, 10% changed: {best['wall']:.2f} s wall "
          f"(aim < 10 s; runs: {runs})")
    print(f"  CPU per unchanged feed {per_unchanged * 1e6:.0f} us, per changed feed "
          f"{best['per_changed'] * 1e3:.2f} ms")
    print(f"  unchanged feeds: {unchanged_rate:,.0f}/s = {unchanged_rate / raw['rate']:.2f} x "
          f"the raw HTTP rate (aim >= 0.5); CPU {per_unchanged / raw['cpu_per']:.2f} x the "
          f"bare client's")
    print(f"  versus the naive poller: {farm.feeds / nv['rate'] / best['wall']:.1f} x faster "
          f"per cycle (aim >= 10)")
    print(f"  peak RSS {rss_mb:.0f} MB + {parse_rss_mb:.0f} MB parse processes (aim < 300); "
          f"{memory['per_article']:.0f} bytes per remembered item (aim < 100)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--hosts", type=int, default=32)
    parser.add_argument("--naive-sample", type=int, default=1000)
    options = parser.parse_args()
    asyncio.run(main(options.feeds, options.hosts, options.naive_sample))
