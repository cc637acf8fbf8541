"""The ledger test service plus an applied-order log, for the fault suite (tests/chaos).

Same consumers, groups, outbox and state as ``tests.support.ledger``; the echo consumer additionally
appends one ``chaos_echo_log`` row per applied assignment (event id, product, the running quantity the
assignment carries) in the same transaction as its inbox claim. The checker reads the log to prove
per-key order (each product's running quantities arrive as the prefix sums of its order lines, in
publish order) and that no event id was applied twice. A third consumer ("ledger-facts") keeps the
master data and stock the workload also carries: per product the latest master version (product
upserts), per product the latest inventory position, and the shipped quantity (shipment lines); a record
older than the one already applied for its key counts as a regression (per-key order broken). Runnable
as a process:
``python -m tests.support.chaos_ledger`` (SIGTERM = clean stop; fault points via SEGFLOW_FAULT_*).
"""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC

from pydantic import BaseModel
from sqlalchemy import BigInteger, Column, Float, Integer, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import topics
from contracts.envelope import Envelope
from contracts.erp import InventoryPosition, ShipmentLineShipped
from contracts.mdm import ProductUpserted
from contracts.segments import SegmentAssigned
from services.runtime.bus.base import Bus
from services.runtime.db import Database
from services.runtime.host import ServiceHost
from services.runtime.settings import Settings
from tests.support import ledger

log_metadata = MetaData()
echo_log = Table(
    "chaos_echo_log",
    log_metadata,
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),  # deliberately not unique: the checker asserts it
    Column("entity_id", String(128), nullable=False),
    Column("running_quantity", Float, nullable=False),
)
# The facts consumer's state: one row per product in each table (counts prove exactly-once, the
# regression counters per-key order).
products = Table(
    "chaos_products",
    log_metadata,
    Column("sku", String(128), primary_key=True),
    Column("lifecycle", String(32), nullable=False),
    Column("list_price", Float, nullable=False),
    Column("updated_at", String(40), nullable=False),  # ISO-8601 UTC: sorts like the instant
    Column("versions", Integer, nullable=False),
    Column("regressions", Integer, nullable=False),
)
stock = Table(
    "chaos_stock",
    log_metadata,
    Column("sku", String(128), primary_key=True),
    Column("on_hand", Float, nullable=False),
    Column("as_of", String(40), nullable=False),
    Column("positions", Integer, nullable=False),
    Column("regressions", Integer, nullable=False),
)
shipped = Table(
    "chaos_shipped",
    log_metadata,
    Column("sku", String(128), primary_key=True),
    Column("quantity", Float, nullable=False),
    Column("lines", Integer, nullable=False),
)
RUNNING_PREFIX = "running quantity "


def running_quantity(event: SegmentAssigned) -> float:
    """The running total the ledger wrote into the assignment's reason ("running quantity <q>")."""
    reason = next(r for r in event.reasons if r.startswith(RUNNING_PREFIX))
    return float(reason.removeprefix(RUNNING_PREFIX))


async def on_assigned_logged(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
    assert isinstance(event, SegmentAssigned)
    await ledger.on_assigned(session, env, event)
    await session.execute(
        echo_log.insert().values(
            event_id=env.id, entity_id=event.entity_id, running_quantity=running_quantity(event)
        )
    )


async def on_product_upserted(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
    """Latest master version per product; an older ``updated_at`` than the stored one is a regression."""
    assert isinstance(event, ProductUpserted)
    stamp = event.updated_at.astimezone(UTC).isoformat()
    row = (await session.execute(select(products).where(products.c.sku == event.source_id))).first()
    if row is None:
        await session.execute(
            products.insert().values(
                sku=event.source_id, lifecycle=event.lifecycle, list_price=event.list_price or 0.0,
                updated_at=stamp, versions=1, regressions=0,
            )
        )  # fmt: skip
        return
    newer = stamp >= row.updated_at
    values = {"versions": row.versions + 1, "regressions": row.regressions + (0 if newer else 1)}
    if newer:
        values |= {"lifecycle": event.lifecycle, "list_price": event.list_price or 0.0, "updated_at": stamp}
    await session.execute(products.update().where(products.c.sku == event.source_id).values(**values))


async def on_inventory_position(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
    """Latest on-hand position per product; an older ``as_of`` than the stored one is a regression."""
    assert isinstance(event, InventoryPosition)
    stamp = event.as_of.astimezone(UTC).isoformat()
    row = (await session.execute(select(stock).where(stock.c.sku == event.sku))).first()
    if row is None:
        await session.execute(
            stock.insert().values(
                sku=event.sku, on_hand=event.on_hand, as_of=stamp, positions=1, regressions=0
            )
        )
        return
    newer = stamp >= row.as_of
    values = {"positions": row.positions + 1, "regressions": row.regressions + (0 if newer else 1)}
    if newer:
        values |= {"on_hand": event.on_hand, "as_of": stamp}
    await session.execute(stock.update().where(stock.c.sku == event.sku).values(**values))


async def on_shipment_shipped(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
    """Shipped quantity and line count per product (a delta: applied twice would show)."""
    assert isinstance(event, ShipmentLineShipped)
    row = (await session.execute(select(shipped).where(shipped.c.sku == event.sku))).first()
    if row is None:
        await session.execute(shipped.insert().values(sku=event.sku, quantity=event.quantity, lines=1))
    else:
        await session.execute(
            shipped.update()
            .where(shipped.c.sku == event.sku)
            .values(quantity=row.quantity + event.quantity, lines=row.lines + 1)
        )


async def create_log_table(db: Database) -> None:
    """Create chaos_echo_log and the facts tables in the ledger's schema (the harness calls this once, before any process)."""
    async with db.engine.begin() as conn:
        await conn.run_sync(log_metadata.create_all)


def build(settings: Settings, *, bus: Bus | None = None, transaction_batch: int = 1) -> ServiceHost:
    host = ServiceHost("ledger", settings, migrations=ledger.MIGRATIONS, bus=bus)
    host.add_consumer(
        [topics.ERP_ORDERS],
        {"segflow.order.line.placed": ledger.on_order_line},
        transaction_batch=transaction_batch,
    )
    host.add_consumer(
        [topics.SEGMENTS_ASSIGNMENTS], {"segflow.segment.assigned": on_assigned_logged}, name="ledger-echo"
    )
    host.add_consumer(
        [topics.MDM_PRODUCTS, topics.WMS_INVENTORY, topics.WMS_SHIPMENTS],
        {
            "segflow.product.upserted": on_product_upserted,
            "segflow.inventory.position": on_inventory_position,
            "segflow.shipment.line.shipped": on_shipment_shipped,
        },
        name="ledger-facts",
        transaction_batch=transaction_batch,
    )
    return host


async def _main() -> None:
    host = build(Settings(), transaction_batch=int(os.environ.get("LEDGER_TXN_BATCH", "1")))
    await host.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("chaos ledger ready", flush=True)
    await stop.wait()
    await host.stop()


if __name__ == "__main__":
    asyncio.run(_main())
