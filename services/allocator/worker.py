"""The allocator's background worker: releases overdue holds, re-confirms flagged sku@sites and prunes
old allocation decisions.

Runs every ``interval_s`` seconds, or at once when woken (after a consumer commits). Errors are logged
and retried on the next round; nothing here is lost because the flags and holds live in the database.
Decisions older than ``decision_retention_s`` are deleted at most once per ``prune_interval_s``.
"""

from __future__ import annotations

import asyncio
import contextlib

from services.allocator import store_runs
from services.allocator.backorders import process_dirty
from services.allocator.promising import Promising
from services.runtime.logging import get_logger

log = get_logger(__name__)
DEFAULT_DECISION_RETENTION_S = 90 * 86400.0


class AllocatorWorker:
    def __init__(
        self,
        promising: Promising,
        *,
        interval_s: float = 0.5,
        decision_retention_s: float = DEFAULT_DECISION_RETENTION_S,
        prune_interval_s: float = 3600.0,
    ) -> None:
        self.promising = promising
        self.interval_s = interval_s
        self.decision_retention_s = decision_retention_s
        self.prune_interval_s = prune_interval_s
        self._last_prune: float | None = None
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
        """One round: (holds released, promises changed); prunes old decisions when due."""
        released = await self.promising.expire_due()
        changed = await process_dirty(self.promising)
        await self.prune_if_due()
        self.rounds += 1
        return released, changed

    async def prune_if_due(self) -> bool:
        """Delete decisions decided before ``now - decision_retention_s`` (once per ``prune_interval_s``)."""
        now = self.promising.clock()
        if self._last_prune is not None and now - self._last_prune < self.prune_interval_s:
            return False
        async with self.promising.db.unit_of_work() as session:
            await store_runs.delete_decisions_before(session, now - self.decision_retention_s)
        self._last_prune = now
        return True

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
