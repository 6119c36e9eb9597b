"""A programmable feed server for tests: real HTTP on 127.0.0.1, nothing patched.

    async with FeedServer() as srv:
        srv.add_feed("/feed.xml", title="مدونة", items=[FeedItem(guid="1", title="أول")])
        url = srv.url("/feed.xml")
        ...
        srv.add_item("/feed.xml", FeedItem(guid="2", title="ثاني"))   # newest first

It serves generated RSS/Atom feeds (any encoding, declared or not) with ETag/Last-Modified and
304s, raw responses, redirects, slow trickles, endless and gzip bodies, delays, dropped
connections, and records every request. Self-contained (aiohttp only, no project imports): the
end-to-end tests run the bot as a separate process against it.
"""
from __future__ import annotations

import asyncio
import contextlib
import gzip as gzip_module
import hashlib
import socket
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["FeedItem", "FeedServer", "RecordedRequest", "render_feed"]

FeedKind = Literal["rss", "atom"]


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One item of a generated feed. Empty strings and None leave the element out."""

    guid: str | None = None
    title: str = ""
    link: str = ""
    published: datetime | None = None
    summary_html: str = ""
    content_html: str = ""
    author: str = ""
    categories: Sequence[str] = ()
    image: str | None = None


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request the server received."""

    method: str
    path: str           # path and query, as sent
    headers: CIMultiDictProxy[str]
    at: float           # loop time when it arrived


# --------------------------------------------------------------------------------------------
# feed documents


def _rss_item(item: FeedItem) -> str:
    parts = ["<item>"]
    if item.title:
        parts.append(f"<title>{escape(item.title)}</title>")
    if item.link:
        parts.append(f"<link>{escape(item.link)}</link>")
    if item.guid is not None:
        parts.append(f'<guid isPermaLink="false">{escape(item.guid)}</guid>')
    if item.published is not None:
        parts.append(f"<pubDate>{format_datetime(item.published.astimezone(UTC), usegmt=True)}"
                     "</pubDate>")
    if item.author:
        parts.append(f"<dc:creator>{escape(item.author)}</dc:creator>")
    parts.extend(f"<category>{escape(c)}</category>" for c in item.categories)
    if item.summary_html:
        parts.append(f"<description>{escape(item.summary_html)}</description>")
    if item.content_html:
        parts.append(f"<content:encoded>{escape(item.content_html)}</content:encoded>")
    if item.image:
        parts.append(f'<media:content url={quoteattr(item.image)} medium="image"/>')
    parts.append("</item>")
    return "".join(parts)


def _atom_entry(item: FeedItem, updated: datetime) -> str:
    parts = ["<entry>"]
    parts.append(f"<title type=\"text\">{escape(item.title)}</title>")
    if item.link:
        parts.append(f'<link rel="alternate" href={quoteattr(item.link)}/>')
    if item.guid is not None:
        parts.append(f"<id>{escape(item.guid)}</id>")
    stamp = (item.published or updated).astimezone(UTC).isoformat().replace("+00:00", "Z")
    if item.published is not None:
        parts.append(f"<published>{stamp}</published>")
    parts.append(f"<updated>{stamp}</updated>")
    if item.author:
        parts.append(f"<author><name>{escape(item.author)}</name></author>")
    parts.extend(f"<category term={quoteattr(c)}/>" for c in item.categories)
    if item.summary_html:
        parts.append(f'<summary type="html">{escape(item.summary_html)}</summary>')
    if item.content_html:
        parts.append(f'<content type="html">{escape(item.content_html)}</content>')
    if item.image:
        parts.append(f'<link rel="enclosure" type="image/jpeg" href={quoteattr(item.image)}/>')
    parts.append("</entry>")
    return "".join(parts)


def render_feed(
    *,
    title: str,
    items: Iterable[FeedItem],
    kind: FeedKind = "rss",
    link: str = "https://example.org/",
    encoding: str = "utf-8",
    declare_encoding: bool = True,
    ttl_minutes: int | None = None,
    updated: datetime | None = None,
) -> bytes:
    """The bytes of an RSS 2.0 or Atom document with `items` in the given order.

    With declare_encoding=False the XML declaration names no encoding (the caller should also
    leave the charset out of Content-Type), which is how many small Arabic sites publish.
    """
    updated = updated or datetime(2025, 1, 1, tzinfo=UTC)
    decl = (f'<?xml version="1.0" encoding="{encoding}"?>\n' if declare_encoding
            else '<?xml version="1.0"?>\n')
    if kind == "rss":
        ttl = f"<ttl>{ttl_minutes}</ttl>" if ttl_minutes is not None else ""
        body = (
            '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xmlns:media="http://search.yahoo.com/mrss/">'
            f"<channel><title>{escape(title)}</title><link>{escape(link)}</link>"
            f"<description>{escape(title)}</description>{ttl}"
            + "".join(_rss_item(i) for i in items)
            + "</channel></rss>\n"
        )
    else:
        stamp = updated.astimezone(UTC).isoformat().replace("+00:00", "Z")
        body = (
            '<feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>{escape(title)}</title><link rel=\"alternate\" href={quoteattr(link)}/>"
            f"<id>{escape(link)}</id><updated>{stamp}</updated>"
            + "".join(_atom_entry(i, updated) for i in items)
            + "</feed>\n"
        )
    # Characters the encoding lacks become character references, as real CMSs do.
    return (decl + body).encode(encoding, errors="xmlcharrefreplace")


# --------------------------------------------------------------------------------------------
# routes


@dataclass(slots=True)
class _Feed:
    title: str
    items: list[FeedItem]
    kind: FeedKind
    link: str
    encoding: str
    declare_encoding: bool
    honour_conditional: bool
    send_validators: bool
    gzip: bool
    ttl_minutes: int | None
    content_type: str | None
    version: int = 0
    # A fake clock that moves one minute per change, so Last-Modified always changes even when
    # two items are added within the same second.
    modified: datetime = field(default_factory=lambda: datetime(2025, 1, 1, tzinfo=UTC))


@dataclass(frozen=True, slots=True)
class _Raw:
    status: int
    body: bytes
    headers: Mapping[str, str]
    gzip: bool


@dataclass(frozen=True, slots=True)
class _Redirect:
    to: str
    status: int


@dataclass(frozen=True, slots=True)
class _Trickle:
    chunk: bytes
    interval: float
    total: int | None       # None: endless
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class _Drop:
    pass


_Route = _Feed | _Raw | _Redirect | _Trickle | _Drop


class FeedServer:
    """An aiohttp server on 127.0.0.1 with programmable feeds; use `async with FeedServer()`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.host = host
        self._port = port
        self._ssl = ssl_context  # serve https (e.g. with a trustme certificate)
        self._routes: dict[str, _Route] = {}
        self._delays: dict[str, float] = {}
        self._stashed: dict[str, _Feed] = {}
        self.requests: list[RecordedRequest] = []
        # (+1 | -1, route key) in the order requests start and finish: concurrency is computed
        # from it for any path prefix.
        self._events: list[tuple[int, str]] = []
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # Short shutdown: endless and trickling handlers watch `_closing` and end at once.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        self._port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock, ssl_context=self._ssl)
        await site.start()

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FeedServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # addresses and observation -----------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def root(self) -> str:
        scheme = "https" if self._ssl is not None else "http"
        return f"{scheme}://{self.host}:{self._port}"

    def url(self, path: str) -> str:
        """The absolute URL of `path` on this server."""
        return self.root + (path if path.startswith("/") else "/" + path)

    def hits(self, path: str) -> int:
        """How many requests asked for `path` (query included if `path` has one)."""
        return sum(1 for r in self.requests if r.path == path or r.path.split("?", 1)[0] == path)

    def requests_for(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path or r.path.split("?", 1)[0] == path]

    def max_concurrent(self, path_prefix: str = "/") -> int:
        """The most requests under `path_prefix` that were being answered at the same time."""
        current = peak = 0
        for delta, key in self._events:
            if key.startswith(path_prefix):
                current += delta
                peak = max(peak, current)
        return peak

    def in_flight(self, path_prefix: str = "/") -> int:
        """How many requests under `path_prefix` are being answered now."""
        return sum(delta for delta, key in self._events if key.startswith(path_prefix))

    async def wait_for_hits(self, path: str, count: int, within: float = 5.0) -> None:
        """Wait (with a deadline) until `path` has been requested `count` times."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self.hits(path) < count:
            if loop.time() > deadline:
                raise TimeoutError(f"{path}: {self.hits(path)} hits, wanted {count}")
            await asyncio.sleep(0.005)

    # programming -------------------------------------------------------------------------

    def add_feed(
        self,
        path: str,
        *,
        title: str = "Test feed",
        items: Iterable[FeedItem] = (),
        kind: FeedKind = "rss",
        link: str = "https://example.org/",
        encoding: str = "utf-8",
        declare_encoding: bool = True,
        honour_conditional: bool = True,
        send_validators: bool = True,
        gzip: bool = False,
        ttl_minutes: int | None = None,
        content_type: str | None = None,
    ) -> None:
        """Serve a generated feed at `path`; `items` newest first, as real feeds list them."""
        self._routes[path] = _Feed(
            title=title, items=list(items), kind=kind, link=link, encoding=encoding,
            declare_encoding=declare_encoding, honour_conditional=honour_conditional,
            send_validators=send_validators, gzip=gzip, ttl_minutes=ttl_minutes,
            content_type=content_type)

    def add_item(self, path: str, item: FeedItem) -> None:
        """Publish a new item at the top of the feed at `path`."""
        feed = self._feed(path)
        feed.items.insert(0, item)
        self._touch(feed)

    def remove_item(self, path: str, guid: str) -> None:
        """Unpublish the item with `guid`."""
        feed = self._feed(path)
        feed.items = [i for i in feed.items if i.guid != guid]
        self._touch(feed)

    def set_items(self, path: str, items: Iterable[FeedItem]) -> None:
        """Replace every item of the feed at `path`."""
        feed = self._feed(path)
        feed.items = list(items)
        self._touch(feed)

    def configure_feed(self, path: str, *, honour_conditional: bool | None = None,
                       send_validators: bool | None = None, gzip: bool | None = None) -> None:
        """Switch conditional-GET behaviour or gzip of an existing feed."""
        feed = self._feed(path)
        if honour_conditional is not None:
            feed.honour_conditional = honour_conditional
        if send_validators is not None:
            feed.send_validators = send_validators
        if gzip is not None:
            feed.gzip = gzip

    def feed_body(self, path: str) -> bytes:
        """The bytes the feed at `path` currently serves."""
        return self._render(self._feed(path))

    def set_response(self, path: str, *, status: int = 200, body: bytes | str = b"",
                     headers: Mapping[str, str] | None = None, gzip: bool = False) -> None:
        """Answer `path` with exactly this status, body and headers."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        self._routes[path] = _Raw(status=status, body=data, headers=dict(headers or {}),
                                  gzip=gzip)

    def redirect(self, path: str, to: str, status: int = 301) -> None:
        """Redirect `path` to `to` (a path on this server or an absolute URL)."""
        self._routes[path] = _Redirect(to=to, status=status)

    def trickle(self, path: str, chunk: bytes, interval: float, total: int,
                headers: Mapping[str, str] | None = None) -> None:
        """Send `chunk` every `interval` seconds until `total` bytes went out."""
        self._routes[path] = _Trickle(chunk=chunk, interval=interval, total=total,
                                      headers=dict(headers or {}))

    def endless(self, path: str, chunk: bytes = b"<item>" + b"x" * 65_530,
                interval: float = 0.0, headers: Mapping[str, str] | None = None) -> None:
        """Stream `chunk` forever (until the client goes away or the server closes)."""
        self._routes[path] = _Trickle(chunk=chunk, interval=interval, total=None,
                                      headers=dict(headers or {}))

    def drop(self, path: str) -> None:
        """Close the connection without answering."""
        self._routes[path] = _Drop()

    def delay(self, path: str, seconds: float) -> None:
        """Wait `seconds` before answering `path` (whatever it serves)."""
        self._delays[path] = seconds

    def remove(self, path: str) -> None:
        """Forget `path`: it answers 404 again."""
        self._routes.pop(path, None)
        self._delays.pop(path, None)

    def stash_feed(self, path: str) -> None:
        """Set the feed at `path` aside so another answer can be programmed there for a while;
        add_item still publishes to it, and restore_feed serves it again."""
        self._stashed[path] = self._feed(path)

    def restore_feed(self, path: str) -> None:
        """Serve the stashed feed at `path` again, with what was published meanwhile (and a
        new Last-Modified, so a conditional GET sees the change)."""
        feed = self._stashed.pop(path)
        self._routes[path] = feed
        self._delays.pop(path, None)
        self._touch(feed)

    # internals ---------------------------------------------------------------------------

    def _feed(self, path: str) -> _Feed:
        route = self._routes.get(path)
        if not isinstance(route, _Feed):
            route = self._stashed.get(path)
        if not isinstance(route, _Feed):
            raise KeyError(f"no feed at {path}")
        return route

    @staticmethod
    def _touch(feed: _Feed) -> None:
        feed.version += 1
        feed.modified += timedelta(minutes=1)

    @staticmethod
    def _render(feed: _Feed) -> bytes:
        return render_feed(title=feed.title, items=feed.items, kind=feed.kind, link=feed.link,
                           encoding=feed.encoding, declare_encoding=feed.declare_encoding,
                           ttl_minutes=feed.ttl_minutes, updated=feed.modified)

    def _lookup(self, request: web.Request) -> tuple[str, _Route | None]:
        for key in (request.path_qs, request.path):
            if key in self._routes:
                return key, self._routes[key]
        return request.path, None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        self.requests.append(RecordedRequest(
            method=request.method, path=request.path_qs,
            headers=CIMultiDictProxy(CIMultiDict(request.headers)), at=loop.time()))
        key, route = self._lookup(request)
        self._events.append((1, key))
        try:
            if delay := self._delays.get(key):
                await self._sleep(delay)
            return await self._answer(request, route)
        finally:
            self._events.append((-1, key))

    async def _sleep(self, seconds: float) -> None:
        # Sleep, but wake up when the server closes so shutdown is never held up.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    async def _answer(self, request: web.Request, route: _Route | None) -> web.StreamResponse:
        if route is None:
            return web.Response(status=404, text="not found")
        if isinstance(route, _Feed):
            return self._answer_feed(request, route)
        if isinstance(route, _Raw):
            headers = CIMultiDict(route.headers)
            body = route.body
            if route.gzip:
                body = gzip_module.compress(body)
                headers["Content-Encoding"] = "gzip"
            return web.Response(status=route.status, body=body, headers=headers)
        if isinstance(route, _Redirect):
            target = route.to if "://" in route.to else self.url(route.to)
            return web.Response(status=route.status, headers={"Location": target})
        if isinstance(route, _Trickle):
            return await self._answer_stream(request, route)
        # _Drop: close the transport under the request; the client sees a disconnect.
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)

    def _answer_feed(self, request: web.Request, feed: _Feed) -> web.Response:
        body = self._render(feed)
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        last_modified = format_datetime(feed.modified, usegmt=True)
        headers: CIMultiDict[str] = CIMultiDict()
        ctype = feed.content_type or (
            "application/atom+xml" if feed.kind == "atom" else "application/rss+xml")
        if feed.declare_encoding and "charset" not in ctype:
            ctype += f"; charset={feed.encoding}"
        headers["Content-Type"] = ctype
        if feed.send_validators:
            headers["ETag"] = etag
            headers["Last-Modified"] = last_modified
        if feed.honour_conditional and feed.send_validators and self._not_modified(
            request, etag, feed.modified
        ):
            return web.Response(status=304, headers=headers)
        if feed.gzip and "gzip" in request.headers.get("Accept-Encoding", ""):
            body = gzip_module.compress(body)
            headers["Content-Encoding"] = "gzip"
        return web.Response(status=200, body=body, headers=headers)

    @staticmethod
    def _not_modified(request: web.Request, etag: str, modified: datetime) -> bool:
        # RFC 9110 13.2.2: If-None-Match wins; If-Modified-Since only counts without it.
        if inm := request.headers.get("If-None-Match"):
            tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
            return etag in tags or "*" in tags
        if ims := request.headers.get("If-Modified-Since"):
            try:
                return modified <= parsedate_to_datetime(ims)
            except (TypeError, ValueError):
                return False
        return False

    async def _answer_stream(self, request: web.Request, route: _Trickle) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers=CIMultiDict(
            {"Content-Type": "application/rss+xml", **route.headers}))
        await response.prepare(request)
        sent = 0
        try:
            while not self._closing.is_set() and (route.total is None or sent < route.total):
                chunk = route.chunk
                if route.total is not None:
                    chunk = chunk[: route.total - sent]
                await response.write(chunk)
                sent += len(chunk)
                if route.interval:
                    await self._sleep(route.interval)
                else:
                    await asyncio.sleep(0)  # let the client read (and hang up)
            await response.write_eof()
        except ConnectionError:
            pass  # the client hung up: that is what these routes are for
        return response
