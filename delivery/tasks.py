"""The sender's counters and small helpers it shares with `delivery.held`: backoff, hooks that
may be plain or async, waiting on events."""
from __future__ import annotations

import asyncio
import inspect
import logging
import random
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from delivery import telegram_errors as tg

logger = logging.getLogger("delivery.sender")

Hook = Callable[..., Any]


@dataclass(slots=True)
class SenderStats:
    """Counters for metrics (one sender; sum them over replicas)."""

    sent: int = 0                     # new messages Telegram accepted
    edited: int = 0
    already_sent: int = 0             # taken over after a crash, found sent: not sent again
    held: int = 0                     # posts kept aside (blocked chat, refused post)
    blocked_chats: int = 0
    migrated_chats: int = 0
    retries: int = 0                  # sends put back for a later attempt
    failed_by_reason: Counter[str] = field(default_factory=Counter)
    retry_after_waits: int = 0        # 429s Telegram answered
    retry_after_seconds: float = 0.0
    global_pauses: int = 0            # 429s taken as the bot's overall limit
    rate_limit_waits: int = 0         # sends that waited for their reserved slot
    rate_limit_wait_seconds: float = 0.0
    plain_fallbacks: int = 0
    photo_uploads: int = 0
    photos_dropped: int = 0
    possible_duplicates: int = 0      # sent after an attempt that may have been posted
    redis_errors: int = 0
    # delivery's fates, (fate, reason) -> count (posted is counted from the outcomes)
    fates: Counter[tuple[str, str]] = field(default_factory=Counter)
    probes: Counter[str] = field(default_factory=Counter)   # released | closed | error
    held_dropped: int = 0             # held posts dropped past the cap


# -- helpers ----------------------------------------------------------------------------------

class Backoff:
    """Exponential backoff with jitter for reconnecting."""

    def __init__(self, first: float = 0.2, cap: float = 10.0) -> None:
        self.first = first
        self.cap = cap
        self.current = first

    def reset(self) -> None:
        self.current = self.first

    def next(self) -> float:
        delay = self.current * random.uniform(0.75, 1.25)
        self.current = min(self.cap, self.current * 2)
        return delay


async def call_hook(hook: Hook | None, *args: object) -> None:
    if hook is None:
        return
    try:
        result = hook(*args)
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.exception("delivery hook %s failed", getattr(hook, "__name__", hook))


async def wait_any(seconds: float | None, *events: asyncio.Event) -> None:
    """Until one of `events` is set or `seconds` pass."""
    if any(event.is_set() for event in events):
        return
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def maybe_delivered(exc: Exception) -> bool:
    """Whether Telegram may have taken the message although we got an error: not when the
    connection was never made, yes when the answer was lost (read timeout, dropped connection)
    or the server answered 5xx (a proxy's 502 can follow a send that went through)."""
    import httpx  # only when a send failed: the dry run never needs it

    cause = exc.__cause__
    if isinstance(cause, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout,
                          httpx.UnsupportedProtocol)):
        return False
    return "Pool timeout" not in str(exc)


def retry_after_seconds(exc: tg.RetryAfter) -> float:
    # PTB 22 warns on reading retry_after unless PTB_TIMEDELTA is set; both forms are fine here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tg.PTBDeprecationWarning)
        value: object = exc.retry_after
    total = getattr(value, "total_seconds", None)
    return float(total()) if callable(total) else float(value)  # type: ignore[arg-type]
