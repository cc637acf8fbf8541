"""The classifier host on the real PostgreSQL and Kafka (a fresh database and topic namespace per test),
with a producer on the same namespace; the scheduler is off so runs happen when a test asks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.classifier import app
from services.runtime.bus import build_bus
from services.runtime.settings import Settings
from tests.support.real_classifier import RealClassifier


@pytest.fixture
async def real_classifier(
    fresh_database: str, kafka_bootstrap: str, topic_namespace: str
) -> AsyncIterator[RealClassifier]:
    settings = Settings(
        mode="distributed", env="test", jwt_secret="test-secret-0123456789abcdef0123456789",
        database_url=fresh_database, kafka_bootstrap=kafka_bootstrap, topic_namespace=topic_namespace,
        topic_partitions=3,
    )  # fmt: skip
    host = app.build(settings)
    host.state["scheduler"] = False
    await host.start()
    bus = build_bus(settings, client_id="it-classifier-producer")
    await bus.start()
    try:
        yield RealClassifier(host, bus, settings)
    finally:
        await bus.stop()
        await host.stop()
