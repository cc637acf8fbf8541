"""The gateway against the REAL classifier, allocator, policy and audit services.

Each real service host runs embedded (one MemoryBus, SQLite files in tmp_path) and is served by uvicorn
on a free 127.0.0.1 port; the gateway's upstream URLs point at them, so every call below crosses HTTP
exactly as in distributed mode.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts import topics
from contracts.envelope import new_envelope, to_headers
from contracts.erp import InventoryPosition
from contracts.topics import all_topics
from services.gateway import app as gateway_app
from services.gateway.settings import GatewaySettings
from services.runtime.auth import issue_token
from services.runtime.bus.memory import MemoryBus
from services.runtime.host import ServiceHost
from tests.unit.classifier.service_support import customer, day, place, product
from tests.unit.gateway.conftest import SECRET
from tests.unit.gateway.standin import Served

REAL = ("classifier", "allocator", "policy", "audit")
REVENUES = {"C1": 700.0, "C2": 200.0, "C3": 60.0, "C4": 40.0}  # cumulative shares before: 0 .7 .9 .96


class Platform:
    """The four real services on ports, a gateway in front, and a client of the gateway."""

    def __init__(self, bus: MemoryBus, hosts: dict[str, ServiceHost], served: dict[str, Served]) -> None:
        self.bus = bus
        self.hosts = hosts
        self.served = served
        gateway = hosts["gateway"]
        self.settings = gateway.settings
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway.app), base_url="http://gw")

    def auth(self, subject: str, *roles: str) -> dict[str, str]:
        token = issue_token(self.settings, subject=subject, roles=list(roles))
        return {"Authorization": f"Bearer {token}"}


async def eventually(check: Any, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    import importlib

    bus = MemoryBus()
    await bus.ensure_topics(all_topics())
    base: dict[str, Any] = dict(data_dir=tmp_path, mode="embedded", env="test", jwt_secret=SECRET)
    settings = GatewaySettings(**base)
    hosts: dict[str, ServiceHost] = {}
    served: dict[str, Served] = {}
    try:
        for name in REAL:
            host = importlib.import_module(f"services.{name}.app").build(settings, bus=bus)
            if name == "classifier":
                host.state["scheduler"] = False
            await host.start()
            hosts[name] = host
            served[name] = await Served(host.app).start()
        urls = {f"{name}_url": served[name].url for name in REAL}
        gateway = gateway_app.build(GatewaySettings(**base, **urls, gateway_rate_per_s=1000.0), bus=bus)
        await gateway.start()
        hosts["gateway"] = gateway
        platform = Platform(bus, hosts, served)
        yield platform
        await platform.client.aclose()
    finally:
        for server in served.values():
            await server.stop()
        for host in reversed(list(hosts.values())):
            if host.started:
                await host.stop()


async def _inventory(bus: MemoryBus, sku: str, site: str, on_hand: float) -> None:
    event = InventoryPosition(sku=sku, site=site, on_hand=on_hand, unit="EA", as_of=dt.datetime.now(dt.UTC))
    env = new_envelope(source="wms/test", type=event.EVENT_TYPE, subject=f"{sku}@{site}", payload=event)
    assert env.data is not None
    await bus.publish(topics.WMS_INVENTORY, f"{sku}@{site}".encode(), env.data, to_headers(env))


async def test_promise_through_the_gateway_confirms_from_real_inventory(platform: Platform) -> None:
    planner = platform.auth("plan", "planner")
    shop = platform.auth("shop", "service")
    await _inventory(platform.bus, "SKU-1", "W1", 40)

    async def stocked() -> bool:
        r = await platform.client.get("/v1/atp", params={"sku": "SKU-1", "site": "W1"}, headers=planner)
        return r.status_code == 200 and r.json()["on_hand"] == 40

    await eventually(stocked)
    today = dt.date.today().isoformat()
    body = {"customer_id": "C9", "sku": "SKU-1", "site": "W1", "quantity": 25, "requested_date": today}
    first = await platform.client.post("/v1/promise", json={**body, "idempotency_key": "k-1"}, headers=shop)
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["degraded"] is False and answer["promise_id"]
    assert answer["confirmed"] == 25 and answer["unconfirmed"] == 0
    assert sum(c["quantity"] for c in answer["confirmations"]) == 25
    # the same idempotency key again: the same promise, nothing reserved twice
    again = await platform.client.post("/v1/promise", json={**body, "idempotency_key": "k-1"}, headers=shop)
    assert again.json()["promise_id"] == answer["promise_id"]
    # a second order sees what the first one reserved: 40 - 25 = 15 confirmed, 10 not
    second = await platform.client.post("/v1/promise", json={**body, "idempotency_key": "k-2"}, headers=shop)
    assert second.status_code == 200, second.text
    assert second.json()["confirmed"] == 15 and second.json()["unconfirmed"] == 10
    # a fractional quantity is refused by the gateway (the allocator promises whole units)
    bad = await platform.client.post(
        "/v1/promise", json={**body, "quantity": 2.5, "idempotency_key": "k-3"}, headers=shop
    )
    assert bad.status_code == 400
    # the ATP snapshot the gateway keeps for degraded mode comes from the real allocator's answer
    atp = await platform.client.get("/v1/atp", params={"sku": "SKU-1", "site": "W1"}, headers=planner)
    assert atp.json()["promisable"] == 0


async def _orders(platform: Platform) -> None:
    bus = platform.bus
    for name in REVENUES:
        await customer(bus, name)
    await product(bus, "P1")
    for n, (name, revenue) in enumerate(REVENUES.items()):
        await place(
            bus,
            order_id=f"O{n}",
            line_id="1",
            customer_id=name,
            sku="P1",
            quantity=revenue / 10,
            price=10.0,
            at=day(2024, 1 + n, 3),
            cost=4.0,
        )
    classifier = platform.hosts["classifier"]

    async def loaded() -> bool:
        return sum(c.processed_count for c in classifier.consumers) >= 9

    await eventually(loaded)


async def _run(platform: Platform, headers: dict[str, str]) -> dict[str, Any]:
    started = await platform.client.post("/v1/runs", json={"dimension": "customer"}, headers=headers)
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    result: dict[str, Any] = {}

    async def done() -> bool:
        nonlocal result
        result = (await platform.client.get(f"/v1/runs/{run_id}", headers=headers)).json()
        return result.get("status") in ("succeeded", "failed")

    await eventually(done)
    assert result["status"] == "succeeded", result
    return result


async def test_segments_overrides_kpis_and_audit_through_the_gateway(platform: Platform) -> None:
    planner = platform.auth("plan", "planner")
    approver = platform.auth("appr", "approver")
    finance = platform.auth("fin", "finance")
    await _orders(platform)
    run = await _run(platform, planner)
    # revenue shares before each customer 0, .7, .9, .96 -> A, A, B, C (DESIGN.md ABC rule)
    assert run["counts"]["abc"] == {"A": 2, "B": 1, "C": 1}

    listed = await platform.client.get("/v1/segments", params={"dimension": "customer"}, headers=planner)
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert {i["entity_id"] for i in items} == {f"src:SAP-EU:{c}" for c in REVENUES}
    assert all(i.get("revenue") is None for i in items) and listed.json()["masked_fields"]
    filtered = await platform.client.get(
        "/v1/segments", params={"dimension": "customer", "abc": "A"}, headers=planner
    )
    assert {i["entity_id"] for i in filtered.json()["items"]} == {"src:SAP-EU:C1", "src:SAP-EU:C2"}

    matrix = await platform.client.get(
        "/v1/segments/matrix", params={"dimension": "customer"}, headers=planner
    )
    counts: dict[str, int] = {}
    for cell in matrix.json()["cells"]:
        counts[cell["abc"]] = counts.get(cell["abc"], 0) + cell["count"]
    assert counts == {"A": 2, "B": 1, "C": 1}

    entity = await platform.client.get("/v1/segments/customer/src:SAP-EU:C3", headers=planner)
    assert entity.status_code == 200, entity.text
    assert entity.json()["abc"] == "B"
    assert entity.json()["explanation"]["cum_share_before"] == pytest.approx(0.9)
    assert entity.json()["history"][0]["old"] is None
    seen_by_finance = await platform.client.get("/v1/segments/customer/src:SAP-EU:C3", headers=finance)
    assert seen_by_finance.json()["revenue"] == pytest.approx(60.0)
    assert seen_by_finance.json()["masked_fields"] == []

    # four-eyes: a planner requests, the requester cannot decide, a different approver approves
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()
    target = entity.json()["segment"]
    segments = ("GOLD", "PLATINUM", "STANDARD")  # segments of the default rule set
    new_segment = next(s for s in segments if s != target)
    request = {
        "dimension": "customer",
        "entity_id": "src:SAP-EU:C3",
        "segment": new_segment,
        "reason": "strategic account",
        "expires_at": expires,
    }
    requested = await platform.client.post("/v1/overrides", json=request, headers=planner)
    assert requested.status_code == 201, requested.text
    override_id = requested.json()["override_id"]
    pending = await platform.client.get("/v1/overrides", params={"status": "pending"}, headers=approver)
    assert [o["override_id"] for o in pending.json()["items"]] == [override_id]
    self_approval = await platform.client.post(
        f"/v1/overrides/{override_id}/approve", json={}, headers=platform.auth("plan", "approver")
    )
    assert self_approval.status_code == 403
    assert (
        await platform.client.post(f"/v1/overrides/{override_id}/approve", json={}, headers=planner)
    ).status_code == 403
    approved = await platform.client.post(f"/v1/overrides/{override_id}/approve", json={}, headers=approver)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["decided_by"] == "appr"

    async def overridden() -> bool:
        r = await platform.client.get("/v1/segments/customer/src:SAP-EU:C3", headers=planner)
        return r.json()["segment"] == new_segment

    await eventually(overridden)

    kpis = await platform.client.get("/v1/kpis", params={"window": 4}, headers=planner)
    assert kpis.status_code == 200, kpis.text
    assert kpis.json()["window"] == 4 and isinstance(kpis.json()["series"], list)
    assert (await platform.client.get("/v1/kpis", params={"window": "x"}, headers=planner)).status_code == 400
    alerts = await platform.client.get("/v1/alerts", params={"status": "open"}, headers=planner)
    assert alerts.status_code == 200 and isinstance(alerts.json()["items"], list)

    async def audited() -> bool:
        r = await platform.client.get("/v1/audit/entries", params={"limit": 1000}, headers=finance)
        return r.status_code == 200 and len(r.json()["items"]) > 0

    await eventually(audited)
    verify = await platform.client.get("/v1/audit/verify", headers=finance)
    assert verify.status_code == 200, verify.text
    assert verify.json().get("ok", verify.json().get("valid")) is True, verify.json()
    # the audit service lets planners read but only finance/admin export
    assert (await platform.client.get("/v1/audit/verify", headers=planner)).status_code == 200
    assert (await platform.client.get("/v1/audit/export", headers=planner)).status_code == 403
    exported = await platform.client.get("/v1/audit/export", headers=finance)
    assert exported.status_code == 200 and exported.content.count(b"\n") >= 1
