"""The allocator's background worker: releases overdue holds and re-confirms flagged sku@sites.

Runs every ``interval_s`` seconds, or at once when woken (after a consumer commits). Errors are logged
and retried on the next round; nothing here is lost because the flags and holds live in the database.
"""

from __future__ import annotations

import asyncio
import contextlib

from services.allocator.backorders import process_dirty
from services.allocator.promising import Promising
from services.runtime.logging import get_logger

log = get_logger(__name__)


class AllocatorWorker:
    def __init__(self, promising: Promising, *, interval_s: float = 0.5) -> None:
        self.promising = promising
        self.interval_s = interval_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="allocator-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self) -> tuple[int, int]:
        """One round: (holds released, promises changed)."""
        released = await self.promising.expire_due()
        changed = await process_dirty(self.promising)
        self.rounds += 1
        return released, changed

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the worker alive; the next round retries
                log.warning("allocator worker round failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval_s)
