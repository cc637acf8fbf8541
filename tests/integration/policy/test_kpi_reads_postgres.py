"""The KPI read cache on REAL PostgreSQL with two replicas of the policy service on one database: a write
committed by the second replica (its own consumer, its own bus) invalidates the first replica's cached
GET /v1/kpis and cost-to-serve, whose next answers show it and equal the uncached computation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from services.policy import app
from services.runtime.auth import issue_token
from services.runtime.bus.memory import MemoryBus
from services.runtime.host import ServiceHost
from services.runtime.settings import Settings
from tests.unit.policy.kpi_reads_support import (
    otif_points,
    reads_of,
    uncached_cost,
    uncached_series,
)
from tests.unit.policy.service_support import Record, assigned, delivered, order, wait_for
from tests.unit.policy.test_kpi_reads import WEEK, due, history


class Replica:
    """One policy process: its own app, consumer and in-process bus (the records it alone consumes), on the
    shared PostgreSQL database."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bus = MemoryBus()
        self.host: ServiceHost = app.build(settings, bus=self.bus, transaction_batch=50)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.host.app), base_url="http://t")
        token = issue_token(settings, subject="pia", roles=["finance", "planner"])
        self.auth = {"Authorization": f"Bearer {token}"}

    async def publish(self, records: list[Record]) -> None:
        for topic, key, value, headers in records:
            await self.bus.publish(topic, key, value, headers)
        consumer = self.host.consumers[0]

        async def caught_up() -> bool:
            return all(v == 0 for v in (await consumer.lag()).values())

        await wait_for(caught_up)

    async def get(self, path: str) -> dict[str, Any]:
        response = await self.client.get(path, headers=self.auth)
        assert response.status_code == 200, response.text
        return dict(response.json())


@pytest.fixture
async def replicas(fresh_database: str) -> AsyncIterator[tuple[Replica, Replica]]:
    settings = Settings(
        mode="distributed",
        env="test",
        jwt_secret="test-secret-0123456789abcdef0123456789",
        database_url=fresh_database,
        kafka_bootstrap="unused:9092",  # each replica gets its own in-process bus
    )
    first, second = Replica(settings), Replica(settings)
    await first.host.start()
    await second.host.start()
    try:
        yield first, second
    finally:
        for replica in (first, second):
            await replica.client.aclose()
            await replica.host.stop()


async def test_a_write_by_a_second_replica_invalidates_the_first_replicas_cache(
    replicas: tuple[Replica, Replica],
) -> None:
    first, second = replicas
    reads = reads_of(first.host)
    await first.publish(history())
    cached = await first.get("/v1/kpis?window=1")
    assert await first.get("/v1/kpis?window=1") == cached and reads.frames.misses == 1
    assert reads.tables.hits == 1 and cached["series"] == await uncached_series(first.host, window=1)
    assert otif_points(cached, "GOLD")[WEEK[1]] == (1.0, 2)
    cost = (await first.get("/v1/kpis/cost-to-serve"))["items"]
    assert await first.get("/v1/kpis/cost-to-serve") == {"items": cost, "masked": []}
    assert reads.costs.misses == 1

    # the second replica consumes a new GOLD line and its late, full delivery (with freight)
    day = due(1).date()
    await second.publish(
        [
            order("A1-new", "A1", "S1", 6, day - timedelta(days=1), requested=day),
            delivered("A1-new", "A1", "S1", 6, day + timedelta(days=3), freight=7.0),
        ]
    )
    body = await first.get("/v1/kpis?window=1")
    assert reads.frames.misses == 2
    assert otif_points(body, "GOLD")[WEEK[1]] == (pytest.approx(2 / 3), 3)
    assert otif_points(body, "GOLD", "line_fill_rate")[WEEK[1]] == (1.0, 3)
    assert body["series"] == await uncached_series(first.host, window=1)
    items = (await first.get("/v1/kpis/cost-to-serve"))["items"]
    [gold] = [i for i in items if i["segment"] == "GOLD"]
    assert gold["cost"]["total"] == 47.0 and reads.costs.misses == 2
    assert items == await uncached_cost(first.host)

    # a reassignment consumed by the second replica moves the first replica's series too
    await second.publish([assigned("A1", "SILVER", event_key="assigned:A1:again")])
    body = await first.get("/v1/kpis?window=1")
    assert {s["group"] for s in body["series"]} == {"SILVER"} and reads.frames.misses == 3
    assert body["series"] == await uncached_series(first.host, window=1)
    assert await first.get("/v1/kpis?window=1") == body and reads.frames.misses == 3
