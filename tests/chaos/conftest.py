"""Fixtures of the fault suite: it must run on the PRIVATE parts of scripts/chaosenv.sh (`make chaos`),
because it kills and restarts the broker and the database."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.chaos_harness import ChaosRun


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if any("tests/chaos" in str(item.path) for item in items) and not os.environ.get("SEGFLOW_CHAOSENV"):
        raise pytest.UsageError(
            "tests/chaos kills and restarts PostgreSQL and Kafka: run it with `make chaos` "
            "(scripts/chaosenv.sh run ...), never against the shared test parts"
        )


@pytest.fixture
def chaos_run(fresh_database: str, kafka_bootstrap: str, topic_namespace: str, tmp_path: Path) -> ChaosRun:
    """A scenario on a fresh database and topic namespace (enter it with ``async with``)."""
    return ChaosRun(fresh_database, kafka_bootstrap, topic_namespace, tmp_path)
