"""The policy handlers' write buffer on SQLite: rows written at commit (the last upsert of a key wins,
shipment events merge), nothing on rollback, read-your-writes for cancellations, the per-transaction
product read (see tests/unit/policy/store_checks.py; the same checks run on PostgreSQL in integration)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from services.policy.tables import metadata
from tests.unit.policy.store_checks import CHECKS, Sessions


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[Sessions]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'policy.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield async_sessionmaker(engine, expire_on_commit=False, class_=AsyncSession)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__.removeprefix("check_") for c in CHECKS])
async def test_write_buffer(sessions: Sessions, check: Callable[[Sessions], Awaitable[None]]) -> None:
    await check(sessions)
