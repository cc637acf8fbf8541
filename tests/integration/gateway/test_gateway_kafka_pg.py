"""The gateway on REAL Kafka + PostgreSQL: segment.assigned events on the broker reach the gateway's read
model; the partner feed shows only that partner's entities; a tombstone deletes; webhooks are enqueued."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx

from contracts import topics
from contracts.envelope import new_envelope, to_headers
from contracts.segments import SegmentAssigned
from services.gateway import app as gateway_app
from services.gateway import store
from services.runtime.auth import issue_token
from services.runtime.bus import build_bus
from services.runtime.settings import Settings
from tests.unit.gateway.conftest import assigned


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float = 90.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.1)


async def test_assignments_on_kafka_reach_read_model_and_partner_feed(
    fresh_database: str, kafka_bootstrap: str, topic_namespace: str
) -> None:
    settings = Settings(
        mode="distributed",
        env="test",
        jwt_secret="test-secret-0123456789abcdef0123456789",
        database_url=fresh_database,
        kafka_bootstrap=kafka_bootstrap,
        topic_namespace=topic_namespace,
        topic_partitions=3,
    )
    host = gateway_app.build(settings)
    await host.start()
    producer = build_bus(settings, client_id="segflow-test-producer")
    await producer.start()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=host.app), base_url="http://gw")
    try:
        hook = await client.post(
            "/v1/partners/me/webhooks",
            json={"url": "http://127.0.0.1:9/hook"},
            headers={
                "Authorization": "Bearer "
                + issue_token(settings, subject="dhl-ops", roles=["partner"], partner_id="dhl")
            },
        )
        assert hook.status_code == 201
        events = [
            assigned("product", "P1", "A-X", partners=("dhl",)),
            assigned("product", "P2", "B-Y", partners=("ups",)),
            assigned("product", "P3", "C-Z", partners=("dhl", "ups")),
            assigned("customer", "C1", "GOLD", partners=()),
        ]
        for event in events:
            key = f"{event.dimension}:{event.entity_id}"
            env = new_envelope(
                source="segflow/classifier", type=SegmentAssigned.EVENT_TYPE, subject=key, payload=event
            )
            assert env.data is not None
            await producer.publish(topics.SEGMENTS_ASSIGNMENTS, key.encode(), env.data, to_headers(env))

        async def all_in() -> bool:
            async with host.db.read() as s:
                return len(await store.list_assignments(s)) == 4

        await wait_for(all_in)
        dhl = {
            "Authorization": "Bearer "
            + issue_token(settings, subject="dhl-ops", roles=["partner"], partner_id="dhl")
        }
        page = (await client.get("/v1/partners/me/feed", headers=dhl)).json()
        assert sorted(i["assignment"]["entity_id"] for i in page["items"]) == ["P1", "P3"]
        assert all("revenue" not in i["assignment"] for i in page["items"])
        after = (
            await client.get("/v1/partners/me/feed", params={"cursor": page["next_cursor"]}, headers=dhl)
        ).json()
        assert after["items"] == [] and after["next_cursor"] == page["next_cursor"]

        me = {
            "Authorization": "Bearer "
            + issue_token(settings, subject="buyer", roles=["customer"], customer_id="C1")
        }
        assert (await client.get("/v1/me/segment", headers=me)).json()["segment"] == "GOLD"

        # a tombstone on the compacted topic deletes P1 and tells dhl
        await producer.publish(topics.SEGMENTS_ASSIGNMENTS, b"product:P1", None, [])

        async def deleted() -> bool:
            async with host.db.read() as s:
                return await store.current_assignment(s, "product:P1") is None

        await wait_for(deleted)
        tail = (
            await client.get("/v1/partners/me/feed", params={"cursor": page["next_cursor"]}, headers=dhl)
        ).json()
        assert [(i["op"], i["key"]) for i in tail["items"]] == [("deleted", "product:P1")]
        deliveries = (await client.get("/v1/partners/me/webhooks/deliveries", headers=dhl)).json()["items"]
        assert sorted(d["feed_seq"] for d in deliveries) == sorted(
            [i["seq"] for i in page["items"]] + [tail["items"][0]["seq"]]
        )
    finally:
        await client.aclose()
        await producer.stop()
        await host.stop()
