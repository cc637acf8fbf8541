"""The explicit migrations produce exactly the tables of services/allocator/store.py on real PostgreSQL."""

from __future__ import annotations

from services.allocator.store import metadata
from services.runtime.db import Database
from services.runtime.settings import Settings
from tests.unit.allocator.migration_check import migrated_schema_diff


async def test_postgres_head_equals_the_declared_metadata(fresh_database: str, kafka_bootstrap: str) -> None:
    settings = Settings(
        mode="distributed",
        env="test",
        jwt_secret="test-secret-0123456789abcdef0123456789",
        database_url=fresh_database,
        kafka_bootstrap=kafka_bootstrap,
    )
    diffs, names = await migrated_schema_diff(Database("allocator", settings))
    assert diffs == []
    assert set(metadata.tables) | {"outbox", "inbox", "alembic_version"} == names
