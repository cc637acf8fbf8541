"""The policy store on REAL PostgreSQL: the handlers' write buffer (the same checks as on SQLite) and the
evaluation's dequeue of touched orders, which skips a queue row a consumer's open transaction is
re-marking instead of waiting for it (so the two can never deadlock) and leaves that order queued."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy import select, text

from services.policy import pending, store
from services.policy.tables import kpi_dirty, kpi_lines, metadata
from tests.support.sessions import Sessions, sessions_on
from tests.unit.policy.store_checks import CHECKS


@pytest.fixture
async def sessions(fresh_database: str) -> AsyncIterator[Sessions]:
    async with sessions_on(fresh_database, metadata) as sessions:
        yield sessions


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__.removeprefix("check_") for c in CHECKS])
async def test_write_buffer_on_postgres(
    sessions: Sessions, check: Callable[[Sessions], Awaitable[None]]
) -> None:
    await check(sessions)


def cached_line(order_id: str) -> dict[str, object]:
    return {
        "order_id": order_id, "line_id": "1", "sku": "K", "region": None, "due_week": 5, "ordered": 10.0,
        "shipped": 10.0, "delivered_day": None, "promised_day": None, "requested_day": None,
    }  # fmt: skip


async def test_the_dequeue_skips_an_order_a_consumer_is_re_marking_and_keeps_it_queued(
    sessions: Sessions,
) -> None:
    async with sessions() as session, session.begin():
        await store.mark_kpi_dirty(session, "A", "a1")
        await store.mark_kpi_dirty(session, "B", "b1")
    async with sessions() as consumer:
        await consumer.begin()
        await store.mark_kpi_dirty(consumer, "B", "b2")  # the consumer's batch: B re-marked, not committed
        await pending.flush(consumer)  # the row lock on B is held from here until the commit
        async with sessions() as evaluator, evaluator.begin():
            # a wait on B's lock would fail at once instead of hanging (and a deadlock could follow)
            await evaluator.execute(text("SET LOCAL lock_timeout = '2s'"))
            queued = await store.dirty_orders(evaluator, 10)
            assert queued == [("A", "a1"), ("B", "b1")]
            await store.replace_kpi_lines(evaluator, queued, [cached_line("A"), cached_line("B")])
        await consumer.commit()
    async with sessions() as session:
        dirty = [
            tuple(r) for r in (await session.execute(select(kpi_dirty.c.order_id, kpi_dirty.c.token))).all()
        ]
        cached = sorted(r.order_id for r in (await session.execute(select(kpi_lines))).all())
    assert dirty == [("B", "b2")]  # A left the queue; B stays with the consumer's mark for the next refresh
    assert cached == ["A", "B"]
