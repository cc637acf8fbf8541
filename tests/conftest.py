"""Session-wide fixtures: the real PostgreSQL and Kafka that `make test` starts, and isolation.

`make test` (scripts/run-tests.sh) exports SEGFLOW_TEST_DATABASE_URL and SEGFLOW_TEST_KAFKA_BOOTSTRAP
from .cache/testenv.sh. A test that asks for them when they are missing fails with instructions; it
is never skipped. Tests using these fixtures are marked `postgres` / `kafka` automatically.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator

import pytest

from tests.support.dsn import asyncpg_dsn as _asyncpg_dsn

DATABASE_URL_VAR = "SEGFLOW_TEST_DATABASE_URL"
KAFKA_BOOTSTRAP_VAR = "SEGFLOW_TEST_KAFKA_BOOTSTRAP"

_POSTGRES_FIXTURES = {"database_url", "fresh_database"}
_KAFKA_FIXTURES = {"kafka_bootstrap"}


def _required_env(name: str, part: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        pytest.fail(
            f"{name} is not set: this test needs the real {part}. Run `make test`, or start the parts "
            "with `scripts/testenv.sh up` and `set -a; . .cache/testenv.sh; set +a` before pytest "
            "(stop them with `scripts/testenv.sh down`).",
            pytrace=False,
        )
    return value


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by the real parts they use, so `-m "not kafka"` selects without them."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & _POSTGRES_FIXTURES:
            item.add_marker(pytest.mark.postgres)
        if names & _KAFKA_FIXTURES:
            item.add_marker(pytest.mark.kafka)


@pytest.fixture(scope="session")
def database_url() -> str:
    """The test PostgreSQL's `postgresql+asyncpg://` URL (database `segflow`, superuser role)."""
    return _required_env(DATABASE_URL_VAR, "PostgreSQL")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """The test Kafka broker's bootstrap address, `host:port`."""
    return _required_env(KAFKA_BOOTSTRAP_VAR, "Apache Kafka broker")


@pytest.fixture
async def fresh_database(database_url: str) -> AsyncIterator[str]:
    """A new, empty, uniquely named database for one test; dropped (WITH (FORCE)) afterwards."""
    import asyncpg
    from sqlalchemy.engine import make_url

    name = f"segflow_t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(_asyncpg_dsn(database_url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
def topic_namespace() -> str:
    """A unique topic-name prefix like `t1a2b3c4d.` (the runtime reads it from SEGFLOW_TOPIC_NAMESPACE)."""
    return f"t{secrets.token_hex(4)}."
