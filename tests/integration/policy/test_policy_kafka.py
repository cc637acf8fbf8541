"""The policy service on REAL PostgreSQL + Kafka: order, master-data and assignment events on the broker ->
proposal -> publish -> a policy.published record on the broker with ce_* headers."""

from __future__ import annotations

import httpx
import orjson
from sqlalchemy import func, select

from contracts import topics
from services.policy import app
from services.policy.tables import order_lines
from services.runtime.auth import issue_token
from services.runtime.settings import Settings
from tests.unit.policy.service_support import assigned, product, wait_for, weekly_orders


def settings_for(database_url: str, bootstrap: str, namespace: str) -> Settings:
    return Settings(
        mode="distributed",
        env="test",
        jwt_secret="test-secret-0123456789abcdef0123456789",
        database_url=database_url,
        kafka_bootstrap=bootstrap,
        topic_namespace=namespace,
        topic_partitions=3,
    )


async def test_orders_to_published_policy_on_the_broker(
    fresh_database: str, kafka_bootstrap: str, topic_namespace: str
) -> None:
    settings = settings_for(fresh_database, kafka_bootstrap, topic_namespace)
    host = app.build(settings)
    await host.start()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=host.app), base_url="http://t")
    auth = {"Authorization": f"Bearer {issue_token(settings, subject='pia', roles=['planner'])}"}
    try:
        records = [product("IP1", 7, erp_rop=90.0), assigned("IP1", "GOLD", 0.95)]
        records += weekly_orders("IP1", "DC1", [100.0] * 10)
        for topic, key, value, headers in records:
            await host.bus.publish(topic, key, value, headers)

        async def stored() -> bool:
            async with host.db.read() as session:
                return (
                    await session.execute(select(func.count()).select_from(order_lines))
                ).scalar_one() == 10

        await wait_for(stored)

        async def has_master_data() -> bool:
            from services.policy import store

            async with host.db.read() as session:
                return bool(await store.product_rows(session)) and bool(await store.assignment_rows(session))

        await wait_for(has_master_data)
        created = await client.post(
            "/v1/policy/proposals", json={"sku": "IP1", "simulation": {"paths": 30}}, headers=auth
        )
        assert created.status_code == 202
        proposal_id = created.json()["id"]
        await host.state["proposals"].wait()
        proposal = (await client.get(f"/v1/policy/proposals/{proposal_id}", headers=auth)).json()
        assert proposal["status"] == "passed", proposal
        published = await client.post(f"/v1/policy/proposals/{proposal_id}/publish", headers=auth)
        assert published.status_code == 200, published.text

        async def on_broker() -> bool:
            return any(r.value is not None for r in await host.bus.read_all(topics.POLICY_PARAMETERS))

        await wait_for(on_broker)
        [rec] = [r for r in await host.bus.read_all(topics.POLICY_PARAMETERS) if r.value is not None]
        assert rec.key == b"IP1@DC1"
        assert rec.header("ce_type") == b"segflow.policy.published"
        assert rec.header("ce_source") == b"segflow/policy"
        assert rec.header("ce_specversion") == b"1.0" and rec.header("ce_id")
        payload = orjson.loads(rec.value)
        assert payload["proposal_id"] == proposal_id and payload["reorder_point"] == 100.0  # d * L = 100 * 1
        assert payload["erp_delta"]["reorder_point_delta"] == 10.0
    finally:
        await client.aclose()
        await host.stop()
