"""Each service's explicit migrations produce exactly the tables it declares, on real PostgreSQL (the same
comparison runs on SQLite in tests/unit/<service>/test_migrations.py)."""

from __future__ import annotations

import pytest

from services.allocator.app import MIGRATIONS as ALLOCATOR_MIGRATIONS
from services.allocator.store import metadata as allocator_tables
from services.classifier.app import MIGRATIONS as CLASSIFIER_MIGRATIONS
from services.classifier.store import metadata as classifier_tables
from services.policy.app import MIGRATIONS as POLICY_MIGRATIONS
from services.policy.tables import metadata as policy_tables
from services.runtime.db import Database
from services.runtime.settings import Settings
from tests.support.migration_check import assert_head_equals

SERVICES = {
    "allocator": (ALLOCATOR_MIGRATIONS, allocator_tables),
    "policy": (POLICY_MIGRATIONS, policy_tables),
    "classifier": (CLASSIFIER_MIGRATIONS, classifier_tables),
}


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_postgres_head_equals_the_declared_metadata(
    service: str, fresh_database: str, kafka_bootstrap: str
) -> None:
    migrations, declared = SERVICES[service]
    settings = Settings(
        mode="distributed",
        env="test",
        jwt_secret="test-secret-0123456789abcdef0123456789",
        database_url=fresh_database,
        kafka_bootstrap=kafka_bootstrap,
    )
    await assert_head_equals(Database(service, settings), migrations, declared)
