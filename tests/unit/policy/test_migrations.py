"""The explicit migrations produce exactly the tables of services/policy/tables.py (SQLite)."""

from __future__ import annotations

from services.policy.tables import metadata
from services.runtime.db import Database
from services.runtime.settings import Settings
from tests.unit.policy.migration_check import migrated_schema_diff


async def test_sqlite_head_equals_the_declared_metadata(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = Database("policy", Settings(data_dir=tmp_path, mode="embedded"))
    diffs, names = await migrated_schema_diff(db)
    assert diffs == []
    assert set(metadata.tables) | {"outbox", "inbox", "alembic_version"} == names


async def test_a_changed_declaration_is_detected(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The comparison is not vacuous: a column the migrations do not create shows up as a diff."""
    from sqlalchemy import Column, Integer, MetaData

    changed = MetaData()  # a copy: the shared metadata stays as declared
    for table in metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["policy_receipts"].append_column(Column("not_migrated", Integer, nullable=True))
    db = Database("policy", Settings(data_dir=tmp_path, mode="embedded"))
    diffs, _ = await migrated_schema_diff(db, changed)
    assert [d[0] for d in diffs] == ["add_column"] and diffs[0][3].name == "not_migrated"
