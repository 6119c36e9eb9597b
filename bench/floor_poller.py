"""The least work of any poller that reads changed feeds with feedparser, as a process: a
conditional GET of every feed (the ETag from its last run) and feedparser only for the feeds
that answer 200. No deduplication, no rendering, no queue, no Redis.

    python bench/floor_poller.py URLS_FILE ETAGS_FILE

The bound of bench/process_bench.py: naive ÷ floor is the most any such design can gain over
the naive poller on the same farm, since it must still start, ask for every feed and parse the
changed ones. 100 requests at a time, like the bot's poller and the naive poller.
"""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import aiohttp
import feedparser

CONCURRENCY = 100


async def main(urls: list[str], etags: dict[str, str]) -> int:
    entries = 0
    queue = list(urls)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as s:
        async def worker() -> None:
            nonlocal entries
            while queue:
                url = queue.pop()
                headers = {"If-None-Match": etags[url]} if url in etags else {}
                async with s.get(url, headers=headers) as resp:
                    if resp.status == 304:
                        continue
                    body = await resp.read()
                    etags[url] = resp.headers.get("ETag", "")
                entries += len(feedparser.parse(body).entries)

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return entries


if __name__ == "__main__":
    urls_file, etags_file = Path(sys.argv[1]), Path(sys.argv[2])
    urls = [line.strip() for line in urls_file.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    etags = json.loads(etags_file.read_text()) if etags_file.exists() else {}
    found = asyncio.run(main(urls, etags))
    etags_file.write_text(json.dumps(etags))
    print(f"{found} entries")
