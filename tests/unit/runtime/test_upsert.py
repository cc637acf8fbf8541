"""services.runtime.upsert on SQLite: insert-then-update semantics (the checks in upsert_checks.py also run
on PostgreSQL in tests/integration/runtime/test_upsert_postgres.py) and the statements it builds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from services.runtime.upsert import dialect_insert, upsert_statement
from tests.support.sessions import Sessions, sessions_on
from tests.unit.runtime.upsert_checks import CHECKS, KEYS, metadata, stock


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[Sessions]:
    async with sessions_on(f"sqlite+aiosqlite:///{tmp_path / 'upsert.db'}", metadata) as sessions:
        yield sessions


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__.removeprefix("check_") for c in CHECKS])
async def test_upsert_on_sqlite(sessions: Sessions, check: Callable[[Sessions], Awaitable[None]]) -> None:
    await check(sessions)


async def test_a_session_names_its_dialect(sessions: Sessions) -> None:
    async with sessions() as session:
        assert isinstance(dialect_insert(session, stock), sqlite.Insert)
        assert upsert_statement(session, stock, KEYS, ["quantity"]) is upsert_statement(
            "sqlite", stock, KEYS, ["quantity"]
        )


def test_the_dialect_picks_the_insert() -> None:
    assert isinstance(dialect_insert("postgresql", stock), postgresql.Insert)
    assert isinstance(dialect_insert("sqlite", stock), sqlite.Insert)


def test_statements_are_built_once_per_shape() -> None:
    first = upsert_statement("postgresql", stock, KEYS, ["quantity", "note"])
    assert upsert_statement("postgresql", stock, KEYS, ["quantity", "note"]) is first
    assert upsert_statement("postgresql", stock, KEYS, ["sku", "quantity", "note"]) is first  # keys skipped
    assert upsert_statement("sqlite", stock, KEYS, ["quantity", "note"]) is not first
    assert upsert_statement("postgresql", stock, KEYS, ["quantity", "note"], merge=True) is not first


@pytest.mark.parametrize("dialect", [postgresql.dialect(), sqlite.dialect()], ids=["postgresql", "sqlite"])
def test_the_sql_on_each_dialect(dialect: Dialect) -> None:
    def sql(update: list[str], merge: bool = False) -> str:
        return str(upsert_statement(dialect.name, stock, KEYS, update, merge=merge).compile(dialect=dialect))

    assert "ON CONFLICT (sku, site) DO UPDATE SET quantity = excluded.quantity" in sql(["quantity"])
    assert "DO UPDATE SET note = coalesce(excluded.note, upsert_stock.note)" in sql(["note"], merge=True)
    assert sql(KEYS).endswith("ON CONFLICT (sku, site) DO NOTHING")
