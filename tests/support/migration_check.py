"""Compare a service schema built by its Alembic revisions with the service's declared tables (a MetaData),
via alembic's autogenerate compare_metadata (no diffs = the migrations create exactly the declared tables)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData

from services.runtime.db import Database
from services.runtime.migrate import upgrade

RUNTIME_TABLES = {"outbox", "inbox", "alembic_version"}


def _include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return getattr(table, "name", name) not in RUNTIME_TABLES


def _diff(connection: Any, schema: str | None, target: MetaData) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "include_object": _include,
            "include_schemas": False,
            "target_metadata": target,
        },
    )
    if schema is not None:  # unqualified tables live in the service's schema (search_path)
        connection.dialect.default_schema_name = schema
    return list(compare_metadata(context, target))


async def migrated_schema_diff(
    db: Database, migrations: Path, target: MetaData
) -> tuple[list[Any], set[str]]:
    """(diffs between head and ``target``, tables present) after upgrading a fresh database."""
    await db.start()
    try:
        await upgrade(db, migrations)
        async with db.engine.connect() as conn:
            diffs = await conn.run_sync(_diff, db.schema, target)
            names = await conn.run_sync(
                lambda sync: set(__import__("sqlalchemy").inspect(sync).get_table_names(schema=db.schema))
            )
        return diffs, names
    finally:
        await db.stop()


async def assert_head_equals(db: Database, migrations: Path, target: MetaData) -> None:
    """After upgrading a fresh database: no diff against ``target`` and exactly its tables (plus the runtime's)."""
    diffs, names = await migrated_schema_diff(db, migrations, target)
    assert diffs == []
    assert set(target.tables) | RUNTIME_TABLES == names


async def assert_unmigrated_column_detected(
    db: Database, migrations: Path, target: MetaData, table: str
) -> None:
    """The comparison is not vacuous: a column declared on ``table`` (in a copy of ``target``) that no
    migration creates is the one diff."""
    changed = MetaData()
    for declared in target.tables.values():
        declared.to_metadata(changed)
    changed.tables[table].append_column(Column("not_migrated", Integer, nullable=True))
    diffs, _ = await migrated_schema_diff(db, migrations, changed)
    assert [d[0] for d in diffs] == ["add_column"] and diffs[0][3].name == "not_migrated"
