"""Contract events the allocator consumes, built for tests (shared by unit, integration and e2e tests)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from contracts import topics
from contracts.envelope import new_envelope, to_headers
from contracts.erp import InventoryPosition, InventoryReceiptScheduled, OrderLinePlaced
from contracts.mdm import CustomerUpserted
from contracts.segments import SegmentAssigned, ServicePolicy

Message = tuple[str, bytes, bytes, list[tuple[str, bytes]]]
T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def _message(topic: str, key: str, type_: str, payload: Any, source: str) -> Message:
    env = new_envelope(source=source, type=type_, subject=key, payload=payload, id=str(uuid.uuid4()))
    assert env.data is not None
    return topic, key.encode(), env.data, to_headers(env)


def position(sku: str, site: str, on_hand: float, minute: int = 0) -> Message:
    event = InventoryPosition(
        sku=sku, site=site, on_hand=on_hand, unit="EA", as_of=T0 + dt.timedelta(minutes=minute)
    )
    return _message(topics.WMS_INVENTORY, f"{sku}@{site}", event.EVENT_TYPE, event, "wms/test")


def receipt(receipt_id: str, sku: str, site: str, quantity: float, due: dt.date) -> Message:
    event = InventoryReceiptScheduled(
        receipt_id=receipt_id, sku=sku, site=site, quantity=quantity, unit="EA", due_date=due
    )
    return _message(topics.WMS_INVENTORY, f"{sku}@{site}", event.EVENT_TYPE, event, "wms/test")


def order_line(
    order_id: str, customer: str, sku: str, site: str, quantity: float, due: dt.date, source: str = "test"
) -> Message:
    event = OrderLinePlaced(
        order_id=order_id, line_id="1", customer_id=customer, customer_source=source, sku=sku, site=site,
        quantity=quantity, unit="EA", unit_price=1.0, currency="EUR", requested_date=due, ordered_at=T0,
    )  # fmt: skip
    return _message(topics.ERP_ORDERS, order_id, event.EVENT_TYPE, event, "erp/test")


def golden(customer: str, source: str = "test") -> str:
    """The golden id the classifier assigns to a customer without GLN/DUNS/VAT: ``src:<source>:<id>``."""
    return f"src:{source}:{customer}"


def assignment(
    customer: str, segment: str, tier: int, strategy: str, region: str | None = None, *, entity_id: str = ""
) -> Message:
    """A classifier assignment of the test-source customer ``customer`` (keyed by its golden id)."""
    entity_id = entity_id or golden(customer)
    event = SegmentAssigned(
        dimension="customer", entity_id=entity_id, segment=segment, tier=tier, region=region,
        service_policy=ServicePolicy(
            service_level_type="cycle", service_level_target=0.95, otif_target=0.9, promise_lead_time_days=1,
            backorder_strategy=strategy,  # type: ignore[arg-type]
        ),
        ruleset_version="t-1", ruleset_hash="0" * 64, valid_from=T0,
    )  # fmt: skip
    return _message(
        topics.SEGMENTS_ASSIGNMENTS, f"customer:{entity_id}", event.EVENT_TYPE, event, "segflow/test"
    )


def customer_record(source: str, source_id: str, *, gln: str | None = None) -> Message:
    """A master-data customer record (mdm.customers)."""
    event = CustomerUpserted(
        source=source, source_id=source_id, name=f"Customer {source_id}", gln=gln, region="EU", country="DE",
        updated_at=T0,
    )  # fmt: skip
    return _message(topics.MDM_CUSTOMERS, f"{source}:{source_id}", event.EVENT_TYPE, event, "mdm/test")


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    """Poll ``check`` until true (a generous deadline, not a time limit on the behaviour)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)
