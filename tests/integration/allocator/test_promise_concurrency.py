"""Promises on REAL PostgreSQL: 200 concurrent calls on scarce stock, spread over two hosts (replicas) on
the same database, confirm exactly the available quantity; idempotent retries reserve once."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.allocator import app as allocator_app
from services.allocator import store_promises, store_supply
from services.runtime.auth import issue_token
from services.runtime.bus.memory import MemoryBus
from services.runtime.host import ServiceHost
from services.runtime.settings import Settings

SECRET = "test-secret-0123456789abcdef0123456789"


@pytest.fixture
async def replicas(fresh_database: str) -> AsyncIterator[list[tuple[ServiceHost, httpx.AsyncClient]]]:
    settings = Settings(env="test", jwt_secret=SECRET, database_url=fresh_database, db_pool_size=10)
    headers = {"Authorization": f"Bearer {issue_token(settings, subject='shop', roles=['service'])}"}
    hosts = [allocator_app.build(settings, bus=MemoryBus()) for _ in range(2)]
    out = []
    for host in hosts:
        await host.start(consume=False)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=host.app), base_url="http://a", headers=headers
        )
        out.append((host, client))
    async with hosts[0].db.unit_of_work() as session:
        await store_supply.set_position(session, "SKU", "S1", 37, 0.0)
    yield out
    for host, client in out:
        await client.aclose()
        await host.stop()


def body(key: str, quantity: int) -> dict[str, Any]:
    today = dt.datetime.now(dt.UTC).date().isoformat()
    return {"idempotency_key": key, "customer_id": "C", "sku": "SKU", "site": "S1", "quantity": quantity,
            "requested_date": today}  # fmt: skip


async def test_200_concurrent_promises_confirm_exactly_the_stock(
    replicas: list[tuple[ServiceHost, httpx.AsyncClient]],
) -> None:
    calls = [replicas[i % 2][1].post("/v1/promise", json=body(f"k{i}", 1 + i % 3)) for i in range(200)]
    responses = await asyncio.gather(*calls)
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200][
        :3
    ]
    answers = [r.json() for r in responses]
    assert sum(a["confirmed"] for a in answers) == 37
    assert all(a["confirmed"] + a["unconfirmed"] == a["quantity"] for a in answers)
    host = replicas[0][0]
    async with host.db.read() as session:
        rows = await store_promises.active_promises(session, "SKU", "S1", 0.0)
    assert sum(r.confirmed for r in rows) == 37 and len(rows) == 200
    atp = await replicas[1][1].get("/v1/atp", params={"sku": "SKU", "site": "S1"})
    assert atp.json()["promisable"] == 0


async def test_retries_of_one_key_on_both_replicas_reserve_once(
    replicas: list[tuple[ServiceHost, httpx.AsyncClient]],
) -> None:
    calls = [replicas[i % 2][1].post("/v1/promise", json=body("same", 5)) for i in range(40)]
    responses = await asyncio.gather(*calls)
    assert {r.status_code for r in responses} == {200}
    assert len({r.json()["promise_id"] for r in responses}) == 1
    atp = await replicas[0][1].get("/v1/atp", params={"sku": "SKU", "site": "S1"})
    assert atp.json()["promisable"] == 37 - 5
    conflict = await replicas[1][1].post("/v1/promise", json=body("same", 6))
    assert conflict.status_code == 409


async def test_each_replica_sees_the_other_replicas_writes_despite_its_cached_picture(
    replicas: list[tuple[ServiceHost, httpx.AsyncClient]],
) -> None:
    (host_a, a), (_, b) = replicas
    assert (await a.post("/v1/promise", json=body("a1", 20))).json()["confirmed"] == 20  # A caches SKU@S1
    assert (await b.post("/v1/promise", json=body("b1", 15))).json()["confirmed"] == 15  # B bumps its version
    assert (await a.post("/v1/promise", json=body("a2", 5))).json()["confirmed"] == 2  # 37 - 20 - 15
    async with host_a.db.unit_of_work() as session:  # an inventory update written by A: 37 -> 40
        await store_supply.set_position(session, "SKU", "S1", 40, 1.0)
    assert (await b.post("/v1/promise", json=body("b2", 5))).json()["confirmed"] == 3
    assert (await a.post("/v1/promise", json=body("a3", 1))).json()["confirmed"] == 0
