"""Serialising work on one sku@site: an asyncio.Lock per sku@site in this process, plus (inside the
transaction) the PostgreSQL row lock on the sku@site's ``stock_points`` row, so replicas serialise too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class PointLocks:
    """One asyncio.Lock per sku@site, created on first use; with ``single_writer`` (SQLite: one writer per
    database file) one lock for all sku@sites, so promise transactions queue here in order instead of
    polling SQLite's busy handler."""

    def __init__(self, *, single_writer: bool = False) -> None:
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._single = asyncio.Lock() if single_writer else None

    @asynccontextmanager
    async def hold(self, sku: str, site: str) -> AsyncIterator[None]:
        lock = self._single or self._locks.setdefault((sku, site), asyncio.Lock())
        async with lock:
            yield
