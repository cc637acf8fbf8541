"""A seeded workload for the real chain (classifier, policy, audit): master data, then a stream of order
lines, shipments and inventory positions, as Kafka records with deterministic event ids.

- ``master_data(customers, products)``: one ``customer.upserted`` per customer and one ``product.upserted``
  per product (source ``bench``, base unit EA with a CS = 12 EA conversion), keyed ``source:id``.
- ``stream(seed, n, ...)``: item ``i`` is an order line (70%), a shipment of an earlier line of this stream
  (15%) or an inventory position (15%), drawn with ``random.Random(seed)``; order lines are keyed by
  order id, shipments by the shipped order's id, inventory by ``sku@site`` (the catalog's keys). Order
  times spread over a year so the classifier has demand buckets to classify.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from contracts import topics
from contracts.envelope import deterministic_id, new_envelope, to_headers
from contracts.erp import InventoryPosition, OrderLinePlaced, ShipmentLineShipped
from contracts.mdm import CustomerUpserted, ProductUpserted

SOURCE = "bench"
SITE = "S1"
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
ORDER_SHARE, SHIPMENT_SHARE = 0.70, 0.15


@dataclass(frozen=True)
class Item:
    """One record of the workload: its topic, key, value, headers, event id and kind."""

    kind: str  # customer | product | order | shipment | inventory
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    event_id: str


def _item(kind: str, topic: str, key: str, payload: object, subject: str, at: datetime, rid: str) -> Item:
    event_type = type(payload).EVENT_TYPE  # type: ignore[attr-defined]
    env = new_envelope(
        source=f"erp/{SOURCE}", type=event_type, subject=subject, payload=payload,  # type: ignore[arg-type]
        id=deterministic_id(SOURCE, rid), time=at,
    )  # fmt: skip
    assert env.data is not None
    return Item(kind, topic, key.encode(), env.data, to_headers(env), env.id)


def customer_id(n: int) -> str:
    return f"C{n:04d}"


def sku(n: int) -> str:
    return f"P{n:04d}"


def master_data(customers: int, products: int) -> list[Item]:
    items = []
    for n in range(customers):
        event = CustomerUpserted(
            source=SOURCE, source_id=customer_id(n), name=f"Customer {n}", region=("EU", "US")[n % 2],
            country=("DE", "US")[n % 2], strategic=n % 10 == 0, updated_at=EPOCH,
        )  # fmt: skip
        key = f"{SOURCE}:{customer_id(n)}"
        items.append(_item("customer", topics.MDM_CUSTOMERS, key, event, key, EPOCH, f"cust:{n}"))
    for n in range(products):
        price = round(1.0 + (n * 37 % 100) / 4, 2)
        event_p = ProductUpserted(
            source=SOURCE, source_id=sku(n), name=f"Product {n}", base_uom="EA", uom_conversions={"EA": 1, "CS": 12},
            lifecycle="active", category=f"cat{n % 5}", lead_time_days=7 + n % 14, unit_cost=round(price * 0.6, 2),
            list_price=price, currency="EUR", updated_at=EPOCH,
        )  # fmt: skip
        key = f"{SOURCE}:{sku(n)}"
        items.append(_item("product", topics.MDM_PRODUCTS, key, event_p, key, EPOCH, f"prod:{n}"))
    return items


def order_line(n: int, customer: int, product: int, quantity: int) -> Item:
    at = EPOCH + timedelta(days=n % 364, minutes=n % 1440)
    order = f"O{n}"
    event = OrderLinePlaced(
        order_id=order, line_id="1", customer_id=customer_id(customer), customer_source=SOURCE, sku=sku(product),
        site=SITE, quantity=float(quantity), unit="EA", unit_price=round(1.0 + product % 25, 2), currency="EUR",
        requested_date=(at + timedelta(days=3)).date(), ordered_at=at,
    )  # fmt: skip
    return _item("order", topics.ERP_ORDERS, order, event, order, at, f"order:{n}")


def stream(seed: int, n: int, *, customers: int, products: int, first: int = 0) -> list[Item]:
    """``n`` records numbered ``first..first+n-1``: orders, shipments of earlier orders, inventory."""
    rng = random.Random(seed)
    items: list[Item] = []
    placed: list[tuple[int, int, int]] = []  # (order n, product, quantity) not yet shipped
    for i in range(first, first + n):
        draw = rng.random()
        if draw < ORDER_SHARE or (draw < ORDER_SHARE + SHIPMENT_SHARE and not placed):
            product = min(int(rng.paretovariate(1.2)) - 1, products - 1)
            quantity = rng.randint(1, 20)
            items.append(order_line(i, rng.randrange(customers), product, quantity))
            placed.append((i, product, quantity))
        elif draw < ORDER_SHARE + SHIPMENT_SHARE:
            order_n, product, quantity = placed.pop(rng.randrange(len(placed)))
            at = EPOCH + timedelta(days=order_n % 364 + 2)
            event = ShipmentLineShipped(
                order_id=f"O{order_n}", line_id="1", shipment_id=f"SH{i}", customer_id=None,
                customer_source=SOURCE, sku=sku(product), site=SITE, quantity=float(quantity), unit="EA",
                shipped_at=at,
            )  # fmt: skip
            items.append(
                _item("shipment", topics.WMS_SHIPMENTS, f"O{order_n}", event, f"O{order_n}", at, f"ship:{i}")
            )
        else:
            product = rng.randrange(products)
            at = EPOCH + timedelta(minutes=i)
            inv = InventoryPosition(
                sku=sku(product), site=SITE, on_hand=float(rng.randint(0, 500)), unit="EA", as_of=at
            )
            key = f"{sku(product)}@{SITE}"
            items.append(_item("inventory", topics.WMS_INVENTORY, key, inv, key, at, f"inv:{i}"))
    return items
