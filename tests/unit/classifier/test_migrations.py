"""The explicit migrations produce exactly the tables of services/classifier/store/tables.py (SQLite), and
0003 adds the contract's min_segment to golden customers already stored (absent until a source sends one)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from services.classifier.app import MIGRATIONS
from services.classifier.store import metadata
from services.runtime.db import Database
from services.runtime.migrate import upgrade
from services.runtime.settings import Settings
from tests.support.migration_check import assert_head_equals, assert_unmigrated_column_detected


async def test_sqlite_head_equals_the_declared_metadata(tmp_path: Any) -> None:
    db = Database("classifier", Settings(data_dir=tmp_path, mode="embedded"))
    await assert_head_equals(db, MIGRATIONS, metadata)


async def test_a_changed_declaration_is_detected(tmp_path: Any) -> None:
    db = Database("classifier", Settings(data_dir=tmp_path, mode="embedded"))
    await assert_unmigrated_column_detected(db, MIGRATIONS, metadata, "customers")


async def test_0003_adds_min_segment_to_stored_customers(tmp_path: Any) -> None:
    db = Database("classifier", Settings(data_dir=tmp_path, mode="embedded"))
    await db.start()
    try:
        await upgrade(db, MIGRATIONS, "0002")
        async with db.engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO customers (golden_id, partner_ids, parents, strategic, anonymous, updated_at,"
                    " min_tier) VALUES ('src:SAP-EU:C1', '[]', '{}', 0, 0, :at, 2)"
                ),
                {"at": datetime(2024, 1, 1, tzinfo=UTC)},
            )
        await upgrade(db, MIGRATIONS)
        customers = metadata.tables["customers"]
        async with db.engine.begin() as conn:
            row = (await conn.execute(sa.select(customers))).one()
            assert (row.golden_id, row.min_tier, row.min_segment) == ("src:SAP-EU:C1", 2, None)
            await conn.execute(customers.update().values(min_segment={"source": "SAP-EU", "name": "GOLD-EU"}))
            stored = (await conn.execute(sa.select(customers.c.min_segment))).scalar_one()
        assert stored == {"source": "SAP-EU", "name": "GOLD-EU"}
    finally:
        await db.stop()
