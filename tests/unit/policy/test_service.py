"""The policy service in embedded mode (MemoryBus + SQLite): handlers, proposals, publish, KPIs, alerts."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from scipy import stats
from sqlalchemy import select

from contracts import topics
from services.policy import app
from services.policy.tables import order_lines
from services.runtime.auth import issue_token
from services.runtime.bus.memory import MemoryBus
from services.runtime.host import ServiceHost
from services.runtime.settings import Settings
from tests.unit.policy.service_support import (
    MONDAY,
    Record,
    assigned,
    delivered,
    order,
    product,
    wait_for,
    weekly_orders,
)


class Running:
    def __init__(self, host: ServiceHost, bus: MemoryBus, settings: Settings) -> None:
        self.host, self.bus, self.settings = host, bus, settings
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=host.app), base_url="http://t")

    def auth(self, *roles: str, **claims: str) -> dict[str, str]:
        token = issue_token(self.settings, subject=f"user-{'-'.join(roles)}", roles=list(roles), **claims)
        return {"Authorization": f"Bearer {token}"}

    async def publish(self, records: list[Record]) -> None:
        for topic, key, value, headers in records:
            await self.bus.publish(topic, key, value, headers)

    async def settle(self) -> None:
        """Wait until the consumer has processed everything on its topics."""
        consumer = self.host.consumers[0]

        async def caught_up() -> bool:
            return all(v == 0 for v in (await consumer.lag()).values())

        await wait_for(caught_up)

    async def proposal(self, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post("/v1/policy/proposals", json=body, headers=self.auth("planner"))
        assert response.status_code == 202, response.text
        proposal_id = response.json()["id"]
        await self.host.state["proposals"].wait()
        got = await self.client.get(f"/v1/policy/proposals/{proposal_id}", headers=self.auth("planner"))
        assert got.status_code == 200
        return dict(got.json())

    async def outbox_events(self, topic: str) -> list[tuple[str, dict[str, Any]]]:
        async def drained() -> bool:
            return await self.host.relay.backlog() == 0

        await wait_for(drained)
        return [
            ((r.key or b"").decode(), orjson.loads(r.value))
            for r in await self.bus.read_all(topic)
            if r.value is not None
        ]


@pytest.fixture
async def svc(tmp_path) -> AsyncIterator[Running]:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path, mode="embedded")
    bus = MemoryBus()
    host = app.build(settings, bus=bus, transaction_batch=50)
    await host.start()
    running = Running(host, bus, settings)
    try:
        yield running
    finally:
        await running.client.aclose()
        await host.stop()


async def test_orders_are_stored_in_base_units_and_unknown_units_dead_letter(svc: Running) -> None:
    await svc.publish([product("P1", 7)])
    await svc.settle()
    _, key, value, headers = order("O1", "P1", "S1", 2, MONDAY)
    await svc.bus.publish(topics.ERP_ORDERS, key, value.replace(b'"unit":"EA"', b'"unit":"CS"'), headers)
    _, key, value, headers = order("O2", "P1", "S1", 3, MONDAY)
    await svc.bus.publish(topics.ERP_ORDERS, key, value.replace(b'"unit":"EA"', b'"unit":"KGM"'), headers)
    await svc.settle()
    async with svc.host.db.read() as session:
        rows = (await session.execute(select(order_lines.c.order_id, order_lines.c.quantity))).all()
    assert [(r.order_id, r.quantity) for r in rows] == [("O1", 24.0)]  # 2 CS x 12 EA
    dlq = await svc.bus.read_all(topics.DLQ)
    assert len(dlq) == 1 and b"KGM" in (dlq[0].header("dlq_error") or b"")


async def test_proposal_statistics_match_an_independent_weekly_bucketing(svc: Running) -> None:
    quantities = [120.0, 0.0, 80.0, 100.0, 90.0, 0.0, 130.0, 110.0, 95.0, 105.0]
    await svc.publish(
        [product("P2", 14, 3.5), assigned("P2", "GOLD", 0.9), *weekly_orders("P2", "S1", quantities)]
    )
    await svc.settle()
    proposal = await svc.proposal({"sku": "P2", "simulation": {"paths": 50, "periods": 26}})
    assert proposal["status"] in ("passed", "held") and proposal["progress"] == 1.0
    [item] = proposal["items"]
    # independent: buckets from the first order week to the last, zeros included; sample std
    first = next(i for i, q in enumerate(quantities) if q > 0)
    buckets = quantities[first:]
    mean = sum(buckets) / len(buckets)
    std = math.sqrt(sum((q - mean) ** 2 for q in buckets) / (len(buckets) - 1))
    assert item["inputs"]["demand_mean"] == pytest.approx(mean)
    assert item["inputs"]["demand_std"] == pytest.approx(std)
    assert item["inputs"]["lead_time_mean"] == pytest.approx(2.0)  # 14 days = 2 weeks
    assert item["inputs"]["lead_time_std"] == pytest.approx(0.5)
    # weekly review (R = 1 bucket): sigma over L + R = sqrt((L + R) sd^2 + d^2 sL^2), S = d (L + R) + z sigma
    sigma = math.sqrt(3.0 * std**2 + mean**2 * 0.5**2)
    closed = item["closed_form"] or item  # the closed form, before any calibration
    assert closed["safety_stock"] == pytest.approx(stats.norm.ppf(0.9) * sigma)
    assert closed["reorder_point"] == pytest.approx(mean * 2 + stats.norm.ppf(0.9) * sigma)
    assert closed["order_up_to"] == pytest.approx(mean * 3 + stats.norm.ppf(0.9) * sigma)
    assert item["inputs"]["review_period"] == 1.0
    assert item["segment"] == "GOLD" and item["lead_time_source"] == "master_data"


async def test_passing_proposal_publishes_through_the_outbox(svc: Running) -> None:
    await svc.publish(
        [
            product("P3", 7, erp_ss=50, erp_rop=80),
            assigned("P3", "GOLD", 0.95),
            *weekly_orders("P3", "S1", [100.0] * 12),
        ]
    )
    await svc.settle()
    proposal = await svc.proposal({"segment": "GOLD", "simulation": {"paths": 40, "periods": 30, "seed": 3}})
    assert proposal["status"] == "passed" and proposal["passed"] is True
    [item] = proposal["items"]
    assert item["met"] and item["lower"] >= 0.95  # constant demand, fixed lead time: never short
    assert item["safety_stock"] == pytest.approx(0.0) and item["reorder_point"] == pytest.approx(100.0)
    denied = await svc.client.post(
        f"/v1/policy/proposals/{proposal['id']}/publish", headers=svc.auth("customer", customer_id="C1")
    )
    assert denied.status_code == 403
    response = await svc.client.post(
        f"/v1/policy/proposals/{proposal['id']}/publish", headers=svc.auth("planner")
    )
    assert response.status_code == 200, response.text
    events = await svc.outbox_events(topics.POLICY_PARAMETERS)
    assert [k for k, _ in events] == ["P3@S1"]
    payload = events[0][1]
    assert payload["reorder_point"] == pytest.approx(100.0)
    assert payload["simulation"]["cycle_service_level_ci_low"] >= 0.95
    assert (
        payload["erp_delta"]["reorder_point_delta"] == pytest.approx(20.0) and payload["erp_delta"]["flagged"]
    )
    params = await svc.client.get("/v1/policy/parameters?site=S1", headers=svc.auth("finance"))
    assert [p["sku"] for p in params.json()["items"]] == ["P3"]
    again = await svc.client.post(
        f"/v1/policy/proposals/{proposal['id']}/publish", headers=svc.auth("planner")
    )
    assert again.status_code == 409
    recon = (
        await svc.client.get("/v1/policy/reconciliation?threshold=0.1", headers=svc.auth("planner"))
    ).json()
    rop = next(r for r in recon["items"] if r["parameter"] == "reorder_point")
    assert (
        rop["delta"] == pytest.approx(20.0)
        and rop["relative_delta"] == pytest.approx(0.25)
        and rop["flagged"]
    )
    ss = next(r for r in recon["items"] if r["parameter"] == "safety_stock")
    assert ss["delta"] == pytest.approx(-50.0) and ss["direction"] == -1


async def test_held_proposal_is_a_409_with_the_evidence(svc: Running) -> None:
    rng = np.random.default_rng(7)
    quantities = list(np.round(rng.normal(100, 30, 30).clip(1, None)))
    await svc.publish(
        [product("P4", 14), assigned("P4", "GOLD", 0.95), *weekly_orders("P4", "S1", quantities)]
    )
    await svc.settle()
    # a zero safety-stock ceiling cannot deliver 95 % cycle service on noisy demand
    proposal = await svc.proposal({"sku": "P4", "bounds": {"max_cover": 0}, "simulation": {"paths": 100}})
    assert proposal["status"] == "held" and proposal["passed"] is False
    [item] = proposal["items"]
    assert item["binding"] == "max_cover" and item["safety_stock"] == 0.0 and not item["met"]
    response = await svc.client.post(
        f"/v1/policy/proposals/{proposal['id']}/publish", headers=svc.auth("admin")
    )
    assert response.status_code == 409
    body = response.json()
    assert body["evidence"][0]["sku"] == "P4" and body["evidence"][0]["lower"] < 0.95
    assert await svc.outbox_events(topics.POLICY_PARAMETERS) == []


async def test_items_without_segment_or_lead_time_are_skipped_with_the_reason(svc: Running) -> None:
    await svc.publish(
        [*weekly_orders("P5", "S1", [5.0, 6.0]), assigned("P6", "GOLD"), *weekly_orders("P6", "S1", [5.0])]
    )
    await svc.settle()
    proposal = await svc.proposal({})
    reasons = {s["sku"]: s["reason"] for s in proposal["skipped"]}
    assert "segment" in reasons["P5"] and "lead time" in reasons["P6"]
    assert proposal["items"] == [] and proposal["status"] == "held"


def _otif_by_week(lines: list[tuple[int, bool]]) -> dict[int, float]:
    out: dict[int, list[bool]] = {}
    for week, ok in lines:
        out.setdefault(week, []).append(ok)
    return {w: sum(v) / len(v) for w, v in out.items()}


async def test_kpis_series_alert_raise_and_clear(svc: Running) -> None:
    await svc.publish([assigned("K1", "GOLD", 0.95, otif=0.9)])
    records: list[Record] = []
    expected: list[tuple[int, bool]] = []
    # weeks 0-3 on time, 4-9 late (2 days), 10-27 on time; 3 lines a week, all in full
    for week in range(28):
        late = 4 <= week <= 9
        for n in range(3):
            oid = f"K1-{week}-{n}"
            due = MONDAY + timedelta(weeks=week, days=2)
            # one key: the lines arrive in time order, as from one ERP (orders and shipments interleaved)
            records.append(
                order(oid, "K1", "S1", 10, due - timedelta(days=1), requested=due, region="EU", key="K")
            )
            records.append(delivered(oid, "K1", "S1", 10, due + timedelta(days=2 if late else 0), key="K"))
            expected.append((week, not late))
    await svc.publish(records)
    await svc.settle()
    body = (
        await svc.client.get("/v1/kpis?kpi=otif&window=1", headers=svc.auth("customer", customer_id="C1"))
    ).json()
    [gold] = body["series"]
    assert gold["group"] == "GOLD"
    got = {(p["week_start"]): p["value"] for p in gold["points"]}
    want = {(MONDAY + timedelta(weeks=w)).isoformat(): v for w, v in _otif_by_week(expected).items()}
    assert got == want
    rolling = (
        await svc.client.get("/v1/kpis?kpi=otif&window=4&by=region", headers=svc.auth("planner"))
    ).json()
    points = rolling["series"][0]["points"]
    assert rolling["series"][0]["group"] == "EU" and points[5]["value"] == pytest.approx(2 / 4)  # weeks 2..5
    # evaluation (after shipment batches, or explicitly): EWMA below 0.9 for 3 windows raises
    result = await svc.client.post("/v1/kpis/evaluate", json={}, headers=svc.auth("planner"))
    assert result.status_code == 200
    opened = (await svc.client.get("/v1/alerts?status=open", headers=svc.auth("planner"))).json()["items"]
    assert opened == [], [(a["kpi"], a["week_start"], a["value"]) for a in opened]
    cleared = (await svc.client.get("/v1/alerts?status=cleared", headers=svc.auth("planner"))).json()["items"]
    otif_alerts = [a for a in cleared if a["kpi"] == "otif"]
    assert len(otif_alerts) == 1 and otif_alerts[0]["escalation"] == ["planner", "supply-chain-manager"]
    events = [e for _, e in await svc.outbox_events(topics.KPI_ALERTS) if e["kpi"] == "otif"]
    kinds = [("raised" if e.get("escalation") else "cleared") for e in events]
    assert kinds == ["raised", "cleared"]
    # independent EWMA (lambda 0.3) with the default k = 3 below target: raised in week 6 (three weeks late)
    # and cleared after 2 windows at or above 0.9 + 0.02; the alerts watch the default 4-week window
    weekly = _otif_by_week(expected)
    ewma, below, above, raised_week, cleared_week = None, 0, 0, None, None
    for week in sorted(weekly):
        value = sum(weekly[w] for w in range(max(week - 3, 0), week + 1)) / (week - max(week - 3, 0) + 1)
        ewma = value if ewma is None else 0.3 * value + 0.7 * ewma
        below = below + 1 if ewma < 0.9 else 0
        above = above + 1 if ewma >= 0.92 else 0
        if below >= 3 and raised_week is None:
            raised_week = week
        if raised_week is not None and above >= 2 and cleared_week is None:
            cleared_week = week
    assert raised_week == 7 and cleared_week is not None and cleared_week <= 25  # evaluated through 27 - 2
    assert otif_alerts[0]["week_start"] == (MONDAY + timedelta(weeks=raised_week)).isoformat()
    assert otif_alerts[0]["cleared_at"].startswith((MONDAY + timedelta(weeks=cleared_week + 1)).isoformat())
    assert events[0]["value"] == pytest.approx(otif_alerts[0]["value"])


async def test_escalation_path_is_configurable_per_segment_and_cost_is_masked(svc: Running) -> None:
    put = await svc.client.put(
        "/v1/alerts/escalation/GOLD", json={"path": ["planner", "vp-ops"]}, headers=svc.auth("admin")
    )
    assert put.status_code == 200
    table = (await svc.client.get("/v1/alerts/escalation", headers=svc.auth("planner"))).json()
    assert table["segments"] == {"GOLD": ["planner", "vp-ops"]}
    await svc.publish(
        [assigned("K2", "GOLD")]
        + [delivered(f"D{i}", "K2", "S1", 4, MONDAY, MONDAY, freight=10.0) for i in range(3)]
    )
    await svc.settle()
    finance = (await svc.client.get("/v1/kpis/cost-to-serve", headers=svc.auth("finance"))).json()
    [gold] = finance["items"]
    assert (
        gold["cost"] == {"total": 30.0, "per_unit": 30.0 / 12, "per_line": 10.0} and finance["masked"] == []
    )
    planner = (await svc.client.get("/v1/kpis/cost-to-serve", headers=svc.auth("planner"))).json()
    assert planner["items"][0]["cost"] is None and planner["masked"] == ["items.0.cost"]


async def test_auth_on_stateless_and_proposal_routes(svc: Running) -> None:
    body = {
        "items": [
            {
                "id": "a",
                "demand_mean": 10,
                "demand_std": 2,
                "lead_time_mean": 1,
                "service_level": {"type": "cycle", "target": 0.9},
            }
        ]
    }
    assert (await svc.client.post("/v1/policy/compute", json=body)).status_code == 401
    ok = await svc.client.post(
        "/v1/policy/compute", json=body, headers=svc.auth("customer", customer_id="C1")
    )
    assert ok.status_code == 200
    denied = await svc.client.post(
        "/v1/policy/proposals", json={}, headers=svc.auth("customer", customer_id="C1")
    )
    assert denied.status_code == 403
    bad = await svc.client.post(
        "/v1/policy/proposals", json={"review_period": -1}, headers=svc.auth("planner")
    )
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "review_period"
    missing = await svc.client.get("/v1/policy/proposals/nope", headers=svc.auth("planner"))
    assert missing.status_code == 404
