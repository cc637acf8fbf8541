"""The policy handlers' write buffer on SQLite: rows written at commit (the last upsert of a key wins,
shipment events merge), nothing on rollback, read-your-writes for cancellations, the per-transaction
product read (see tests/unit/policy/store_checks.py; the same checks run on PostgreSQL in integration)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from services.policy.tables import metadata
from tests.support.sessions import Sessions, sessions_on
from tests.unit.policy.store_checks import CHECKS


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[Sessions]:
    async with sessions_on(f"sqlite+aiosqlite:///{tmp_path / 'policy.db'}", metadata) as sessions:
        yield sessions


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__.removeprefix("check_") for c in CHECKS])
async def test_write_buffer(sessions: Sessions, check: Callable[[Sessions], Awaitable[None]]) -> None:
    await check(sessions)
