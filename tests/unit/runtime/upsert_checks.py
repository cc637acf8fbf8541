"""Checks of services.runtime.upsert against a real database, shared by the SQLite unit test
(tests/unit/runtime/test_upsert.py) and the PostgreSQL integration test
(tests/integration/runtime/test_upsert_postgres.py): each takes a session factory of a database in which
``metadata`` is created."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, select

from services.runtime.upsert import dialect_insert, upsert, upsert_statement
from tests.support.sessions import Sessions

metadata = MetaData()
stock = Table(
    "upsert_stock",
    metadata,
    Column("sku", String(64), primary_key=True),
    Column("site", String(64), primary_key=True),
    Column("quantity", Float, nullable=False),
    Column("note", String(64), nullable=True),
    Column("revision", Integer, nullable=False),
)
KEYS = ["sku", "site"]


async def _rows(sessions: Sessions) -> dict[tuple[str, str], tuple[Any, ...]]:
    async with sessions() as session:
        result = await session.execute(select(stock))
        return {(r.sku, r.site): (r.quantity, r.note, r.revision) for r in result.all()}


async def _seed(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            stock.insert(),
            [
                {"sku": "A", "site": "S1", "quantity": 1.0, "note": "first", "revision": 1},
                {"sku": "B", "site": "S1", "quantity": 2.0, "note": "other", "revision": 1},
            ],
        )


async def check_upsert_updates_a_conflicting_row_and_inserts_a_new_one(sessions: Sessions) -> None:
    await _seed(sessions)
    async with sessions() as session, session.begin():
        await upsert(
            session, stock, {"sku": "A", "site": "S1", "quantity": 5.0, "note": None, "revision": 2}, KEYS
        )
        await upsert(
            session, stock, {"sku": "A", "site": "S2", "quantity": 7.0, "note": "new", "revision": 1}, KEYS
        )
    assert await _rows(sessions) == {
        ("A", "S1"): (5.0, None, 2),  # every column it gives is updated, NULL included
        ("A", "S2"): (7.0, "new", 1),  # same sku, other site: a new row
        ("B", "S1"): (2.0, "other", 1),  # untouched
    }


async def check_upsert_updates_only_the_columns_it_is_given(sessions: Sessions) -> None:
    await _seed(sessions)
    async with sessions() as session, session.begin():
        await upsert(session, stock, {"sku": "A", "site": "S1", "quantity": 3.0, "revision": 2}, KEYS)
    assert (await _rows(sessions))[("A", "S1")] == (3.0, "first", 2)


async def check_statement_updates_listed_columns_of_many_rows_and_keeps_the_rest(sessions: Sessions) -> None:
    await _seed(sessions)
    rows = [
        {"sku": "A", "site": "S1", "quantity": 9.0, "note": "ignored", "revision": 3},
        {"sku": "C", "site": "S1", "quantity": 4.0, "note": "inserted", "revision": 1},
    ]
    async with sessions() as session, session.begin():
        # the keys in ``update`` are skipped: a key column is never rewritten
        statement = upsert_statement(session, stock, KEYS, ["sku", "quantity", "revision"])
        await session.execute(statement, rows)
    assert await _rows(sessions) == {
        ("A", "S1"): (9.0, "first", 3),  # note not listed for update: the stored one stays
        ("B", "S1"): (2.0, "other", 1),
        ("C", "S1"): (4.0, "inserted", 1),  # a new row is inserted whole
    }


async def check_merge_keeps_the_stored_value_where_the_new_one_is_null(sessions: Sessions) -> None:
    await _seed(sessions)
    rows = [
        {"sku": "A", "site": "S1", "quantity": 6.0, "note": None, "revision": 2},
        {"sku": "B", "site": "S1", "quantity": 8.0, "note": "changed", "revision": 2},
    ]
    async with sessions() as session, session.begin():
        await session.execute(upsert_statement(session, stock, KEYS, list(rows[0]), merge=True), rows)
    assert await _rows(sessions) == {("A", "S1"): (6.0, "first", 2), ("B", "S1"): (8.0, "changed", 2)}


async def check_nothing_to_update_means_do_nothing(sessions: Sessions) -> None:
    await _seed(sessions)
    rows = [
        {"sku": "A", "site": "S1", "quantity": 0.0, "note": "x", "revision": 9},
        {"sku": "D", "site": "S1", "quantity": 1.5, "note": "y", "revision": 1},
    ]
    async with sessions() as session, session.begin():
        await session.execute(upsert_statement(session, stock, KEYS, KEYS), rows)
    assert await _rows(sessions) == {
        ("A", "S1"): (1.0, "first", 1),  # the conflict is ignored, no error
        ("B", "S1"): (2.0, "other", 1),
        ("D", "S1"): (1.5, "y", 1),
    }


async def check_dialect_insert_offers_on_conflict_and_returning(sessions: Sessions) -> None:
    await _seed(sessions)
    async with sessions() as session, session.begin():
        statement = (
            dialect_insert(session, stock)
            .on_conflict_do_nothing(index_elements=KEYS)
            .returning(stock.c.sku, stock.c.site)
        )
        rows = [
            {"sku": "A", "site": "S1", "quantity": 0.0, "note": None, "revision": 1},
            {"sku": "E", "site": "S1", "quantity": 0.0, "note": None, "revision": 1},
        ]
        inserted = {tuple(r) for r in (await session.execute(statement, rows)).all()}
    assert inserted == {("E", "S1")}


CHECKS: list[Callable[[Sessions], Awaitable[None]]] = [
    check_upsert_updates_a_conflicting_row_and_inserts_a_new_one,
    check_upsert_updates_only_the_columns_it_is_given,
    check_statement_updates_listed_columns_of_many_rows_and_keeps_the_rest,
    check_merge_keeps_the_stored_value_where_the_new_one_is_null,
    check_nothing_to_update_means_do_nothing,
    check_dialect_insert_offers_on_conflict_and_returning,
]
