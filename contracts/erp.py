"""Transactional events from ERP and WMS: order lines, shipments, inventory positions and receipts.

Quantities are positive and carry their UN/ECE Rec 20 unit (normalised to the product's base unit
by the consumer); money carries its ISO 4217 currency; ``unit_cost`` may be missing (margin is then
flagged, not zero); event times are timezone-aware.
"""

from __future__ import annotations

from datetime import date

from pydantic import AwareDatetime, Field, model_validator

from contracts.common import (
    Currency,
    EventModel,
    Finite,
    NonEmptyStr,
    NonNegative,
    PositiveQuantity,
    Text,
    UnitCode,
)


class _OrderLine(EventModel):
    """The state of one order line as the ERP knows it."""

    order_id: NonEmptyStr
    line_id: NonEmptyStr
    customer_id: NonEmptyStr = Field(description="the customer's id in customer_source (source-scoped)")
    customer_source: NonEmptyStr = Field(description="source system of customer_id, e.g. SAP-EU")
    sku: NonEmptyStr
    site: NonEmptyStr
    quantity: PositiveQuantity
    unit: UnitCode
    unit_price: NonNegative
    currency: Currency
    unit_cost: NonNegative | None = Field(default=None, description="missing cost -> margin flagged")
    requested_date: date
    promised_date: date | None = None
    ordered_at: AwareDatetime = Field(description="order date and time: the event time demand is bucketed by")
    channel: NonEmptyStr | None = None
    region: NonEmptyStr | None = None
    promo: bool = False
    project_id: NonEmptyStr | None = Field(default=None, description="set for a one-time project order")


class OrderLinePlaced(_OrderLine):
    """An order line was created."""

    EVENT_TYPE = "segflow.order.line.placed"


class OrderLineChanged(_OrderLine):
    """An order line changed (quantity, dates, price): carries the line's new full state."""

    EVENT_TYPE = "segflow.order.line.changed"

    changed_at: AwareDatetime
    change_reason: Text | None = None


class OrderLineCancelled(EventModel):
    """An order line was cancelled, fully or (with ``quantity``) partly."""

    EVENT_TYPE = "segflow.order.line.cancelled"

    order_id: NonEmptyStr
    line_id: NonEmptyStr
    customer_id: NonEmptyStr
    customer_source: NonEmptyStr
    sku: NonEmptyStr
    site: NonEmptyStr
    quantity: PositiveQuantity | None = Field(default=None, description="cancelled quantity; None = all")
    unit: UnitCode | None = None
    cancelled_at: AwareDatetime
    reason: Text | None = None

    @model_validator(mode="after")
    def _unit_with_quantity(self) -> OrderLineCancelled:
        if (self.quantity is None) != (self.unit is None):
            raise ValueError("quantity and unit must be given together")
        return self


class _ShipmentLine(EventModel):
    """One order line's shipment, with the logistics costs it caused."""

    order_id: NonEmptyStr
    line_id: NonEmptyStr
    shipment_id: NonEmptyStr | None = None
    customer_id: NonEmptyStr | None = None
    customer_source: NonEmptyStr | None = None
    sku: NonEmptyStr
    site: NonEmptyStr
    quantity: PositiveQuantity
    unit: UnitCode
    scheduled_date: date | None = Field(default=None, description="date the delivery was scheduled for")
    freight_cost: NonNegative | None = None
    handling_cost: NonNegative | None = None
    currency: Currency | None = None
    carrier: NonEmptyStr | None = None

    @model_validator(mode="after")
    def _currency_with_costs(self) -> _ShipmentLine:
        has_cost = self.freight_cost is not None or self.handling_cost is not None
        if has_cost and self.currency is None:
            raise ValueError("currency is required when freight_cost or handling_cost is given")
        return self


class ShipmentLineShipped(_ShipmentLine):
    """Goods for an order line left the site."""

    EVENT_TYPE = "segflow.shipment.line.shipped"

    shipped_at: AwareDatetime


class ShipmentLineDelivered(_ShipmentLine):
    """Goods for an order line reached the customer."""

    EVENT_TYPE = "segflow.shipment.line.delivered"

    delivered_at: AwareDatetime
    shipped_at: AwareDatetime | None = None


class InventoryPosition(EventModel):
    """On-hand stock of a sku at a site at a point in time (may be negative after a booking error)."""

    EVENT_TYPE = "segflow.inventory.position"

    sku: NonEmptyStr
    site: NonEmptyStr
    on_hand: Finite
    unit: UnitCode
    as_of: AwareDatetime


class InventoryReceiptScheduled(EventModel):
    """A scheduled (or, with ``received_date``, completed) receipt from a supplier or plant."""

    EVENT_TYPE = "segflow.inventory.receipt.scheduled"

    receipt_id: NonEmptyStr
    sku: NonEmptyStr
    site: NonEmptyStr
    quantity: PositiveQuantity
    unit: UnitCode
    due_date: date
    supplier_id: NonEmptyStr | None = None
    ordered_date: date | None = Field(default=None, description="purchase order date (lead-time start)")
    scheduled_date: date | None = Field(default=None, description="originally scheduled arrival")
    received_date: date | None = Field(default=None, description="actual arrival, once received")
