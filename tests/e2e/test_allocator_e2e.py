"""End to end on the REAL broker and PostgreSQL: inventory, segment and order events through Kafka -> a
promise via the API -> an inventory.position drop through Kafka -> promise.changed (before/after) on
segflow.allocation.promises.v1, and the stored promise reflects it."""

from __future__ import annotations

import datetime as dt

import httpx
import orjson

from contracts import topics
from contracts.envelope import from_kafka
from services.allocator import app
from services.runtime.auth import issue_token
from services.runtime.settings import Settings
from tests.unit.allocator.events import Message, assignment, eventually, order_line, position


async def test_supply_drop_on_kafka_changes_a_promise(
    fresh_database: str, kafka_bootstrap: str, topic_namespace: str
) -> None:
    settings = Settings(
        mode="distributed", env="test", jwt_secret="test-secret-0123456789abcdef0123456789",
        database_url=fresh_database, kafka_bootstrap=kafka_bootstrap, topic_namespace=topic_namespace,
        topic_partitions=3,
    )  # fmt: skip
    host = app.build(settings, worker_interval_s=0.2)
    await host.start()
    auth = {"Authorization": f"Bearer {issue_token(settings, subject='shop', roles=['service'])}"}
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=host.app), base_url="http://t", headers=auth)
    reader = host.bus.consumer(f"e2e-reader-{topic_namespace}", [topics.ALLOCATION_PROMISES])
    today = dt.datetime.now(dt.UTC).date()
    try:
        await reader.start()

        async def send(*messages: Message) -> None:
            for topic, key, value, headers in messages:
                await host.bus.publish(topic, key, value, headers)

        await send(assignment("BIG", "GOLD", 1, "win"), assignment("SMALL", "BRONZE", 3, "redistribute"))
        await send(position("SKU", "S1", 30), order_line("O1", "OTHER", "SKU", "S1", 10, today))

        base = {"sku": "SKU", "site": "S1", "requested_date": today.isoformat(), "customer_source": "test"}
        probes = iter(range(10**6))

        async def strategy_of(customer: str) -> str:
            quote = {**base, "idempotency_key": f"probe-{next(probes)}", "customer_id": customer, "quantity": 1,
                     "reserve": False}  # fmt: skip
            return str((await client.post("/v1/promise", json=quote)).json()["strategy"])

        async def picture_ready() -> bool:
            # supply, demand and both segment assignments come on different topics: wait for all of them
            atp = (await client.get("/v1/atp", params={"sku": "SKU", "site": "S1"})).json()
            return bool(atp["promisable"] == 20) and (await strategy_of("BIG"), await strategy_of("SMALL")) == (
                "win", "redistribute")  # fmt: skip

        await eventually(picture_ready, timeout=120)
        gold = (await client.post("/v1/promise", json={**base, "idempotency_key": "g", "customer_id": "BIG",
                                                       "quantity": 8})).json()  # fmt: skip
        bronze = (await client.post("/v1/promise", json={**base, "idempotency_key": "b", "customer_id": "SMALL",
                                                         "quantity": 12})).json()  # fmt: skip
        assert gold["confirmed"] == 8 and bronze["confirmed"] == 12
        # on hand 30 -> 24: 14 left after the order line; GOLD (win) keeps 8, BRONZE is cut to 6
        await send(position("SKU", "S1", 24, minute=5))
        # the reader never commits, so a group rebalance may deliver a record again (at least once):
        # events are told apart by their CloudEvents id, and exactly one distinct change must exist
        changed: dict[str, dict] = {}

        async def change_seen() -> bool:
            for record in await reader.getmany(timeout_ms=500):
                env = from_kafka(record.value, record.headers)
                if env.type == "segflow.promise.changed":
                    changed[env.id] = orjson.loads(env.data or b"{}")
            return bool(changed)

        await eventually(change_seen, timeout=120)
        await change_seen()  # a second, distinct change would be a bug: read once more before judging
        [event] = changed.values()
        assert event["promise_id"] == bronze["promise_id"]
        assert event["before"] == [{"date": today.isoformat(), "quantity": 12.0}]
        assert event["confirmations"] == [{"date": today.isoformat(), "quantity": 6.0}]
        stored = (await client.get(f"/v1/promise/{bronze['promise_id']}")).json()
        assert stored["confirmed"] == 6 and stored["confirmations"] == event["confirmations"]
        assert (await client.get(f"/v1/promise/{gold['promise_id']}")).json()["confirmed"] == 8
    finally:
        await reader.stop()
        await client.aclose()
        await host.stop()
