"""A local farm of generated feeds for bench/feeds_bench.py, run as its own process so its CPU is
not counted as the poller's.

    python bench/feeds_farm.py --feeds 10000 --hosts 32

Feed i lives at http://127.0.1.<h>:<port>/f/<i>.xml (h = i mod hosts; every host a loopback
address of its own, so per-host limits behave as they do against many real sites). It lists its
ten newest items, newest first, with an ETag and Last-Modified, and answers 304 to a matching
conditional GET. `GET /_bump/<r>` publishes one new item in every feed with i mod 10 == r (10%
of the farm); `GET /_stats` answers the request counts and the wall-clock time of
the first feed request since `GET /_reset`. The process prints one line
`READY <json of host -> port>` once it listens, and runs until stdin closes.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

from aiohttp import web

ITEMS = 10
BASE = datetime(2025, 9, 1, tzinfo=UTC)
_TOPICS = ("المشهد الإقليمي", "الاقتصاد السوري", "أسعار الطاقة", "الانتخابات المحلية",
           "السياسة النقدية", "التحولات الاجتماعية", "العلاقات الخارجية", "سوق العمل")


def item_xml(i: int, k: int) -> str:
    """Item k of feed i (RSS 2.0), about 600 bytes of Arabic."""
    topic = _TOPICS[(i + k) % len(_TOPICS)]
    title = f"قراءة رقم {k} في {topic}: ماذا تغيّر في الملف {i} خلال الأسبوع؟"
    summary = (f"<p>يتناول هذا التحليل {topic} من زوايا متعددة، ويعرض المؤشرات الأساسية "
               f"التي تغيّرت منذ التقرير السابق رقم {k - 1}، مع قراءة في أرقام عام 2025 "
               "وما تعنيه للمرحلة المقبلة.</p>")
    when = format_datetime(BASE + timedelta(hours=k, minutes=i % 60), usegmt=True)
    return (f"<item><title>{escape(title)}</title>"
            f"<link>https://site{i % 97}.example.org/analysis/{i}/{k}</link>"
            f'<guid isPermaLink="false">farm-{i}-{k}</guid><pubDate>{when}</pubDate>'
            f"<category>{escape(topic)}</category>"
            f"<description>{escape(summary)}</description></item>")


def feed_xml(i: int, version: int) -> bytes:
    items = "".join(item_xml(i, k) for k in range(version, version - ITEMS, -1))
    return ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>موقع التحليل {i}</title><link>https://site{i % 97}.example.org/</link>"
            f"<description>تحليلات</description>{items}</channel></rss>\n").encode()


class Farm:
    def __init__(self, feeds: int) -> None:
        self.versions = [ITEMS] * feeds
        self.cache: dict[int, tuple[int, bytes, str, str]] = {}
        self.counts = {"200": 0, "304": 0, "404": 0}
        self.first_request_at = 0.0   # wall clock of the first feed request since /_reset

    def bump(self, remainder: int) -> int:
        changed = 0
        for i in range(remainder % 10, len(self.versions), 10):
            self.versions[i] += 1
            changed += 1
        return changed

    def entry(self, i: int) -> tuple[int, bytes, str, str]:
        version = self.versions[i]
        cached = self.cache.get(i)
        if cached is None or cached[0] != version:
            body = feed_xml(i, version)
            modified = format_datetime(BASE + timedelta(minutes=version), usegmt=True)
            cached = self.cache[i] = (version, body, f'"{i}.{version}"', modified)
        return cached

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        if path.startswith("/f/") and path.endswith(".xml"):
            if not self.first_request_at:
                self.first_request_at = time.time()
            try:
                i = int(path[3:-4])
                _, body, etag, modified = self.entry(i)
            except (ValueError, IndexError):
                self.counts["404"] += 1
                return web.Response(status=404)
            headers = {"ETag": etag, "Last-Modified": modified}
            if request.headers.get("If-None-Match") == etag:
                self.counts["304"] += 1
                return web.Response(status=304, headers=headers)
            self.counts["200"] += 1
            headers["Content-Type"] = "application/rss+xml; charset=utf-8"
            return web.Response(body=body, headers=headers)
        if path.startswith("/_bump/"):
            return web.Response(text=str(self.bump(int(path[7:]))))
        if path == "/_stats":
            return web.json_response({**self.counts, "first_request_at": self.first_request_at})
        if path == "/_reset":
            self.counts = dict.fromkeys(self.counts, 0)
            self.first_request_at = 0.0
            return web.Response(text="ok")
        self.counts["404"] += 1
        return web.Response(status=404)


class FarmProcess:
    """The farm as a child process, for the benches: start it, name its feeds, drive it."""

    def __init__(self, feeds: int, hosts: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--feeds", str(feeds), "--hosts", str(hosts)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError(f"the farm did not start: {line!r}")
        self.ports: dict[str, int] = json.loads(line.split(" ", 1)[1])
        self.hosts = list(self.ports)
        self.feeds = feeds

    def url(self, i: int) -> str:
        host = self.hosts[i % len(self.hosts)]
        return f"http://{host}:{self.ports[host]}/f/{i}.xml"

    def get(self, path: str) -> bytes:
        """GET one of the farm's control paths (/_bump/<r>, /_reset, /_stats)."""
        with urllib.request.urlopen(self.url(0).split("/f/")[0] + path, timeout=30) as resp:
            return bytes(resp.read())

    def bump(self, remainder: int) -> None:
        """Publish one new item in every feed i with i mod 10 == remainder."""
        self.get(f"/_bump/{remainder}")

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)


async def serve(feeds: int, hosts: int) -> None:
    farm = Farm(feeds)
    server = web.Server(farm.handle, access_log=None)
    loop = asyncio.get_running_loop()
    ports: dict[str, int] = {}
    servers = []
    for h in range(hosts):
        host = f"127.0.1.{h + 1}"
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        ports[host] = sock.getsockname()[1]
        servers.append(await loop.create_server(server, sock=sock, backlog=4096))
    print("READY " + json.dumps(ports), flush=True)
    # Run until the parent closes our stdin (or dies).
    await loop.run_in_executor(None, sys.stdin.read)
    for srv in servers:
        srv.close()
    await server.shutdown(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--hosts", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(serve(args.feeds, args.hosts))


if __name__ == "__main__":
    main()
