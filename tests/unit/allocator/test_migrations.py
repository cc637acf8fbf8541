"""The explicit migrations produce exactly the tables of services/allocator/store.py (SQLite), and the
0002 backfill sums the confirmations of the promises in force into reserved_days."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from services.allocator.app import MIGRATIONS
from services.allocator.store import metadata
from services.runtime.db import Database
from services.runtime.migrate import upgrade
from services.runtime.settings import Settings
from tests.support.migration_check import assert_head_equals, assert_unmigrated_column_detected


async def test_sqlite_head_equals_the_declared_metadata(tmp_path: Any) -> None:
    await assert_head_equals(
        Database("allocator", Settings(data_dir=tmp_path, mode="embedded")), MIGRATIONS, metadata
    )


async def test_a_changed_declaration_is_detected(tmp_path: Any) -> None:
    db = Database("allocator", Settings(data_dir=tmp_path, mode="embedded"))
    await assert_unmigrated_column_detected(db, MIGRATIONS, metadata, "reserved_days")


async def test_0002_backfills_reserved_days_from_promises_in_force(tmp_path: Any) -> None:
    db = Database("allocator", Settings(data_dir=tmp_path, mode="embedded"))
    await db.start()
    try:
        await upgrade(db, MIGRATIONS, "0001")
        common = {"fingerprint": "f", "customer_id": "C", "sku": "SKU", "site": "S1", "quantity": 9.0,
                  "requested_date": dt.date(2030, 1, 1), "reserve": True, "tier": 1, "strategy": "win",
                  "confirmed": 0.0, "response": "{}", "created_at": 0.0, "updated_at": 0.0}  # fmt: skip
        rows = [  # (id, status, segment, confirmations)
            ("a", "held", "GOLD", '[{"date": "2030-01-01", "quantity": 2.0}, {"date": "2030-01-03", "quantity": 1.0}]'),
            ("b", "confirmed", "GOLD", '[{"date": "2030-01-01", "quantity": 4.0}]'),
            ("c", "released", "GOLD", '[{"date": "2030-01-01", "quantity": 50.0}]'),
            ("d", "held", None, '[{"date": "2030-01-03", "quantity": 5.0}]'),
        ]  # fmt: skip
        async with db.engine.begin() as conn:
            for promise_id, status, segment, confirmations in rows:
                await conn.execute(
                    metadata.tables["promises"].insert().values(
                        promise_id=promise_id, idempotency_key=promise_id, status=status, segment=segment,
                        confirmations=confirmations, **common,
                    )
                )  # fmt: skip
        await upgrade(db, MIGRATIONS)
        async with db.engine.connect() as conn:
            table = metadata.tables["reserved_days"]
            got = {
                (r.segment, r.day.isoformat()): r.quantity
                for r in (await conn.execute(sa.select(table))).all()
            }
        # the released promise "c" is not in force; None segment is stored as ''
        assert got == {("GOLD", "2030-01-01"): 6.0, ("GOLD", "2030-01-03"): 1.0, ("", "2030-01-03"): 5.0}
    finally:
        await db.stop()
