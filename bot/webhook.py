"""Webhook mode: Telegram POSTs updates to us, so every replica can receive them (no lock).

TELEGRAM_WEBHOOK_URL is the public HTTPS address Telegram calls; TELEGRAM_WEBHOOK_SECRET the
secret token it sends back in X-Telegram-Bot-Api-Secret-Token (1-256 of A-Z a-z 0-9 _ -);
TELEGRAM_WEBHOOK_LISTEN the local host:port to listen on (default 0.0.0.0:8443), behind the
TLS-terminating proxy the URL points at.

There is no webhook without a secret: anyone who finds the address could otherwise post
updates as any user. config.settings refuses to start without one; the listener itself
refuses to run without one too, and answers 403 to a POST that lacks it or gets it wrong.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import os
import re
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from bot.updates import ALLOWED_UPDATES, process_update_json

logger = logging.getLogger(__name__)

_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
MAX_UPDATE_BYTES = 1_000_000


def _listen_from_env() -> tuple[str, int]:
    raw = os.environ.get("TELEGRAM_WEBHOOK_LISTEN", "").strip() or "0.0.0.0:8443"
    host, _, port = raw.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


def check_secret(secret: str | None) -> str:
    """The secret, if Telegram would accept it; ValueError naming the variable otherwise."""
    if not secret:
        raise ValueError("webhook mode needs TELEGRAM_WEBHOOK_SECRET: without it anyone could "
                         "post updates to the listener")
    if not _SECRET.match(secret):
        raise ValueError("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z a-z 0-9 _ -")
    return secret


def webhook_handler(app: Any, secret: str) -> Any:
    """An aiohttp handler that checks the secret token and queues the update."""
    expected = check_secret(secret).encode()

    async def handle(request: web.Request) -> web.Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given.encode(errors="surrogateescape"), expected):
            logger.warning("webhook: a POST without the right secret token was refused "
                           "(from %s)", request.remote)
            return web.Response(status=403)
        if (request.content_length or 0) > MAX_UPDATE_BYTES:
            return web.Response(status=413)
        try:
            payload = await request.json()
        except ValueError:
            return web.Response(status=400)
        if not isinstance(payload, dict):
            return web.Response(status=400)
        await process_update_json(app, payload)
        return web.Response(status=200)

    return handle


async def serve_webhook(app: Any, stop: asyncio.Event, *, url: str, secret: str | None,
                        listen: tuple[str, int] | None = None) -> None:
    """Listen for Telegram's POSTs until `stop` is set. The webhook stays registered on stop:
    the other replicas keep receiving. ValueError, before anything listens, without a valid
    secret."""
    secret = check_secret(secret)
    host, port = listen or _listen_from_env()
    path = urlsplit(url).path or "/"
    web_app = web.Application(client_max_size=MAX_UPDATE_BYTES)
    web_app.router.add_post(path, webhook_handler(app, secret))
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        await app.bot.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
        logger.info("receiving bot updates by webhook on %s:%s%s", host, port, path)
        await stop.wait()
    finally:
        await runner.cleanup()
