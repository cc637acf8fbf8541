"""The public promise API: proxying with the idempotency key kept, rate limiting, degraded answers, readiness."""

from __future__ import annotations

from typing import Any

from services.gateway import store
from tests.unit.gateway.conftest import Gateway

BODY = {
    "idempotency_key": "order-1:1",
    "customer_id": "C1",
    "sku": "S1",
    "site": "W1",
    "quantity": 8,
    "requested_date": "2024-03-02",
    "reserve": True,
}


async def test_promise_proxies_and_keeps_idempotency_key_across_retries(
    make_gateway: Any, standin: Any
) -> None:
    served, state = standin
    gw: Gateway = await make_gateway(served.url, gateway_upstream_retries=3)
    state.promise_failures = 2  # two 503s, then an answer
    r = await gw.client.post("/v1/promise", json=BODY, headers=gw.auth("shop", "service"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["degraded"] is False and body["promise_id"] == "p-order-1:1"
    attempts = [c for c in state.calls if c.path == "/v1/promise"]
    assert len(attempts) == 3
    assert {c.headers["idempotency-key"] for c in attempts} == {"order-1:1"}
    assert all(c.body == attempts[0].body for c in attempts)
    assert attempts[0].body["idempotency_key"] == "order-1:1"


async def test_promise_refreshes_the_atp_snapshot(gw: Gateway, standin: Any) -> None:
    r = await gw.client.post("/v1/promise", json=BODY, headers=gw.auth("shop", "service"))
    assert r.status_code == 200

    async def snapped() -> bool:
        async with gw.host.db.read() as s:
            return await store.load_atp(s, "S1@W1") is not None

    await gw.settle(snapped)
    async with gw.host.db.read() as s:
        buckets, _ = await store.load_atp(s, "S1@W1")  # type: ignore[misc]
    assert buckets == [("2024-03-01", 5.0), ("2024-03-04", 10.0)]


async def test_rate_limit_is_per_client_with_retry_after(make_gateway: Any, standin: Any) -> None:
    gw: Gateway = await make_gateway(standin[0].url, gateway_rate_burst=3, gateway_rate_per_s=0.5)
    shop = gw.auth("shop", "service")
    codes = [
        (
            await gw.client.post("/v1/promise", json={**BODY, "idempotency_key": f"k{i}"}, headers=shop)
        ).status_code
        for i in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    r = await gw.client.post("/v1/promise", json=BODY, headers=shop)
    assert r.status_code == 429
    assert r.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(r.headers["retry-after"]) <= 2  # one token every 2 s
    other = await gw.client.post("/v1/promise", json=BODY, headers=gw.auth("other-shop", "service"))
    assert other.status_code == 200  # buckets are per client


async def test_degraded_promise_from_snapshot_without_reserving(make_gateway: Any, standin: Any) -> None:
    served, state = standin
    up: Gateway = await make_gateway(served.url)
    # learn the snapshot through GET /v1/atp while the allocator is up
    assert (
        await up.client.get("/v1/atp", params={"sku": "S1", "site": "W1"}, headers=up.auth("p", "planner"))
    ).status_code == 200
    async with up.host.db.read() as s:
        snapshot = await store.load_atp(s, "S1@W1")
    assert snapshot is not None
    # a second gateway on the same database whose allocator is down
    from services.gateway import app as gateway_app
    from services.runtime.bus.memory import MemoryBus

    down_settings = up.host.settings.model_copy(update={"allocator_url": "http://127.0.0.1:9"})
    host = gateway_app.build(down_settings, bus=MemoryBus())
    await host.start()
    try:
        down = Gateway(host, host.bus)  # type: ignore[arg-type]
        await down.assign("customer", "C1", "GOLD", 1)

        async def seen() -> bool:
            async with host.db.read() as s:
                return await store.current_assignment(s, "customer:C1") is not None

        await down.settle(seen)
        before = len([c for c in state.calls if c.path == "/v1/promise"])
        r = await down.client.post("/v1/promise", json=BODY, headers=down.auth("shop", "service"))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["degraded"] is True and body["promise_id"] is None
        # requested 2024-03-02, 8 units; ATP 5 on 03-01 (confirmable no earlier than the request) + 10 on 03-04
        assert body["confirmations"] == [
            {"date": "2024-03-02", "quantity": 5.0},
            {"date": "2024-03-04", "quantity": 3.0},
        ]
        assert body["unconfirmed"] == 0.0
        assert body["segment"] == "GOLD" and body["tier"] == 1
        assert (
            len([c for c in state.calls if c.path == "/v1/promise"]) == before
        )  # nothing reached an allocator
        big = await down.client.post(
            "/v1/promise", json={**BODY, "quantity": 20}, headers=down.auth("shop", "service")
        )
        assert big.json()["unconfirmed"] == 5.0
        unknown = await down.client.post(
            "/v1/promise", json={**BODY, "sku": "NEW"}, headers=down.auth("shop", "service")
        )
        assert unknown.status_code == 503 and "retry-after" in unknown.headers
        await down.client.aclose()
    finally:
        await host.stop()


async def test_reject_mode_answers_503_with_retry_after(make_gateway: Any) -> None:
    gw: Gateway = await make_gateway(gateway_degraded_mode="reject")
    r = await gw.client.post("/v1/promise", json=BODY, headers=gw.auth("shop", "service"))
    assert r.status_code == 503
    assert r.headers["retry-after"] == "5"
    assert r.json()["upstream"] == "allocator"


async def test_promise_validation_is_400_naming_the_field(gw: Gateway) -> None:
    r = await gw.client.post("/v1/promise", json={**BODY, "quantity": -1}, headers=gw.auth("shop", "service"))
    assert r.status_code == 400
    assert [e["field"] for e in r.json()["errors"]] == ["quantity"]


async def test_readyz_names_the_missing_upstream(make_gateway: Any, standin: Any) -> None:
    served, _ = standin
    gw: Gateway = await make_gateway(served.url, allocator_url="http://127.0.0.1:9")
    r = await gw.client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["failed"] == ["allocator"]
    ok: Gateway = await make_gateway(served.url)
    r = await ok.client.get("/readyz")
    assert r.status_code == 200
    assert set(r.json()["checks"]) == {"database", "bus", "classifier", "allocator", "policy", "audit"}


async def test_portal_keeps_serving_when_every_upstream_is_down(make_gateway: Any) -> None:
    gw: Gateway = await make_gateway()
    await gw.assign("customer", "C7", "SILVER", 2)

    async def seen() -> bool:
        async with gw.host.db.read() as s:
            return await store.current_assignment(s, "customer:C7") is not None

    await gw.settle(seen)
    r = await gw.client.get("/v1/me/entitlements", headers=gw.auth("c", "customer", customer_id="C7"))
    assert r.status_code == 200 and r.json()["segment"] == "SILVER"


async def test_dev_token_only_in_development(make_gateway: Any) -> None:
    test_env: Gateway = await make_gateway()
    body = {"subject": "ann", "roles": ["planner"]}
    assert (await test_env.client.post("/v1/dev/token", json=body)).status_code == 404
    dev: Gateway = await make_gateway(env="development")
    r = await dev.client.post("/v1/dev/token", json=body)
    assert r.status_code == 200
    token = r.json()["token"]
    matrix = await dev.client.get("/v1/me/segment", headers={"Authorization": f"Bearer {token}"})
    assert matrix.status_code == 403  # a valid planner token, refused by role
    bad = await dev.client.post("/v1/dev/token", json={"subject": "c", "roles": ["customer"]})
    assert bad.status_code == 400  # a customer token needs customer_id


async def test_exports(gw: Gateway) -> None:
    await gw.assign("customer", "C1", "GOLD", 1)
    await gw.assign("customer", "C2", "GOLD", 1)
    await gw.assign("product", "P1", "A-X", 1)

    async def seen() -> bool:
        async with gw.host.db.read() as s:
            return len(await store.list_assignments(s)) == 3

    await gw.settle(seen)
    text = (await gw.client.get("/v1/exports/segments.csv", headers=gw.auth("f", "finance"))).text
    lines = text.strip().split("\n")
    assert lines[0].startswith("dimension,segment,tier,entities,service_level_type")
    assert lines[1].startswith("customer,GOLD,1,2,cycle,0.98,0.95,2,win")
    assert lines[2].startswith("product,A-X,1,1,")
    kpis = (
        (await gw.client.get("/v1/exports/kpis.csv", headers=gw.auth("p", "planner")))
        .text.strip()
        .split("\n")
    )
    assert kpis[0] == "segment,kpi,target,window,value"
    assert kpis[1:] == [
        "GOLD,otif,0.95,2024-W01,0.97",
        "GOLD,otif,0.95,2024-W02,0.93",
        "SILVER,otif,0.9,2024-W01,0.91",
    ]
