"""The explicit migrations produce exactly the tables of services/policy/tables.py on real PostgreSQL."""

from __future__ import annotations

from services.policy.app import MIGRATIONS
from services.policy.tables import metadata
from services.runtime.db import Database
from services.runtime.settings import Settings
from tests.support.migration_check import assert_head_equals


async def test_postgres_head_equals_the_declared_metadata(fresh_database: str, kafka_bootstrap: str) -> None:
    settings = Settings(
        mode="distributed",
        env="test",
        jwt_secret="test-secret-0123456789abcdef0123456789",
        database_url=fresh_database,
        kafka_bootstrap=kafka_bootstrap,
    )
    await assert_head_equals(Database("policy", settings), MIGRATIONS, metadata)
