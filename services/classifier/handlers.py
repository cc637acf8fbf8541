"""Contract events -> master data, order-line state and demand buckets (never commits; PoisonRecord for
input that cannot be processed until master data arrives: unknown customer, product, unit or line)."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import Envelope
from contracts.erp import (
    InventoryReceiptScheduled,
    OrderLineCancelled,
    OrderLineChanged,
    OrderLinePlaced,
    ShipmentLineDelivered,
    ShipmentLineShipped,
)
from contracts.mdm import CustomerUpserted, ProductUpserted
from services.runtime.consumer import Handler, PoisonRecord

from . import store
from .local_segments import CONTRACT_FIELD, FIELD, unknown_segment_names
from .masterdata import MasterData, MasterDataBehind, ProductRef
from .measures import LineState, buffer_of
from .units import UnknownUnit, conversion_factor


class Handlers:
    """The classifier's handlers, sharing one master-data cache."""

    def __init__(self, master: MasterData) -> None:
        self.master = master

    async def _missing(self, what: str) -> Exception:
        """Unknown master data: wait (retried like an outage) while the master-data stream is behind,
        poison (DLQ, replayable) once it has caught up and the record is still unknown."""
        if await self.master.stream_behind():
            return MasterDataBehind(f"{what}: master-data stream not caught up yet")
        return PoisonRecord(f"{what}: no master data yet")

    def table(self) -> dict[str, Handler]:
        return {
            "segflow.customer.upserted": self.on_customer,
            "segflow.product.upserted": self.on_product,
            "segflow.order.line.placed": self.on_order_line,
            "segflow.order.line.changed": self.on_order_line,
            "segflow.order.line.cancelled": self.on_order_cancelled,
            "segflow.shipment.line.shipped": self.on_shipment,
            "segflow.shipment.line.delivered": self.on_shipment,
            "segflow.inventory.receipt.scheduled": self.on_receipt,
        }

    @staticmethod
    async def _segment_names(
        session: AsyncSession, kind: str, source: str, source_id: str, names: dict[str, str | None]
    ) -> None:
        """The record's segment names (field -> name; the contract already refused an invalid one): any
        unmappable one poisons the record (DLQ, replayable once the rule set's ``local_names`` knows it)."""
        problems = await unknown_segment_names(session, source, names)
        if problems:
            raise PoisonRecord(f"{kind} {source}:{source_id}: {'; '.join(problems)}")

    async def on_customer(self, session: AsyncSession, env: Envelope, event: BaseModel) -> None:
        assert isinstance(event, CustomerUpserted)
        floor = event.contract.min_segment if event.contract is not None else None
        names = {FIELD: event.local_segment, CONTRACT_FIELD: floor}
        await self._segment_names(session, "customer", event.source, event.source_id, names)
        try:
            await self.master.upsert_customer(session, event, event.local_segment, floor)
        except ValueError as error:
            raise PoisonRecord(f"customer {event.source}:{event.source_id}: {error}") from error

    async def on_product(self, session: AsyncSession, env: Envelope, event: BaseModel) -> None:
        assert isinstance(event, ProductUpserted)
        names = {FIELD: event.local_segment}
        await self._segment_names(session, "product", event.source, event.source_id, names)
        try:
            await self.master.upsert_product(session, event, event.local_segment)
        except ValueError as error:
            raise PoisonRecord(f"product {event.source}:{event.source_id}: {error}") from error

    async def _product(self, session: AsyncSession, source: str, sku: str) -> ProductRef:
        product = await self.master.product(session, source, sku)
        if product is None:
            raise await self._missing(f"unknown product {sku!r} (source {source})")
        return product

    @staticmethod
    def _factor(product: ProductRef, unit: str) -> float:
        try:
            return conversion_factor(unit, product.base_uom, product.conversions)
        except UnknownUnit as error:
            raise PoisonRecord(f"{error} ({product.golden_id})") from error

    async def on_order_line(self, session: AsyncSession, env: Envelope, event: BaseModel) -> None:
        assert isinstance(event, OrderLinePlaced | OrderLineChanged)
        customer = await self.master.customer(session, event.customer_source, event.customer_id)
        if customer is None:
            raise await self._missing(
                f"unknown customer {event.customer_id!r} (source {event.customer_source})"
            )
        product = await self._product(session, event.customer_source, event.sku)
        factor = self._factor(product, event.unit)
        cost = event.unit_cost if event.unit_cost is not None else product.unit_cost
        line = LineState(
            order_id=event.order_id,
            line_id=event.line_id,
            customer_id=customer.golden_id,
            product_id=product.golden_id,
            quantity=event.quantity * factor,
            unit_price=event.unit_price / factor,
            unit_cost=None if cost is None else cost / factor,
            ordered_at=event.ordered_at,
            promo=event.promo,
            project=event.project_id is not None,
        )
        kind = "change" if isinstance(event, OrderLineChanged) else "place"
        buffer_of(session).add(kind, line, event.ordered_at)

    async def on_order_cancelled(self, session: AsyncSession, env: Envelope, event: BaseModel) -> None:
        assert isinstance(event, OrderLineCancelled)
        key = (event.order_id, event.line_id)
        buffer = buffer_of(session)
        if not buffer.pending_line(key) and not await store.line_exists(session, *key):
            raise PoisonRecord(f"unknown order line {event.order_id}/{event.line_id}: not placed yet")
        quantity = None
        if event.quantity is not None and event.unit is not None:
            product = await self._product(session, event.customer_source, event.sku)
            quantity = event.quantity * self._factor(product, event.unit)
        buffer.add("cancel", (key, quantity), event.cancelled_at)

    async def on_shipment(self, session: AsyncSession, env: Envelope, event: BaseModel) -> None:
        assert isinstance(event, ShipmentLineShipped | ShipmentLineDelivered)
        if isinstance(event, ShipmentLineDelivered):
            return  # shipped quantity is counted once, when it leaves the site (delivered: OTIF is policy's)
        product = await self._product(session, event.customer_source or "", event.sku)
        quantity = event.quantity * self._factor(product, event.unit)
        customer_id = ""
        if event.customer_id and event.customer_source:
            customer = await self.master.customer(session, event.customer_source, event.customer_id)
            customer_id = customer.golden_id if customer else ""
        key = (event.order_id, event.line_id)
        buffer_of(session).add(
            "ship", (key, customer_id, product.golden_id, quantity, event.shipped_at), event.shipped_at
        )

    async def on_receipt(self, session: AsyncSession, env: Envelope, event: BaseModel) -> None:
        assert isinstance(event, InventoryReceiptScheduled)
        if event.supplier_id is None:
            return
        await store.save_receipt(
            session,
            {
                "receipt_id": event.receipt_id,
                "supplier_id": event.supplier_id,
                "sku": event.sku,
                "due_date": event.due_date.isoformat(),
                "scheduled_date": event.scheduled_date.isoformat() if event.scheduled_date else None,
                "ordered_date": event.ordered_date.isoformat() if event.ordered_date else None,
                "received_date": event.received_date.isoformat() if event.received_date else None,
            },
        )
