"""The operators' HTTP listener on BOT_HTTP_ADDR: /healthz, /readyz, /metrics and the status
page at /.

    server = await start_http(settings, probes, metrics, status_source)
    server.port        # the bound port (BOT_HTTP_ADDR may say port 0)
    await server.stop()

Every text response passes through `redact` on its way out: the bot token and the password of
REDIS_URL are masked whatever produced the text (an exception message from Telegram's client
can carry the token, for example).
"""
from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from ops.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from ops.secrets import redact, secrets_of

logger = logging.getLogger(__name__)

Probe = Callable[[], Awaitable[str | None]]
"""A readiness check: returns a short note when fine, raises when not."""


# -- readiness ---------------------------------------------------------------------------------

@dataclass(slots=True)
class ReadinessProbes:
    """What /readyz checks. `telegram=None` means dry-run: Telegram counts as fine."""

    redis: Probe
    telegram: Probe | None = None
    timeout: float = 3.0

    @classmethod
    def for_clients(cls, redis: Any, bot: Any | None, *, telegram_cache_s: float = 30.0,
                    timeout: float = 3.0) -> ReadinessProbes:
        """Probes over a redis-py asyncio client and a PTB Bot (None in dry-run). A good
        getMe is remembered for `telegram_cache_s`, so frequent probes do not hit Telegram."""

        async def redis_probe() -> str | None:
            await redis.ping()
            return None

        telegram_probe: Probe | None = None
        if bot is not None:
            last_ok = [-1e18]

            async def telegram_probe() -> str | None:
                if time.monotonic() - last_ok[0] < telegram_cache_s:
                    return "reachable (cached)"
                me = await bot.get_me()
                last_ok[0] = time.monotonic()
                return f"reachable as @{getattr(me, 'username', '?')}"

        return cls(redis=redis_probe, telegram=telegram_probe, timeout=timeout)

    async def check(self) -> tuple[bool, list[tuple[str, bool, str]]]:
        """Run every probe at once; (ready, [(name, ok, note)])."""
        named: list[tuple[str, Probe | None]] = [("redis", self.redis), ("telegram", self.telegram)]

        async def run(probe: Probe | None) -> tuple[bool, str]:
            if probe is None:
                return True, "dry-run: nothing is sent to Telegram"
            try:
                note = await asyncio.wait_for(probe(), self.timeout)
            except TimeoutError:
                return False, f"no answer within {self.timeout:g} s"
            except Exception as exc:  # any failure is a reason to report, not to crash
                detail = str(exc).strip() or "no detail"
                return False, f"{type(exc).__name__}: {detail}"
            return True, note or "reachable"

        results = await asyncio.gather(*(run(probe) for _, probe in named))
        rows = [(name, ok, note) for (name, _), (ok, note) in zip(named, results, strict=True)]
        return all(ok for _, ok, _ in rows), rows


# -- the server --------------------------------------------------------------------------------

class StatusSource(Protocol):
    async def snapshot(self) -> Any: ...


class MetricsSource(Protocol):
    registry: CollectorRegistry

    async def render(self) -> bytes: ...


@dataclass(slots=True)
class HttpServer:
    """A running listener."""

    runner: web.AppRunner
    host: str
    port: int
    _sock: socket.socket | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        host = "[::1]" if host == "::" else (f"[{host}]" if ":" in host else host)
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        await self.runner.cleanup()


def build_app(probes: ReadinessProbes, metrics: MetricsSource | CollectorRegistry,
              status_source: StatusSource | None, *, secrets: Sequence[str] = (),
              render_page: Callable[[Any], str] | None = None) -> web.Application:
    """The aiohttp application (start_http binds it; tests may serve it directly)."""
    secret_list = list(secrets)

    @web.middleware
    async def mask_secrets(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException:
            raise  # aiohttp's own answers (404, 405): no text of ours in them
        except Exception:
            logger.exception("HTTP handler failed for %s", request.path)
            response = web.Response(status=500, text="internal error\n")
        body = getattr(response, "body", None)
        if secret_list and isinstance(body, (bytes, bytearray)):
            text = bytes(body).decode("utf-8", errors="surrogateescape")
            masked = redact(text, secret_list)
            if masked != text:
                logger.warning("a response of %s held a secret; it was masked", request.path)
                response.body = masked.encode("utf-8", errors="surrogateescape")
        response.headers.setdefault("Cache-Control", "no-store")
        return cast(web.StreamResponse, response)

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        ready, rows = await probes.check()
        lines = ["ready" if ready else "not ready"]
        lines += [f"{name}: {'ok' if ok else 'FAIL'} {note}" for name, ok, note in rows]
        if not ready:
            logger.warning("not ready: %s", "; ".join(f"{n}: {note}" for n, ok, note in rows
                                                      if not ok))
        return web.Response(status=200 if ready else 503, text="\n".join(lines) + "\n")

    async def metrics_handler(_: web.Request) -> web.Response:
        if isinstance(metrics, CollectorRegistry):
            payload = generate_latest(metrics)
        else:
            payload = await metrics.render()
        response = web.Response(body=payload)
        response.headers["Content-Type"] = METRICS_CONTENT_TYPE
        return response

    async def status(_: web.Request) -> web.Response:
        from ops.status_page import render_status_page, unavailable_snapshot

        renderer = render_page or render_status_page
        if status_source is None:
            snapshot = unavailable_snapshot("no status source in this process")
        else:
            snapshot = await status_source.snapshot()
        response = web.Response(text=renderer(snapshot), content_type="text/html",
                                charset="utf-8")
        # The page has no script at all; the policy makes sure a post's HTML cannot add one.
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    app = web.Application(middlewares=[mask_secrets])
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/", status)
    return app


def _listening_socket(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                               flags=socket.AI_PASSIVE)
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def start_http(settings: Any, probes: ReadinessProbes,
                     metrics: MetricsSource | CollectorRegistry,
                     status_source: StatusSource | None = None) -> HttpServer:
    """Serve the operators' endpoints on settings.http_host:settings.http_port (port 0: any
    free port; the bound one is `server.port`). Raises OSError if the address is taken."""
    app = build_app(probes, metrics, status_source, secrets=secrets_of(settings))
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    try:
        sock = _listening_socket(settings.http_host, settings.http_port)
    except OSError:
        await runner.cleanup()
        raise
    site = web.SockSite(runner, sock)
    await site.start()
    port = sock.getsockname()[1]
    server = HttpServer(runner, settings.http_host, port, sock)
    logger.info("HTTP listening on %s:%d (/healthz /readyz /metrics, status page at /)",
                settings.http_host or "0.0.0.0", port)
    return server
