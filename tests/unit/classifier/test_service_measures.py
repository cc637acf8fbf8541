"""Embedded classifier (MemoryBus + SQLite): master data, unit normalisation, event-time buckets,
changes and cancellations, missing cost, DLQ for unknown master data and its replay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from contracts import topics
from services.classifier import app, store
from services.classifier.domain.periods import month_index, week_index
from services.runtime.bus.memory import MemoryBus
from services.runtime.consumer import replay_dlq
from services.runtime.settings import Settings

from .service_support import cancel, change, customer, day, eventually, place, product


@pytest.fixture
async def service(tmp_path) -> AsyncIterator[tuple[Any, MemoryBus]]:  # type: ignore[no-untyped-def]
    bus = MemoryBus()
    host = app.build(Settings(data_dir=tmp_path, mode="embedded"), bus=bus)
    host.state["scheduler"] = False
    await host.start()
    try:
        yield host, bus
    finally:
        await host.stop()


async def buckets(host: Any, dimension: str, grain: str) -> dict[tuple[str, int], Any]:
    async with host.db.read() as session:
        rows = (
            await session.execute(
                select(store.demand_buckets).where(
                    store.demand_buckets.c.dimension == dimension, store.demand_buckets.c.grain == grain
                )
            )
        ).all()
    return {(r.entity_id, r.period): r for r in rows}


async def processed(host: Any, count: int) -> None:
    async def done() -> bool:
        return sum(c.processed_count for c in host.consumers) >= count

    await eventually(done)


async def test_orders_normalised_and_bucketed_by_event_time(service: tuple[Any, MemoryBus]) -> None:
    host, bus = service
    await customer(bus, "C1")
    await product(bus, "P1", uom_conversions={"CS": 12}, base_uom="EA")
    await processed(host, 2)
    await place(
        bus,
        order_id="O1",
        line_id="1",
        customer_id="C1",
        sku="P1",
        quantity=2,
        price=24.0,
        at=day(2024, 3, 5),
        unit="CS",
        cost=12.0,
    )  # 2 CS = 24 EA at 2.00/EA, cost 1.00/EA
    await place(
        bus, order_id="O2", line_id="1", customer_id="C1", sku="P1", quantity=5, price=2.0, at=day(2024, 4, 2)
    )
    # a late event: placed after April's order but dated in January -> January's own bucket
    await place(
        bus,
        order_id="O0",
        line_id="1",
        customer_id="C1",
        sku="P1",
        quantity=1,
        price=2.0,
        at=day(2024, 1, 10),
        cost=1.0,
    )
    await processed(host, 5)
    months = await buckets(host, "product", "month")
    p1 = "src:SAP-EU:P1"
    assert months[(p1, month_index(day(2024, 3, 5).date()))].quantity == 24
    assert months[(p1, month_index(day(2024, 3, 5).date()))].revenue == pytest.approx(48.0)
    assert months[(p1, month_index(day(2024, 3, 5).date()))].margin == pytest.approx(24.0)
    assert months[(p1, month_index(day(2024, 4, 2).date()))].missing_cost_lines == 1  # cost missing: flag
    assert months[(p1, month_index(day(2024, 4, 2).date()))].margin == 0  # nothing added, not a fake margin
    assert months[(p1, month_index(day(2024, 1, 10).date()))].quantity == 1
    weeks = await buckets(host, "customer", "week")
    assert weeks[("src:SAP-EU:C1", week_index(day(2024, 1, 10).date()))].lines == 1
    pairs = await buckets(host, "customer_product", "month")
    assert sum(r.quantity for r in pairs.values()) == 30

    # a change moves the line to a new date and quantity; a partial cancel then takes 1 CS off it
    await change(
        bus,
        changed_at=day(2024, 5, 1),
        order_id="O1",
        line_id="1",
        customer_id="C1",
        sku="P1",
        quantity=3,
        price=24.0,
        at=day(2024, 5, 1),
        unit="CS",
        cost=12.0,
    )
    await cancel(bus, "O1", "1", "C1", "P1", day(2024, 5, 2), quantity=1, unit="CS")
    await processed(host, 7)
    months = await buckets(host, "product", "month")
    assert months[(p1, month_index(day(2024, 3, 5).date()))].quantity == 0
    assert months[(p1, month_index(day(2024, 3, 5).date()))].lines == 0
    assert months[(p1, month_index(day(2024, 5, 1).date()))].quantity == 24  # 3 CS - 1 CS = 24 EA
    assert months[(p1, month_index(day(2024, 5, 1).date()))].revenue == pytest.approx(48.0)
    await cancel(bus, "O2", "1", "C1", "P1", day(2024, 5, 3))  # full cancellation
    await processed(host, 8)
    months = await buckets(host, "product", "month")
    assert months[(p1, month_index(day(2024, 4, 2).date()))].quantity == 0
    assert months[(p1, month_index(day(2024, 4, 2).date()))].missing_cost_lines == 0


async def test_unknown_master_data_and_units_are_dead_lettered_then_replayed(
    service: tuple[Any, MemoryBus],
) -> None:
    host, bus = service
    await customer(bus, "C1")
    await product(bus, "P1")
    await processed(host, 2)
    await place(
        bus, order_id="O1", line_id="1", customer_id="C2", sku="P1", quantity=1, price=1.0, at=day(2024, 1, 2)
    )  # unknown customer
    await place(
        bus, order_id="O2", line_id="1", customer_id="C1", sku="P9", quantity=1, price=1.0, at=day(2024, 1, 2)
    )  # unknown product
    await place(
        bus,
        order_id="O3",
        line_id="1",
        customer_id="C1",
        sku="P1",
        quantity=1,
        price=1.0,
        at=day(2024, 1, 2),
        unit="CS",
    )  # P1 knows no CS
    await cancel(bus, "O404", "1", "C1", "P1", day(2024, 1, 3))  # a line never placed

    async def four_dead() -> bool:
        return len(await bus.read_all(topics.DLQ)) == 4

    await eventually(four_dead)
    errors = sorted((r.header("dlq_error") or b"").decode() for r in await bus.read_all(topics.DLQ))
    assert any("unknown customer 'C2'" in e for e in errors)
    assert any("unknown product 'P9'" in e for e in errors)
    assert any("'CS' cannot be converted" in e for e in errors)
    assert any("unknown order line O404/1" in e for e in errors)

    await customer(bus, "C2")
    await product(bus, "P9")
    await product(bus, "P1", uom_conversions={"CS": 6}, at=day(2024, 2, 1))  # newer record adds CS
    host.state["master"].forget()
    await processed(host, 5)
    assert await replay_dlq(bus, consumer="classifier") == 4

    async def replayed() -> bool:
        months = await buckets(host, "product", "month")
        return sum(r.lines for r in months.values()) == 3

    await eventually(replayed)
    months = await buckets(host, "product", "month")
    january = month_index(day(2024, 1, 2).date())
    assert months[("src:SAP-EU:P1", january)].quantity == 1 + 6  # O1: 1 EA; O3: 1 CS = 6 EA
    assert months[("src:SAP-EU:P9", january)].quantity == 1
    assert len(await bus.read_all(topics.DLQ)) == 5  # only the never-placed line failed again


async def test_golden_record_survivorship_across_sources(service: tuple[Any, MemoryBus]) -> None:
    host, bus = service
    gln = "4012345000009"  # valid GS1 check digit
    await customer(
        bus, "100", source="online-retail", gln=gln, region="UK", account_owner="bob", at=day(2024, 3, 1)
    )
    await customer(
        bus,
        "C-77",
        source="SAP-EU",
        gln=gln,
        region="EU-West",
        at=day(2024, 1, 1),
        parents={"sales": "HQ-1"},
        partner_ids=["dhl-1"],
    )
    await processed(host, 2)
    async with host.db.read() as session:
        golden = await store.golden_customer(session, f"gln:{gln}")
    # SAP-EU outranks online-retail in the configured priority although its record is older
    assert golden.region == "EU-West"
    assert golden.account_owner == "bob"  # only online-retail has an owner
    assert golden.partner_ids == ["dhl-1"]
    assert golden.parents == {"sales": "src:SAP-EU:HQ-1"}
    await place(
        bus,
        order_id="O1",
        line_id="1",
        customer_id="100",
        sku="P1",
        quantity=1,
        price=1.0,
        at=day(2024, 1, 2),
    )  # customer_source is SAP-EU in the helper: "100" unknown there
    await product(bus, "P1")

    async def dead() -> bool:
        return len(await bus.read_all(topics.DLQ)) == 1

    await eventually(dead)
