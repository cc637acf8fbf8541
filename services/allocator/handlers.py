"""Contract events -> the allocator's supply and demand picture.

wms.inventory: positions (newest ``as_of`` wins) and scheduled receipts (upserted by receipt id; a
received one leaves the schedule). erp.orders: open order lines (placed / changed / cancelled).
segments.assignments: each customer's segment, tier and backorder strategy (tombstone = retired), keyed
by golden customer id. mdm.customers: the source -> golden id crosswalk (contracts.identity: GLN > DUNS >
VAT > ``src:<source>:<id>``, as the classifier keys them), so an order line's customer (source-scoped in
the ERP event) is matched to its assignment; a line seen before its master data uses ``src:<source>:<id>``
and is re-keyed when the master data arrives.
A lower position, a smaller or later receipt, or more demand flags the sku@site for backorder
processing when it holds reservations (the worker re-confirms them).
"""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import Envelope
from contracts.erp import (
    InventoryPosition,
    InventoryReceiptScheduled,
    OrderLineCancelled,
    OrderLineChanged,
    OrderLinePlaced,
)
from contracts.identity import golden_customer_key
from contracts.mdm import CustomerUpserted
from contracts.segments import SegmentAssigned
from services.allocator import store_points, store_promises, store_reserved, store_supply
from services.allocator.promise_views import golden_customer_id
from services.runtime.bus.base import Record
from services.runtime.consumer import PoisonRecord


async def _flag_if_reserved(session: AsyncSession, sku: str, site: str) -> None:
    if await store_promises.points_with_promises(session, sku, site):
        store_points.mark_dirty(session, sku, site)


async def on_inventory_position(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
    assert isinstance(event, InventoryPosition)
    previous = await store_supply.set_position(
        session, event.sku, event.site, event.on_hand, event.as_of.timestamp()
    )
    if previous is not None and event.on_hand < previous:
        await _flag_if_reserved(session, event.sku, event.site)


async def on_receipt_scheduled(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
    assert isinstance(event, InventoryReceiptScheduled)
    received = event.received_date is not None
    previous = await store_supply.set_receipt(
        session, event.receipt_id, event.sku, event.site, event.quantity, event.due_date, received
    )
    if previous is None or previous.received or received:
        return
    moved = (previous.sku, previous.site) != (event.sku, event.site)
    if moved or event.quantity < previous.quantity or event.due_date > previous.due_date:
        await _flag_if_reserved(session, previous.sku, previous.site)


async def on_order_line(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
    assert isinstance(event, OrderLinePlaced | OrderLineChanged)
    golden = await golden_customer_id(session, event.customer_source, event.customer_id)
    await store_supply.set_order_line(
        session,
        {
            "order_id": event.order_id,
            "line_id": event.line_id,
            "customer_id": event.customer_id,
            "customer_source": event.customer_source,
            "customer_key": golden,
            "sku": event.sku,
            "site": event.site,
            "quantity": event.quantity,
            "requested_date": event.requested_date,
            "ordered_at": event.ordered_at.timestamp(),
            "status": "open",
        },
    )
    await _flag_if_reserved(session, event.sku, event.site)


async def on_order_cancelled(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
    assert isinstance(event, OrderLineCancelled)
    await store_supply.cancel_order_line(session, event.order_id, event.line_id, event.quantity)


async def on_customer_upserted(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
    """Crosswalk a source customer to its golden id (an invalid identifier can never be keyed: DLQ)."""
    assert isinstance(event, CustomerUpserted)
    try:
        golden = golden_customer_key(
            source=event.source, source_id=event.source_id, gln=event.gln, duns=event.duns, vat=event.vat,
            country=event.country,
        )  # fmt: skip
    except ValueError as error:
        raise PoisonRecord(f"customer {event.source}:{event.source_id}: {error}") from error
    await store_reserved.set_customer_source(session, event.source, event.source_id, golden)


async def on_segment_assigned(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
    assert isinstance(event, SegmentAssigned)
    if event.dimension != "customer":
        return
    await store_supply.set_customer(
        session,
        {
            "entity_id": event.entity_id,
            "segment": event.segment,
            "tier": event.tier,
            "strategy": event.service_policy.backorder_strategy,
            "region": event.region,
        },
    )


async def on_assignment_tombstone(session: AsyncSession, record: Record) -> None:
    """A compacted assignment's delete: ``customer:<id>`` is retired (its lines fall to the default tier)."""
    key = (record.key or b"").decode()
    dimension, _, entity_id = key.partition(":")
    if dimension == "customer" and entity_id:
        await store_supply.retire_customer(session, entity_id)


INVENTORY_HANDLERS = {
    InventoryPosition.EVENT_TYPE: on_inventory_position,
    InventoryReceiptScheduled.EVENT_TYPE: on_receipt_scheduled,
}
ORDER_HANDLERS = {
    OrderLinePlaced.EVENT_TYPE: on_order_line,
    OrderLineChanged.EVENT_TYPE: on_order_line,
    OrderLineCancelled.EVENT_TYPE: on_order_cancelled,
}
CUSTOMER_HANDLERS = {CustomerUpserted.EVENT_TYPE: on_customer_upserted}
ASSIGNMENT_HANDLERS = {SegmentAssigned.EVENT_TYPE: on_segment_assigned}
