"""A small in-process cache of results that are valid for one version of their inputs, the version being a
tuple of monotonic change counters read from the database (one per input table) before the inputs are.

Rules:
- ``get(key, version, compute)`` returns the stored result of ``key`` when its version covers ``version``
  (every counter >= the requested one: the result was loaded after every write the caller could know of,
  so it is never stale for that caller); otherwise it computes, stores and returns the result.
- One computation at a time per key: a caller whose version an ongoing computation covers awaits that
  computation ("shared"); a caller with a newer version waits for it to end and then looks again (so under a
  stream of writes at most one computation per key runs, and the next one serves everyone who waited).
- A computation runs as its own task: a caller that goes away (client disconnect) does not cancel it for
  the others. A failed computation stores nothing and raises in every caller that awaited it.
- Bounded: at most ``max_entries`` keys, least recently used evicted first; a key keeps one result (its
  newest version).
- Lookups count as hit / miss / shared on the instance and in ``segflow_cache_lookups_total``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from services.runtime import metrics

T = TypeVar("T")
Version = tuple[int, ...]


def covers(stored: Version, wanted: Version) -> bool:
    """True when every counter of ``stored`` is at least that of ``wanted`` (same inputs, same order)."""
    return len(stored) == len(wanted) and all(s >= w for s, w in zip(stored, wanted, strict=True))


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


@dataclass
class _Flight:
    version: Version
    task: asyncio.Task[Any]


class VersionedCache(Generic[T]):
    """Results per key, each valid for the version it was computed at (see the module rules)."""

    def __init__(self, service: str, name: str, max_entries: int = 4) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self.service, self.name, self.max_entries = service, name, max_entries
        self.hits = self.misses = self.shared = 0
        self._entries: OrderedDict[Hashable, tuple[Version, T]] = OrderedDict()
        self._flights: dict[Hashable, _Flight] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: Hashable, version: Version, compute: Callable[[], Awaitable[T]]) -> T:
        while True:
            entry = self._entries.get(key)
            if entry is not None and covers(entry[0], version):
                self._entries.move_to_end(key)
                self._count("hit")
                return entry[1]
            flight = self._flights.get(key)
            if flight is None:
                self._count("miss")
                task = asyncio.create_task(self._run(key, version, compute), name=f"cache-{self.name}")
                task.add_done_callback(_retrieve)  # a failure nobody awaits any more is not logged as lost
                flight = self._flights[key] = _Flight(version, task)
                result: T = await asyncio.shield(task)
                return result
            if covers(flight.version, version):
                self._count("shared")
                shared: T = await asyncio.shield(flight.task)
                return shared
            await asyncio.wait([flight.task])  # an older computation: one at a time, then look again

    async def _run(self, key: Hashable, version: Version, compute: Callable[[], Awaitable[T]]) -> T:
        try:
            value = await compute()
            entry = self._entries.get(key)
            if entry is None or not covers(entry[0], version):
                self._entries[key] = (version, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            return value
        finally:
            self._flights.pop(key, None)

    def _count(self, outcome: str) -> None:
        if outcome == "hit":
            self.hits += 1
        elif outcome == "miss":
            self.misses += 1
        else:
            self.shared += 1
        metrics.CACHE_LOOKUPS.labels(self.service, self.name, outcome).inc()

    def clear(self) -> None:
        self._entries.clear()

    async def close(self) -> None:
        """Cancel the computations still running (at shutdown) and drop every result."""
        flights = list(self._flights.values())
        for flight in flights:
            flight.task.cancel()
        for flight in flights:
            with contextlib.suppress(BaseException):
                await flight.task
        self._entries.clear()
