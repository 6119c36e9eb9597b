"""Downloading an article's photo ourselves when Telegram will not fetch it by URL.

Telegram fetches photo URLs itself but refuses some (wrong content type, over 5 MB, hosts it
cannot reach). We then download the photo, within a size limit and only if it says it is an
image, and upload it (uploads may be up to 10 MB). Photo URLs come from feeds, so the download
goes through the same address guard as untrusted fetches (`guards/network.py`): no loopback,
private networks or metadata service unless the operator allows the network.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urljoin

import aiohttp

from guards.network import GuardedResolver, check_url_allowed
from model.errors import FetchError

logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 10 * 1024 * 1024   # Telegram's limit for uploaded photos
_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class Photo:
    data: bytes
    content_type: str
    filename: str


class PhotoFetcher:
    """GET a photo with limits; `fetch` returns None (and logs why) instead of raising."""

    def __init__(self, *, max_bytes: int = MAX_UPLOAD_BYTES, timeout: float = 20.0,
                 allow_networks: Sequence[str] = (), max_redirects: int = 3,
                 user_agent: str = "Nashir/0.1 (+feed distribution bot)") -> None:
        self.max_bytes = max_bytes
        self.timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=min(10.0, timeout))
        self.allow_networks = tuple(allow_networks)
        self.max_redirects = max_redirects
        self.user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        # Sessions made under an older allow-list, closed at aclose (a reload must not cut a
        # download in flight; reloads are rare, so they are few).
        self._retired: list[aiohttp.ClientSession] = []

    def set_allow_networks(self, allow_networks: Sequence[str]) -> None:
        """Use a new allow-list (config reload) for every download from now on: the next
        download opens a session whose resolver checks against it."""
        networks = tuple(allow_networks)
        if networks == self.allow_networks:
            return
        self.allow_networks = networks
        if self._session is not None:
            self._retired.append(self._session)
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.allow_networks),
                                             use_dns_cache=False, limit=8)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self.timeout,
                headers={"User-Agent": self.user_agent, "Accept": "image/*"})
        return self._session

    async def aclose(self) -> None:
        for session in self._retired:
            await session.close()
        self._retired.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, url: str) -> Photo | None:
        """The photo at `url`, or None when it is not an image, too large or unreachable."""
        try:
            return await self._fetch(url)
        except FetchError as exc:
            logger.warning("photo not downloaded: %s", exc.message, extra={"url": url})
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            logger.warning("photo not downloaded: %r", exc, extra={"url": url})
        return None

    async def _fetch(self, url: str) -> Photo | None:
        session = self._client()
        for _ in range(self.max_redirects + 1):
            # IP literals bypass the resolver, so every hop is also checked here.
            await check_url_allowed(url, self.allow_networks)
            async with session.get(url, allow_redirects=False) as response:
                if response.status in _REDIRECTS and response.headers.get("Location"):
                    url = urljoin(url, response.headers["Location"])
                    continue
                if response.status != 200:
                    logger.warning("photo not downloaded: HTTP %s", response.status,
                                   extra={"url": url})
                    return None
                content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
                if content_type.lower() not in _IMAGE_TYPES:
                    logger.warning("photo not downloaded: content type %r is not an image",
                                   content_type, extra={"url": url})
                    return None
                if (response.content_length or 0) > self.max_bytes:
                    logger.warning("photo not downloaded: %s bytes is over the %s limit",
                                   response.content_length, self.max_bytes, extra={"url": url})
                    return None
                chunks, size = [], 0
                async for chunk in response.content.iter_chunked(65_536):
                    size += len(chunk)
                    if size > self.max_bytes:
                        logger.warning("photo not downloaded: over the %s byte limit",
                                       self.max_bytes, extra={"url": url})
                        return None
                    chunks.append(chunk)
                extension = content_type.split("/", 1)[1].replace("jpeg", "jpg")
                return Photo(b"".join(chunks), content_type, f"photo.{extension}")
        logger.warning("photo not downloaded: more than %d redirects", self.max_redirects,
                       extra={"url": url})
        return None
