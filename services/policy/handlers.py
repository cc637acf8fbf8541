"""Contract events -> the policy service's inputs: order lines (demand, KPI lines), shipments, receipts
(lead times), positions (turns), product master data (lead time, cost, ERP MRP values), product segment
assignments (service policy) and promises (promised dates). Handlers never commit.

Every handler that changes a KPI line (order lines, cancellations, shipments, promises) queues its order
for the incremental KPI evaluation (store.mark_kpi_dirty), in the same transaction. Writes that nothing reads
back within the transaction (order lines, shipments, positions, marks) are buffered and written at its
commit, one statement per table (services.policy.pending); the product is read once per transaction.
A transaction that writes a KPI input table (order lines, shipments, promises, assignments, products,
positions) also bumps that table's change counter at its commit (the store marks it: services.policy.versions).

Quantities are normalised to the product's base unit when master data knows the product; an order in a
unit the known product cannot convert is poison (dead-lettered with the reason, replayable later).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.allocation import PromiseChanged, PromiseMade, PromiseReleased
from contracts.envelope import Envelope
from contracts.erp import (
    InventoryPosition,
    InventoryReceiptScheduled,
    OrderLineCancelled,
    OrderLineChanged,
    OrderLinePlaced,
    ShipmentLineDelivered,
    ShipmentLineShipped,
)
from contracts.mdm import ProductUpserted
from contracts.segments import SegmentAssigned, SegmentChanged
from services.policy import store
from services.runtime.consumer import PoisonRecord


async def to_base_units(session: AsyncSession, sku: str, quantity: float, unit: str) -> float:
    """quantity in the product's base unit: x conversions[unit]; unknown products keep their quantity."""
    known = await store.product(session, sku)
    if known is None or unit == known.base_uom:
        return quantity
    factor = dict(known.conversions).get(unit)
    if factor is None:
        raise PoisonRecord(f"unit {unit} of product {sku} has no conversion to {known.base_uom}")
    return quantity * float(factor)


async def on_order_line(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
    """order.line.placed / changed: the line's full current state."""
    assert isinstance(event, OrderLinePlaced | OrderLineChanged)
    await store.save_order_line(
        session,
        {
            "order_id": event.order_id,
            "line_id": event.line_id,
            "sku": event.sku,
            "site": event.site,
            "customer_id": event.customer_id,
            "region": event.region,
            "quantity": await to_base_units(session, event.sku, event.quantity, event.unit),
            "cancelled_quantity": 0.0,
            "requested_date": event.requested_date,
            "promised_date": event.promised_date,
            "ordered_at": event.ordered_at,
            "ordered_week": store.week_of(event.ordered_at.astimezone(UTC).date()),
        },
    )
    await store.mark_kpi_dirty(session, event.order_id, env.id)


async def on_order_cancelled(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
    assert isinstance(event, OrderLineCancelled)
    quantity = None
    if event.quantity is not None and event.unit is not None:
        quantity = await to_base_units(session, event.sku, event.quantity, event.unit)
    if not await store.cancel_order_line(session, event.order_id, event.line_id, quantity):
        raise PoisonRecord(f"cancellation of unknown order line {event.order_id}/{event.line_id}")
    await store.mark_kpi_dirty(session, event.order_id, env.id)


async def on_shipment(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
    """shipment.line.shipped / delivered merged per (order, line, shipment)."""
    assert isinstance(event, ShipmentLineShipped | ShipmentLineDelivered)
    quantity = await to_base_units(session, event.sku, event.quantity, event.unit)
    delivered = isinstance(event, ShipmentLineDelivered)
    await store.save_shipment(
        session,
        {
            "order_id": event.order_id,
            "line_id": event.line_id,
            "shipment_key": event.shipment_id or "-",
            "sku": event.sku,
            "site": event.site,
            "customer_id": event.customer_id,
            "shipped_quantity": None if delivered else quantity,
            "delivered_quantity": quantity if delivered else None,
            "delivered_date": (
                event.delivered_at.astimezone(UTC).date()
                if isinstance(event, ShipmentLineDelivered)
                else None
            ),
            "scheduled_date": event.scheduled_date,
            "freight_cost": event.freight_cost,
            "handling_cost": event.handling_cost,
        },
    )
    await store.mark_kpi_dirty(session, event.order_id, env.id)


async def on_receipt(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
    assert isinstance(event, InventoryReceiptScheduled)
    await store.save_receipt(
        session,
        {
            "receipt_id": event.receipt_id,
            "sku": event.sku,
            "site": event.site,
            "ordered_date": event.ordered_date,
            "scheduled_date": event.scheduled_date,
            "due_date": event.due_date,
            "received_date": event.received_date,
        },
    )


async def on_position(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
    assert isinstance(event, InventoryPosition)
    on_hand = await to_base_units(session, event.sku, event.on_hand, event.unit)
    await store.save_position(
        session, {"sku": event.sku, "site": event.site, "as_of": event.as_of, "on_hand": on_hand}
    )


async def on_product(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
    """product.upserted: the sku is the record's source id (as in order lines)."""
    assert isinstance(event, ProductUpserted)
    await store.save_product(
        session,
        {
            "sku": event.source_id,
            "source": event.source,
            "base_uom": event.base_uom,
            "conversions": dict(event.uom_conversions),
            "lead_time_days": event.lead_time_days,
            "lead_time_std_days": event.lead_time_std_days,
            "unit_cost": event.unit_cost,
            "erp_safety_stock": event.erp_safety_stock,
            "erp_reorder_point": event.erp_reorder_point,
            "updated_at": event.updated_at,
            "category": event.category,
        },
    )


async def on_assigned(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
    """segment.assigned of dimension product: the sku's segment and service policy (others ignored)."""
    assert isinstance(event, SegmentAssigned)
    if event.dimension != "product":
        return
    policy = event.service_policy
    await store.save_assignment(
        session,
        {
            "entity_id": event.entity_id,
            "segment": event.segment,
            "tier": event.tier,
            "service_level_type": policy.service_level_type,
            "service_level_target": policy.service_level_target,
            "otif_target": policy.otif_target,
            "pattern": event.pattern,
            "valid_from": event.valid_from,
        },
    )


async def on_promise(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
    """promise.made / changed: promised date = the last confirmation date; released keeps that date."""
    assert isinstance(event, PromiseMade | PromiseChanged | PromiseReleased)
    values: dict[str, object] = {
        "promise_id": event.promise_id,
        "order_id": event.order_id,
        "sku": event.sku,
        "released": isinstance(event, PromiseReleased),
    }
    if not isinstance(event, PromiseReleased):  # a consumed promise keeps the date it promised
        values["promised_date"] = event.confirmations[-1].date if event.confirmations else None
    await store.save_promise(session, values)
    if event.order_id is not None:
        await store.mark_kpi_dirty(session, event.order_id, env.id)


async def on_segment_changed(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
    """segment.changed: kept per (run, dimension, entity) for the cohort analysis (no run id -> "-")."""
    assert isinstance(event, SegmentChanged)
    await store.save_segment_change(
        session,
        {
            "run_id": event.run_id or NO_RUN,
            "dimension": event.dimension,
            "entity_id": event.entity_id,
            "old_segment": event.old_segment,
            "new_segment": event.new_segment,
            "changed_at": event.changed_at,
        },
    )


NO_RUN = "-"
HANDLERS = {
    "segflow.order.line.placed": on_order_line,
    "segflow.order.line.changed": on_order_line,
    "segflow.order.line.cancelled": on_order_cancelled,
    "segflow.shipment.line.shipped": on_shipment,
    "segflow.shipment.line.delivered": on_shipment,
    "segflow.inventory.receipt.scheduled": on_receipt,
    "segflow.inventory.position": on_position,
    "segflow.product.upserted": on_product,
    "segflow.segment.assigned": on_assigned,
    "segflow.segment.changed": on_segment_changed,
    "segflow.promise.made": on_promise,
    "segflow.promise.changed": on_promise,
    "segflow.promise.released": on_promise,
}
SHIPMENT_TYPES = frozenset({"segflow.shipment.line.shipped", "segflow.shipment.line.delivered"})


def delivery_date(event: BaseModel) -> date | None:
    """The (UTC) delivery date of a shipment.line.delivered event (the KPI data clock), else None."""
    return event.delivered_at.astimezone(UTC).date() if isinstance(event, ShipmentLineDelivered) else None


def now() -> datetime:
    return datetime.now(UTC)
