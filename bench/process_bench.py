"""`main.py once` as a user runs it, against the naive poller, both as whole processes.

Run from the repository root:   python bench/process_bench.py  [--feeds 2000] [--runs 3]

A local farm (bench/feeds_farm.py, its own process) serves the feeds; an embedded Redis serves
the bot. Every run is a fresh process, timed from spawn to exit:

  1. warm-up: `main.py once` polls every feed for the first time (`first_run: none`: nothing
     posted, every item remembered; not measured);
  2. `main.py once` after 10% of the feeds published one new item (dry-run: each new article is
     rendered and written to the preview), `--runs` times with a new 10% each time; and once
     after 30% changed, to see that the preview output grows linearly with the posts;
     for each: wall time, time from spawn to the farm's first feed request, posts written;
  3. the naive poller (bench/naive_poller.py): a process that downloads every feed and parses
     it with feedparser, `--runs` times;
  4. the floor (bench/floor_poller.py): a process that makes a conditional GET of every feed
     and parses only the changed ones with feedparser, after 10% changed, `--runs` times: the
     least any poller that reads changed feeds with feedparser must do;
  5. start-up alone: `main.py once` with a config of one feed, spawn → its request.

It prints the best and median of each, the ratio naive ÷ `once` in the same run, and the most
any such design could reach (naive ÷ floor).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.feeds_farm import FarmProcess  # noqa: E402
from store.embedded import EmbeddedRedis  # noqa: E402

CHANNELS = 10


class Farm(FarmProcess):
    def reset(self) -> None:
        self.get("/_reset")

    def stats(self) -> dict[str, float]:
        return dict(json.loads(self.get("/_stats")))


def write_config(farm: Farm, path: Path, feeds: int | None = None) -> None:
    """The bot's config: the farm's first `feeds` feeds (all by default) into the channels."""
    lines = ["channels:"]
    chats = [str(-1001000000000 - c) for c in range(CHANNELS)]
    lines += [f'  - chat: "{chat}"' for chat in chats]
    lines.append("feeds:")
    for i in range(farm.feeds if feeds is None else feeds):
        lines += [f"  - url: {farm.url(i)}", f'    channels: ["{chats[i % CHANNELS]}"]',
                  "    first_run: none"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def timed(command: list[str], env: dict[str, str], farm: Farm) -> dict[str, float]:
    farm.reset()
    started = time.time()
    done = subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    wall = time.time() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command[1]} exited {done.returncode}:\n{done.stdout[-3000:]}")
    stats = farm.stats()
    first = stats["first_request_at"] - started if stats["first_request_at"] else float("nan")
    return {"wall": wall, "first_request": first, "requests": stats["200"] + stats["304"],
            "changed": stats["200"]}


def preview_lines(data_dir: Path) -> int:
    path = data_dir / "preview" / "posts.jsonl"
    return sum(1 for _ in path.open(encoding="utf-8")) if path.exists() else 0


def summary(runs: list[dict[str, float]], key: str) -> str:
    values = [r[key] for r in runs]
    return f"best {min(values):.3f} s, median {statistics.median(values):.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    print(f"process bench: {options.feeds:,} feeds, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} at start", flush=True)
    with tempfile.TemporaryDirectory(prefix="nashir-pbench-") as tmp:
        base = Path(tmp)
        redis_server = EmbeddedRedis(base / "redis")
        redis_server.start()
        farm = Farm(options.feeds, options.hosts)
        try:
            run(farm, redis_server.url, base, options.runs)
        finally:
            farm.close()
            redis_server.stop()


def run(farm: Farm, redis_url: str, base: Path, runs: int) -> None:
    config = base / "bot.yaml"
    write_config(farm, config)
    data = base / "data"
    env = {k: v for k, v in os.environ.items()
           if k not in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_API_URL", "BOT_LOG_FORMAT")}
    env.update({"BOT_CONFIG": str(config), "REDIS_URL": redis_url, "BOT_DATA_DIR": str(data),
                "BOT_HTTP_ADDR": "127.0.0.1:0"})
    once = [sys.executable, str(ROOT / "main.py"), "once"]
    urls = base / "urls.txt"
    urls.write_text("\n".join(farm.url(i) for i in range(farm.feeds)) + "\n")
    naive = [sys.executable, str(ROOT / "bench" / "naive_poller.py"), str(urls)]

    print("1. warm-up: first `once` over every feed (not measured) ...", flush=True)
    w = timed(once, env, farm)
    print(f"   {w['wall']:.2f} s, {int(w['requests']):,} requests", flush=True)

    print(f"2. `main.py once`, 10% of the feeds changed, {runs} runs:", flush=True)
    results = []
    for r in range(runs):
        farm.bump(r % 10)
        before = preview_lines(data)
        result = timed(once, env, farm)
        result["posts"] = preview_lines(data) - before
        results.append(result)
        print(f"   run {r + 1}: {result['wall']:.3f} s, first feed request after "
              f"{result['first_request']:.3f} s, {int(result['requests']):,} requests "
              f"({int(result['changed'])} changed), {int(result['posts'])} posts written",
              flush=True)
    for remainder in (7, 8, 9):
        farm.bump(remainder)
    before = preview_lines(data)
    wide = timed(once, env, farm)
    wide["posts"] = preview_lines(data) - before
    print(f"   30% changed: {wide['wall']:.3f} s, {int(wide['posts'])} posts written", flush=True)

    print(f"3. naive poller (GET + feedparser every feed, a process), {runs} runs:", flush=True)
    naives = []
    for r in range(runs):
        result = timed(naive, env, farm)
        naives.append(result)
        print(f"   run {r + 1}: {result['wall']:.3f} s, first feed request after "
              f"{result['first_request']:.3f} s", flush=True)

    etags = base / "etags.json"
    floor = [sys.executable, str(ROOT / "bench" / "floor_poller.py"), str(urls), str(etags)]
    print(f"4. floor (conditional GET every feed, feedparser the changed ones), {runs} runs:",
          flush=True)
    timed(floor, env, farm)   # learns every feed's ETag (not measured)
    floors = []
    for r in range(runs):
        farm.bump(r % 10)
        result = timed(floor, env, farm)
        floors.append(result)
        print(f"   run {r + 1}: {result['wall']:.3f} s, {int(result['changed'])} changed, first "
              f"feed request after {result['first_request']:.3f} s", flush=True)

    small = base / "one-feed.yaml"
    write_config(farm, small, feeds=1)
    small_env = dict(env, BOT_CONFIG=str(small), BOT_DATA_DIR=str(base / "data-one"))
    print(f"5. start-up: `main.py once` with one feed, {runs} runs:", flush=True)
    timed(once, small_env, farm)   # its first run sets up its state (not measured)
    starts = [timed(once, small_env, farm) for _ in range(runs)]
    for r, result in enumerate(starts):
        print(f"   run {r + 1}: first feed request after {result['first_request']:.3f} s, "
              f"{result['wall']:.3f} s in all", flush=True)

    best_once = min(r["wall"] for r in results)
    best_naive = min(r["wall"] for r in naives)
    best_floor = min(r["wall"] for r in floors)
    per_post = (wide["wall"] - statistics.median(r["wall"] for r in results)) / max(
        1, wide["posts"] - statistics.median(r["posts"] for r in results))
    print()
    print(f"`once` (10% changed):     {summary(results, 'wall')}")
    print(f"  spawn → first request:  {summary(results, 'first_request')}")
    print(f"  one feed, spawn → request: {summary(starts, 'first_request')}")
    print(f"  each post beyond 10%:   {per_post * 1000:.2f} ms (30% changed: {wide['wall']:.3f} s)")
    print(f"naive poller:             {summary(naives, 'wall')}")
    print(f"floor:                    {summary(floors, 'wall')}")
    print(f"naive ÷ once (best):      {best_naive / best_once:.1f}×")
    print(f"naive ÷ floor (best):     {best_naive / best_floor:.1f}× (the most any poller that "
          "parses changed feeds with feedparser could reach)")
    print(f"once ÷ floor (best):      {best_once / best_floor:.1f}× (the bot's own cost over "
          "the floor)")
    print(f"load average at the end:  {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
