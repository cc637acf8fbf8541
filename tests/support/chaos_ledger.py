"""The ledger test service plus an applied-order log, for the fault suite (tests/chaos).

Same consumers, groups, outbox and state as ``tests.support.ledger``; the echo consumer additionally
appends one ``chaos_echo_log`` row per applied assignment (event id, product, the running quantity the
assignment carries) in the same transaction as its inbox claim. The checker reads the log to prove
per-key order (each product's running quantities arrive as the prefix sums of its order lines, in
publish order) and that no event id was applied twice. Runnable as a process:
``python -m tests.support.chaos_ledger`` (SIGTERM = clean stop; fault points via SEGFLOW_FAULT_*).
"""

from __future__ import annotations

import asyncio
import os
import signal

from pydantic import BaseModel
from sqlalchemy import BigInteger, Column, Float, Integer, MetaData, String, Table
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import topics
from contracts.envelope import Envelope
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


async def create_log_table(db: Database) -> None:
    """Create chaos_echo_log in the ledger's schema (the harness calls this once, before any process)."""
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
