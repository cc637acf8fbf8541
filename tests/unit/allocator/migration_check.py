"""The allocator schema built by its Alembic revisions against services.allocator.store.metadata (store.py):
tests/support/migration_check.py does the comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import MetaData

from services.allocator.store import metadata
from services.runtime.db import Database
from tests.support import migration_check

MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "allocator" / "migrations"


async def migrated_schema_diff(db: Database, target: MetaData = metadata) -> tuple[list[Any], set[str]]:
    """(diffs between head and ``target``, tables present) after upgrading a fresh database."""
    return await migration_check.migrated_schema_diff(db, MIGRATIONS, target)
