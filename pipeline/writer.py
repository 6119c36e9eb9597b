"""Poll results written in batches: each feed's new state, next due time and lease release."""
from __future__ import annotations

import asyncio
import logging

from redis.exceptions import RedisError

from store.redis_store import StateWrite, Store

logger = logging.getLogger(__name__)


class StateWriter:
    """Writes poll results in batches: one script for up to `batch` feeds. Results wait at most
    `linger_s` for company, so a feed's next due time and lease release are never held up."""

    def __init__(self, store: Store, worker: str, *, batch: int = 256,
                 linger_s: float = 0.02) -> None:
        self.store, self.worker, self.batch, self.linger_s = store, worker, batch, linger_s
        self._pending: list[StateWrite] = []
        self._task: asyncio.Task[None] | None = None

    def add(self, write: StateWrite) -> None:
        self._pending.append(write)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        while self._pending:
            if len(self._pending) < self.batch:
                await asyncio.sleep(self.linger_s)  # let the batch fill
            batch, self._pending = self._pending[:self.batch], self._pending[self.batch:]
            try:
                await self.store.commit(self.worker, batch)
            except (RedisError, OSError) as exc:  # leases run out and the feeds come back
                logger.warning("could not record %d polls (%s)", len(batch), exc)
            except Exception:
                logger.exception("could not record %d polls", len(batch))

    async def flush(self) -> None:
        """Wait until everything added so far is written."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)
