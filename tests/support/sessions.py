"""Session factories over a database that holds one MetaData's tables, for store checks that run on SQLite
(unit) and PostgreSQL (integration) alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

Sessions = async_sessionmaker[AsyncSession]


@asynccontextmanager
async def sessions_on(url: str, metadata: MetaData) -> AsyncIterator[Sessions]:
    """Create ``metadata``'s tables at ``url`` and yield a session factory; the engine is disposed after."""
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield async_sessionmaker(engine, expire_on_commit=False, class_=AsyncSession)
    finally:
        await engine.dispose()
