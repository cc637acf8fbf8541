"""Stock-point bumps on REAL PostgreSQL: two consumer transactions (an inventory batch and an orders
batch, as two consumers run them side by side) that bump overlapping sku@sites in opposite orders both
commit, with no deadlock (SQLSTATE 40P01), and each bumps every version it touched once."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.allocator import app as allocator_app
from services.allocator import store, store_supply
from services.allocator.store_points import next_version
from services.runtime.bus.memory import MemoryBus
from services.runtime.host import ServiceHost
from services.runtime.settings import Settings

POINTS = [("A", "S1"), ("B", "S1"), ("C", "S1")]
Write = Callable[[AsyncSession, str, str], Awaitable[None]]


@pytest.fixture
async def host(fresh_database: str) -> AsyncIterator[ServiceHost]:
    settings = Settings(env="test", jwt_secret="s" * 40, database_url=fresh_database, db_pool_size=4)
    built = allocator_app.build(settings, bus=MemoryBus())
    await built.start(consume=False)
    yield built
    await built.stop()


async def versions(host: ServiceHost) -> dict[tuple[str, str], int]:
    points = store.stock_points
    async with host.db.read() as session:
        rows = (await session.execute(select(points.c.sku, points.c.site, points.c.version))).all()
    return {(r.sku, r.site): r.version for r in rows}


async def position(session: AsyncSession, sku: str, site: str) -> None:
    await store_supply.set_position(session, sku, site, 10.0, 1.0)


async def order_line(session: AsyncSession, sku: str, site: str) -> None:
    await store_supply.set_order_line(session, {
        "order_id": "O2", "line_id": sku, "customer_id": "C", "customer_source": None, "customer_key": "C",
        "sku": sku, "site": site, "quantity": 1.0, "requested_date": dt.date(2030, 1, 1), "ordered_at": 0.0,
        "status": "open"})  # fmt: skip


async def test_batches_bumping_overlapping_points_in_opposite_orders_both_commit(host: ServiceHost) -> None:
    async with host.db.unit_of_work() as session:  # the sku@sites exist (their rows are there to lock)
        for sku, site in POINTS:
            await position(session, sku, site)
    before = await versions(host)
    # Each transaction writes its first sku@site, waits until the other wrote its first one, then writes
    # the rest: bumps taken as they come would hold A and wait for C in one, hold C and wait for A in the
    # other, a cycle PostgreSQL breaks by aborting one of them.
    both_started = asyncio.Barrier(2)

    async def batch(write: Write, points: list[tuple[str, str]]) -> None:
        async with host.db.unit_of_work() as session:
            await write(session, *points[0])
            await both_started.wait()
            for sku, site in points[1:]:
                await write(session, sku, site)

    results = await asyncio.gather(
        batch(position, POINTS), batch(order_line, POINTS[::-1]), return_exceptions=True
    )
    assert results == [None, None], f"a transaction failed (40P01 is a deadlock): {results!r}"
    after = await versions(host)
    assert after == {point: next_version(next_version(before[point])) for point in POINTS}
