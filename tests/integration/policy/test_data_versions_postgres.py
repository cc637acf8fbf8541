"""The change counters of the KPI input tables on REAL PostgreSQL: two replicas' transactions that write the
same counted tables in opposite orders and commit at once neither deadlock nor lose a count, because the
counters are bumped at commit, in table-name order, never mid-transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text

from services.policy import store
from services.policy.tables import data_versions, metadata
from tests.support.sessions import Sessions, sessions_on
from tests.unit.policy.service_support import MONDAY, wait_for


@pytest.fixture
async def sessions(fresh_database: str) -> AsyncIterator[Sessions]:
    async with sessions_on(fresh_database, metadata) as sessions:
        yield sessions


def line(order_id: str) -> dict[str, Any]:
    return {
        "order_id": order_id, "line_id": "1", "sku": "T1", "site": "S1", "customer_id": "C1", "region": None,
        "quantity": 1.0, "cancelled_quantity": 0.0, "requested_date": MONDAY, "promised_date": None,
        "ordered_at": datetime(2024, 1, 2, tzinfo=UTC), "ordered_week": store.week_of(MONDAY),
    }  # fmt: skip


def assignment(sku: str) -> dict[str, Any]:
    return {
        "entity_id": sku, "segment": "GOLD", "tier": 1, "service_level_type": "cycle",
        "service_level_target": 0.95, "otif_target": 0.9, "pattern": None,
        "valid_from": datetime(2024, 1, 1, tzinfo=UTC),
    }  # fmt: skip


async def test_concurrent_writers_in_opposite_orders_commit_and_count_once_each(sessions: Sessions) -> None:
    async with sessions() as one, sessions() as two:
        await one.begin()
        await two.begin()
        for session in (one, two):  # a wait that could deadlock fails instead of hanging
            await session.execute(text("SET LOCAL lock_timeout = '20s'"))
        await store.save_assignment(one, assignment("K1"))  # one: assignments first ...
        await store.save_order_line(two, line("O2"))  # two: order lines first (written by the next call)
        await store.cancel_order_line(two, "O2", "1", 1.0)
        await store.save_order_line(one, line("O1"))  # ... then order lines
        await store.save_assignment(two, assignment("K2"))  # ... then assignments
        await asyncio.gather(one.commit(), two.commit())
    async with sessions() as session:
        rows = (await session.execute(select(data_versions.c.name, data_versions.c.version))).all()
    assert sorted(tuple(r) for r in rows) == [("policy_assignments", 2), ("policy_order_lines", 2)]


async def test_a_commit_waiting_for_a_row_lock_holds_no_counter(sessions: Sessions) -> None:
    """The counters are bumped after the write buffer is written: a commit whose buffered row waits for
    another transaction's lock holds no counter row meanwhile, so the other transaction (which bumps the
    same counters) commits instead of deadlocking with it."""
    async with sessions() as one, sessions() as two, sessions() as observer:
        await one.begin()
        await two.begin()
        for session in (one, two):
            await session.execute(text("SET LOCAL lock_timeout = '20s'"))
        await store.save_order_line(two, line("R"))
        await store.cancel_order_line(two, "R", "1", 1.0)  # two holds the row lock on R from here
        await store.save_assignment(two, assignment("K2"))
        await store.save_assignment(one, assignment("K1"))  # one marks assignments first ...
        await store.save_order_line(one, line("R"))  # ... and buffers R, written at its commit
        committing = asyncio.create_task(one.commit())

        async def one_waits_for_r() -> bool:
            query = text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
            return bool((await observer.execute(query)).scalar_one())

        await wait_for(one_waits_for_r)
        await two.commit()  # bumps assignments and order lines: not held by the waiting commit
        await committing
    async with sessions() as session:
        rows = (await session.execute(select(data_versions.c.name, data_versions.c.version))).all()
    assert sorted(tuple(r) for r in rows) == [("policy_assignments", 2), ("policy_order_lines", 2)]


async def test_a_counter_is_bumped_only_by_the_commit_of_its_transaction(sessions: Sessions) -> None:
    """Until the writer commits, a reader sees the old counter (and the old rows): never new counters with
    old data."""
    async with sessions() as writer:
        await writer.begin()
        await store.save_assignment(writer, assignment("K1"))
        async with sessions() as reader:
            assert await store.data_versions_of(reader, [metadata.tables["policy_assignments"]]) == (0,)
        await writer.commit()
    async with sessions() as reader:
        assert await store.data_versions_of(reader, [metadata.tables["policy_assignments"]]) == (1,)
