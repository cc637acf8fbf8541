"""Serialising work on one sku@site: an asyncio.Lock per sku@site in this process, plus (inside the
transaction) the row lock on the sku@site's ``stock_points`` row (store_points.lock_point), so replicas on
PostgreSQL serialise too. SQLite needs nothing more: the runtime's Database already queues this process's
units of work on its single writer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class PointLocks:
    """One asyncio.Lock per sku@site while someone holds or waits for it (requests for one sku@site queue
    here, in order, instead of on the database row lock); forgotten when the last one leaves."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._users: dict[tuple[str, str], int] = {}

    @asynccontextmanager
    async def hold(self, sku: str, site: str) -> AsyncIterator[None]:
        key = (sku, site)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]

    def __len__(self) -> int:
        return len(self._locks)
