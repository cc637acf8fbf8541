"""Migration 0003 on REAL PostgreSQL: a log written at 0002 (hex dedup keys) is upgraded in place; its keys
become 16-byte bytea, duplicates stored before the upgrade are still refused, the chain still verifies,
the append-only triggers still refuse changes and captured_us is indexed by BRIN."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from services.runtime.settings import Settings
from tests.unit.audit.dedup_migration_support import check_upgrade_keeps_dedup


async def test_upgrade_converts_hex_keys_on_postgres(fresh_database: str, tmp_path: Path) -> None:
    settings = Settings(
        env="test",
        jwt_secret="test-secret-0123456789abcdef0123456789",
        database_url=fresh_database,
        data_dir=tmp_path,
    )
    db = await check_upgrade_keeps_dedup(settings, tmp_path)
    try:
        async with db.read() as session:
            column = await session.execute(
                sa.text(
                    "SELECT data_type FROM information_schema.columns WHERE table_schema = current_schema() "
                    "AND table_name = 'audit_entries' AND column_name = 'dedup_key'"
                )
            )
            assert column.scalar_one() == "bytea"
            index = await session.execute(
                sa.text(
                    "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                    "AND indexname = 'ix_audit_entries_captured_us'"
                )
            )
            assert "USING brin (captured_us)" in index.scalar_one()
            unique = await session.execute(
                sa.text(
                    "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() "
                    "AND tablename = 'audit_entries' AND indexdef LIKE 'CREATE UNIQUE INDEX%(dedup_key)'"
                )
            )
            assert unique.scalar_one() == 1
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            async with db.unit_of_work() as session:
                await session.execute(sa.text("UPDATE audit_entries SET topic = 'x' WHERE seq = 0"))
    finally:
        await db.stop()
