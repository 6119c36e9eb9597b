"""The usual RSS bot's poll, as a process: GET every feed (no validators) and feedparser.parse it.

    python bench/naive_poller.py URLS_FILE

The baseline of bench/process_bench.py: 100 requests at a time, like the bot's poller.
"""
from __future__ import annotations

import asyncio
import sys

import aiohttp
import feedparser

CONCURRENCY = 100


async def main(urls: list[str]) -> int:
    entries = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as s:
        async def worker() -> None:
            nonlocal entries
            while urls:
                async with s.get(urls.pop()) as resp:
                    body = await resp.read()
                entries += len(feedparser.parse(body).entries)

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return entries


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        found = asyncio.run(main([line.strip() for line in f if line.strip()]))
    print(f"{found} entries")
