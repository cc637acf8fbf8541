"""services.runtime.upsert on REAL PostgreSQL: the same insert-then-update checks as on SQLite
(tests/unit/runtime/upsert_checks.py), run in a fresh database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy.dialects import postgresql

from services.runtime.upsert import dialect_insert
from tests.support.sessions import Sessions, sessions_on
from tests.unit.runtime.upsert_checks import CHECKS, metadata, stock


@pytest.fixture
async def sessions(fresh_database: str) -> AsyncIterator[Sessions]:
    async with sessions_on(fresh_database, metadata) as sessions:
        yield sessions


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__.removeprefix("check_") for c in CHECKS])
async def test_upsert_on_postgres(sessions: Sessions, check: Callable[[Sessions], Awaitable[None]]) -> None:
    async with sessions() as session:
        assert isinstance(dialect_insert(session, stock), postgresql.Insert)  # really PostgreSQL's statement
    await check(sessions)
