"""The classifier schema built by its Alembic revisions against services.classifier.store.metadata
(store/tables.py): tests/support/migration_check.py does the comparison."""

from __future__ import annotations

from pathlib import Path

from services.classifier.store import metadata
from services.runtime.db import Database
from tests.support import migration_check

MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "classifier" / "migrations"


async def assert_head_equals_declared(db: Database) -> None:
    """The migrations create exactly the declared classifier tables (``migration_check.assert_head_equals``)."""
    await migration_check.assert_head_equals(db, MIGRATIONS, metadata)
