"""The explicit migrations produce exactly the tables of services/policy/tables.py (SQLite)."""

from __future__ import annotations

from typing import Any

from services.policy.app import MIGRATIONS
from services.policy.tables import metadata
from services.runtime.db import Database
from services.runtime.settings import Settings
from tests.support.migration_check import assert_head_equals, assert_unmigrated_column_detected


async def test_sqlite_head_equals_the_declared_metadata(tmp_path: Any) -> None:
    await assert_head_equals(
        Database("policy", Settings(data_dir=tmp_path, mode="embedded")), MIGRATIONS, metadata
    )


async def test_a_changed_declaration_is_detected(tmp_path: Any) -> None:
    db = Database("policy", Settings(data_dir=tmp_path, mode="embedded"))
    await assert_unmigrated_column_detected(db, MIGRATIONS, metadata, "policy_receipts")
