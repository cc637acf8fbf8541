"""The cached sku@site pictures and the version that validates them (SQLite, embedded): every writer
bumps the version, the cached state always equals the stored one, expiry and outside writes are seen,
and a warm promise costs the handful of statements the design names."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, select

from services.allocator import app as allocator_app
from services.allocator import store, store_points, store_supply
from services.allocator.picture import PointState, read_state
from services.allocator.point_cache import PointCache
from services.allocator.promising import Promising
from services.allocator.schemas_service import PromiseRequest
from services.allocator.store_points import VERSION_MODULUS, next_version
from services.runtime.bus.memory import MemoryBus
from services.runtime.host import ServiceHost
from services.runtime.settings import Settings

NOW = dt.datetime(2030, 3, 1, 12, tzinfo=dt.UTC).timestamp()
TODAY = dt.date(2030, 3, 1)


@pytest.fixture
async def host(tmp_path: Any) -> AsyncIterator[ServiceHost]:
    settings = Settings(data_dir=tmp_path, mode="embedded", env="test", jwt_secret="s" * 40)
    built = allocator_app.build(settings, bus=MemoryBus(), hold_ttl_s=600)
    clock = [NOW]
    built.state["promising"].clock = lambda: clock[0]
    built.state["clock"] = clock
    await built.start(consume=False)
    yield built
    await built.stop()


LINE = {"order_id": "O1", "line_id": "1", "customer_id": "C", "customer_source": None, "customer_key": "C",
        "sku": "SKU", "site": "S1", "quantity": 2.0, "requested_date": TODAY, "ordered_at": NOW, "status": "open"}  # fmt: skip


def request(key: str, quantity: int, *, sku: str = "SKU", day: int = 0, **extra: Any) -> PromiseRequest:
    return PromiseRequest(idempotency_key=key, customer_id="C", sku=sku, site="S1", quantity=quantity,
                          requested_date=TODAY + dt.timedelta(days=day), **extra)  # fmt: skip


async def version_of(host: ServiceHost, sku: str = "SKU", site: str = "S1") -> int | None:
    async with host.db.read() as session:
        query = select(store.stock_points.c.version).where(
            store.stock_points.c.sku == sku, store.stock_points.c.site == site
        )
        return (await session.execute(query)).scalar()


async def stored_state(host: ServiceHost, sku: str = "SKU") -> PointState:
    async with host.db.read() as session:
        return await read_state(session, sku, "S1")


def test_next_version_wraps_inside_a_postgresql_integer() -> None:
    assert next_version(0) == 1 and next_version(41) == 42
    assert next_version(VERSION_MODULUS - 1) == 0 and VERSION_MODULUS - 1 <= 2**31 - 1


def test_cache_is_valid_only_one_version_later_and_bounded() -> None:
    cache = PointCache(max_points=2)
    state = PointState(5.0, {}, {})
    cache.put("A", "S", 7, state)
    assert cache.valid_before("A", "S", 8) is state
    assert cache.valid_before("A", "S", 7) is None and cache.valid_before("A", "S", 9) is None
    cache.put("B", "S", VERSION_MODULUS - 1, state)
    assert cache.valid_before("B", "S", 0) is state  # the version wrapped
    cache.put("C", "S", 1, state)
    assert len(cache) == 2 and cache.valid_before("A", "S", 8) is None  # the oldest went first


def test_with_reserved_adds_takes_away_and_drops_empty_totals() -> None:
    day0, day1 = TODAY, TODAY + dt.timedelta(days=1)
    state = PointState(10.0, {day1: 4.0}, {day0: 1.0}, next_expiry=500.0)
    held = state.with_reserved("gold", [(day0, 2.0), (day1, 3.0), (day0, 1.0)], expires_at=300.0)
    assert held.reserved == {("gold", day0): 3.0, ("gold", day1): 3.0} and held.next_expiry == 300.0
    assert state.reserved == {}  # immutable: the old state is untouched
    back = held.with_reserved("gold", [(day0, 3.0), (day1, 1.0)], sign=-1.0)
    assert back.reserved == {("gold", day1): 2.0} and back.next_expiry == 300.0
    picture = back.with_reserved(None, [(day0, 1.0)]).picture("SKU", "S1", TODAY)
    assert picture.reserved_by_segment == {"gold": 2.0}  # no segment is not a segment
    assert picture.reservations[:2].tolist() == [1.0, 2.0] and picture.orders[0] == 1.0
    assert picture.receipts[1] == 4.0 and picture.on_hand == 10.0


async def test_every_writer_of_the_picture_bumps_the_version(host: ServiceHost) -> None:
    steps: list[tuple[str, Any]] = [
        ("position", lambda s: store_supply.set_position(s, "SKU", "S1", 10, NOW)),
        ("receipt", lambda s: store_supply.set_receipt(s, "R1", "SKU", "S1", 5, TODAY, False)),
        ("order line", lambda s: store_supply.set_order_line(s, LINE)),
        ("cancel", lambda s: store_supply.cancel_order_line(s, "O1", "1", 1.0)),
        ("lock", lambda s: store_points.lock_point(s, "SKU", "S1")),
    ]
    before = None
    for name, write in steps:
        async with host.db.unit_of_work() as session:
            await write(session)
        after = await version_of(host)
        assert after is not None and after != before, name
        before = after
    async with host.db.unit_of_work() as session:  # a stale position changes nothing
        await store_supply.set_position(session, "SKU", "S1", 3, NOW - 10)
    assert await version_of(host) == before


async def test_moving_a_receipt_or_a_line_bumps_both_sku_sites(host: ServiceHost) -> None:
    async with host.db.unit_of_work() as session:
        await store_supply.set_receipt(session, "R1", "A", "S1", 5, TODAY, False)
    old_a, old_b = await version_of(host, "A"), await version_of(host, "B")
    async with host.db.unit_of_work() as session:
        await store_supply.set_receipt(session, "R1", "B", "S1", 5, TODAY, False)
    assert await version_of(host, "A") != old_a and old_b is None and await version_of(host, "B") is not None


async def test_cached_state_equals_the_stored_state_after_promises(host: ServiceHost) -> None:
    promising: Promising = host.state["promising"]
    async with host.db.unit_of_work() as session:
        await store_supply.set_position(session, "SKU", "S1", 20, NOW)
        await store_supply.set_receipt(session, "R1", "SKU", "S1", 10, TODAY + dt.timedelta(days=3), False)
    for i, (quantity, day) in enumerate([(4, 0), (7, 1), (12, 2), (9, 5), (3, 0)]):
        await promising.promise(request(f"k{i}", quantity, day=day))
    version = await version_of(host)
    assert version is not None
    cached = promising.cache.valid_before("SKU", "S1", next_version(version))
    assert cached is not None and cached == await stored_state(host)
    # independent total: 30 units of supply, asked 35 -> exactly 30 held
    assert sum(cached.reserved.values()) == 30.0


async def test_an_outside_write_is_seen_by_the_next_promise(host: ServiceHost) -> None:
    promising: Promising = host.state["promising"]
    async with host.db.unit_of_work() as session:
        await store_supply.set_position(session, "SKU", "S1", 10, NOW)
    first = await promising.promise(request("a", 4))
    assert first["confirmed"] == 4
    async with host.db.unit_of_work() as session:  # e.g. an inventory event: stock drops to 5
        await store_supply.set_position(session, "SKU", "S1", 5, NOW + 1)
    second = await promising.promise(request("b", 4))
    assert second["confirmed"] == 1  # 5 on hand - 4 held, not 10 - 4 from a stale picture


async def test_an_overdue_hold_is_released_by_the_next_promise(host: ServiceHost) -> None:
    promising: Promising = host.state["promising"]
    async with host.db.unit_of_work() as session:
        await store_supply.set_position(session, "SKU", "S1", 10, NOW)
    held = await promising.promise(request("a", 10))
    assert held["confirmed"] == 10
    assert (await promising.promise(request("b", 3)))["confirmed"] == 0
    host.state["clock"][0] = NOW + 601  # past the 600 s hold; the worker has not run
    assert (await promising.promise(request("c", 3)))["confirmed"] == 3
    assert (await promising.get(held["promise_id"]))["status"] == "expired"
    assert await stored_state(host) == promising.cache.valid_before(
        "SKU", "S1", next_version(await version_of(host) or 0)
    )


async def test_a_warm_promise_runs_the_handful_of_statements(host: ServiceHost) -> None:
    promising: Promising = host.state["promising"]
    async with host.db.unit_of_work() as session:
        await store_supply.set_position(session, "SKU", "S1", 100, NOW)
    await promising.promise(request("warm", 1))
    await host.relay.stop()  # only the promise's own statements are counted
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.split()[0].upper())

    event.listen(host.db.engine.sync_engine, "before_cursor_execute", count)
    try:
        await promising.promise(request("counted", 1))
    finally:
        event.remove(host.db.engine.sync_engine, "before_cursor_execute", count)
    # lock-and-bump, stored keys, customers, insert promise, reserved totals, outbox (DESIGN: "a handful")
    assert len(statements) <= 6, statements
    assert statements.count("SELECT") == 2 and statements[0] == "INSERT"
