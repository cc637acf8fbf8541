"""A minimal service built only from the runtime, used to test the runtime itself.

It consumes order.line.placed, keeps a running quantity per product, and for every line emits a
segment.assigned for the product (BIG once the running total reaches 100, else SMALL) through the
outbox. A second consumer group ("ledger-echo") counts the assignments it receives. Runnable as a
process (``python -m tests.support.ledger``) so the reliability tests can SIGKILL it.
"""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import Column, Float, Integer, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import topics
from contracts.envelope import Envelope
from contracts.erp import OrderLinePlaced
from contracts.segments import SegmentAssigned, ServicePolicy
from services.runtime import outbox
from services.runtime.bus.base import Bus
from services.runtime.host import ServiceHost
from services.runtime.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent / "ledger_migrations"
metadata = MetaData()
totals = Table(
    "ledger_totals",
    metadata,
    Column("sku", String(128), primary_key=True),
    Column("quantity", Float, nullable=False),
    Column("lines", Integer, nullable=False),
)
echoes = Table(
    "ledger_echoes",
    metadata,
    Column("entity_id", String(128), primary_key=True),
    Column("segment", String(32), nullable=False),
    Column("count", Integer, nullable=False),
)


async def on_order_line(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
    assert isinstance(event, OrderLinePlaced)
    row = (await session.execute(select(totals).where(totals.c.sku == event.sku))).first()
    qty = (row.quantity if row else 0.0) + event.quantity
    lines = (row.lines if row else 0) + 1
    if row:
        await session.execute(
            totals.update().where(totals.c.sku == event.sku).values(quantity=qty, lines=lines)
        )
    else:
        await session.execute(totals.insert().values(sku=event.sku, quantity=qty, lines=lines))
    assigned = SegmentAssigned(
        dimension="product",
        entity_id=event.sku,
        segment="BIG" if qty >= 100 else "SMALL",
        tier=1 if qty >= 100 else 3,
        service_policy=ServicePolicy(
            service_level_type="cycle",
            service_level_target=0.95,
            otif_target=0.9,
            promise_lead_time_days=2,
            backorder_strategy="fill",
        ),
        ruleset_version="ledger-1",
        ruleset_hash="0" * 64,
        reasons=[f"running quantity {qty:g}"],
        valid_from=env.time,
    )
    await outbox.add_event(
        session,
        topic=topics.SEGMENTS_ASSIGNMENTS,
        key=f"product:{event.sku}",
        source="segflow/ledger",
        type="segflow.segment.assigned",
        payload=assigned,
        id=f"{env.id}-assigned",
        time=env.time,
    )


async def on_assigned(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
    assert isinstance(event, SegmentAssigned)
    row = (await session.execute(select(echoes).where(echoes.c.entity_id == event.entity_id))).first()
    if row:
        await session.execute(
            echoes.update()
            .where(echoes.c.entity_id == event.entity_id)
            .values(segment=event.segment, count=row.count + 1)
        )
    else:
        await session.execute(
            echoes.insert().values(entity_id=event.entity_id, segment=event.segment, count=1)
        )


def build(settings: Settings, *, bus: Bus | None = None, transaction_batch: int = 1) -> ServiceHost:
    host = ServiceHost("ledger", settings, migrations=MIGRATIONS, bus=bus)
    host.add_consumer(
        [topics.ERP_ORDERS], {"segflow.order.line.placed": on_order_line}, transaction_batch=transaction_batch
    )
    host.add_consumer(
        [topics.SEGMENTS_ASSIGNMENTS], {"segflow.segment.assigned": on_assigned}, name="ledger-echo"
    )
    return host


async def snapshot(host: ServiceHost) -> dict[str, object]:
    """The ledger's whole state, for comparisons (replay determinism, exactly-once effects)."""
    async with host.db.read() as s:
        t = sorted(tuple(r) for r in (await s.execute(select(totals))).all())
        e = sorted(tuple(r) for r in (await s.execute(select(echoes))).all())
    return {"totals": t, "echoes": e}


async def _main() -> None:
    settings = Settings()
    host = build(settings, transaction_batch=int(os.environ.get("LEDGER_TXN_BATCH", "1")))
    await host.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print(f"ledger ready {datetime.now(UTC).isoformat()}", flush=True)
    await stop.wait()
    await host.stop()


if __name__ == "__main__":
    asyncio.run(_main())
