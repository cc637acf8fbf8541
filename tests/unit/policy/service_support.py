"""Event builders and helpers shared by the policy service tests (embedded and real-broker)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel

from contracts import topics
from contracts.envelope import deterministic_id, new_envelope, to_headers
from contracts.erp import InventoryPosition, OrderLinePlaced, ShipmentLineDelivered
from contracts.mdm import ProductUpserted
from contracts.segments import SegmentAssigned, ServicePolicy
from services.policy import store, versions
from services.runtime.host import ServiceHost

Record = tuple[str, bytes, bytes, list[tuple[str, bytes]]]
MONDAY = date(2024, 1, 1)


def record(topic: str, key: str, kind: str, payload: BaseModel, record_key: str, at: datetime) -> Record:
    env = new_envelope(
        source="test/policy",
        type=kind,
        subject=key,
        payload=payload,
        id=deterministic_id("test/policy", record_key),
        time=at,
    )
    assert env.data is not None
    return topic, key.encode(), env.data, to_headers(env)


def order(
    order_id: str,
    sku: str,
    site: str,
    qty: float,
    day: date,
    requested: date | None = None,
    region: str | None = None,
    key: str | None = None,
) -> Record:
    at = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
    ev = OrderLinePlaced(
        order_id=order_id,
        line_id="1",
        customer_id="C1",
        customer_source="test",
        sku=sku,
        site=site,
        quantity=qty,
        unit="EA",
        unit_price=1.0,
        currency="EUR",
        requested_date=requested or day,
        ordered_at=at,
        region=region,
    )
    return record(topics.ERP_ORDERS, key or order_id, ev.EVENT_TYPE, ev, f"order:{order_id}", at)


def delivered(
    order_id: str,
    sku: str,
    site: str,
    qty: float,
    day: date,
    scheduled: date | None = None,
    freight: float | None = None,
    key: str | None = None,
) -> Record:
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    ev = ShipmentLineDelivered(
        order_id=order_id,
        line_id="1",
        sku=sku,
        site=site,
        quantity=qty,
        unit="EA",
        delivered_at=at,
        scheduled_date=scheduled,
        freight_cost=freight,
        currency="USD" if freight is not None else None,
    )
    return record(topics.WMS_SHIPMENTS, key or order_id, ev.EVENT_TYPE, ev, f"delivered:{order_id}", at)


def product(
    sku: str,
    lead_days: float,
    lead_std_days: float = 0.0,
    erp_ss: float | None = None,
    erp_rop: float | None = None,
    unit_cost: float | None = None,
) -> Record:
    at = datetime(2023, 12, 1, tzinfo=UTC)
    ev = ProductUpserted(
        source="test",
        source_id=sku,
        name=sku,
        base_uom="EA",
        uom_conversions={"CS": 12.0},
        lifecycle="active",
        category="c",
        lead_time_days=lead_days,
        lead_time_std_days=lead_std_days,
        erp_safety_stock=erp_ss,
        erp_reorder_point=erp_rop,
        unit_cost=unit_cost,
        currency="EUR" if unit_cost is not None else None,
        updated_at=at,
    )
    return record(topics.MDM_PRODUCTS, f"test:{sku}", ev.EVENT_TYPE, ev, f"product:{sku}", at)


def assigned(
    sku: str,
    segment: str,
    target: float = 0.95,
    otif: float = 0.9,
    kind: str = "cycle",
    event_key: str | None = None,
) -> Record:
    """segment.assigned of a product; ``event_key`` makes a later reassignment a new event (its own id)."""
    at = datetime(2023, 12, 1, tzinfo=UTC)
    ev = SegmentAssigned(
        dimension="product",
        entity_id=sku,
        segment=segment,
        tier=1,
        service_policy=ServicePolicy(
            service_level_type=kind,
            service_level_target=target,  # type: ignore[arg-type]
            otif_target=otif,
            promise_lead_time_days=2,
            backorder_strategy="fill",
        ),
        ruleset_version="v1",
        ruleset_hash="0" * 64,
        valid_from=at,
    )
    key = f"product:{sku}"
    return record(topics.SEGMENTS_ASSIGNMENTS, key, ev.EVENT_TYPE, ev, event_key or f"assigned:{sku}", at)


def position(sku: str, on_hand: float, at: datetime, site: str = "S1") -> Record:
    ev = InventoryPosition(sku=sku, site=site, on_hand=on_hand, unit="EA", as_of=at)
    key = f"{sku}@{site}"
    return record(topics.WMS_INVENTORY, key, ev.EVENT_TYPE, ev, f"pos:{key}:{at.isoformat()}", at)


def weekly_orders(sku: str, site: str, quantities: list[float], start: date = MONDAY) -> list[Record]:
    return [
        order(f"{sku}-{site}-{w}", sku, site, q, start + timedelta(weeks=w, days=1))
        for w, q in enumerate(quantities)
        if q > 0
    ]


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float = 120.0) -> None:
    """Poll until the predicate holds (a generous deadline, not a time limit on the behaviour)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)


async def counters(host: ServiceHost) -> dict[str, int]:
    """table name -> change counter (services.policy.versions), for every counted table."""
    async with host.db.read() as session:
        values = await store.data_versions_of(session, versions.COUNTED)
    return {t.name: v for t, v in zip(versions.COUNTED, values, strict=True)}
