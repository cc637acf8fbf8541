"""Embedded classifier runs over HTTP: classification from stored measures, run records, stability across
runs, partner projections without financials, masking, overrides (four-eyes), rule-set lifecycle."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import yaml

from contracts import topics
from services.classifier import app
from services.classifier.domain.ruleset import DEFAULT_RULESET, content_hash
from services.runtime.bus.memory import MemoryBus
from services.runtime.settings import Settings

from .service_support import client, customer, day, eventually, place, product, run_and_wait

REVENUES = {"C1": 700.0, "C2": 200.0, "C3": 60.0, "C4": 40.0}  # shares before: 0, .7, .9, .96 -> A A B C


@pytest.fixture
async def service(tmp_path) -> AsyncIterator[tuple[Any, MemoryBus, Settings]]:  # type: ignore[no-untyped-def]
    bus = MemoryBus()
    settings = Settings(data_dir=tmp_path, mode="embedded")
    host = app.build(settings, bus=bus)
    host.state["scheduler"] = False
    await host.start()
    await customer(bus, "C1", partner_ids=["dhl-1"], account_owner="ann")
    for name in ("C2", "C3", "C4"):
        await customer(bus, name)
    await customer(bus, "anonymous")
    await product(bus, "P1")
    await product(bus, "P2")
    for n, (name, revenue) in enumerate(REVENUES.items()):
        await place(
            bus,
            order_id=f"O{n}",
            line_id="1",
            customer_id=name,
            sku="P1" if n < 2 else "P2",
            quantity=revenue / 10,
            price=10.0,
            at=day(2024, 1 + n, 3),
            cost=4.0,
        )
    await place(
        bus,
        order_id="OA",
        line_id="1",
        customer_id="anonymous",
        sku="P2",
        quantity=1000,
        price=10.0,
        at=day(2024, 2, 3),
    )

    async def loaded() -> bool:
        return sum(c.processed_count for c in host.consumers) >= 12

    await eventually(loaded)
    try:
        yield host, bus, settings
    finally:
        await host.stop()


async def topic_values(bus: MemoryBus, topic: str) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in await bus.read_all(topic) if r.value is not None]


async def test_customer_run_classifies_stored_measures_and_records_the_run(service: Any) -> None:
    host, bus, settings = service
    async with client(host, settings, "plan", ["planner"]) as http:
        record = await run_and_wait(http, {"dimension": "customer"})
        assert record["ruleset_version"] == 1 and record["ruleset_hash"] == content_hash(DEFAULT_RULESET)
        assert record["engine_version"] and record["data_cutoff"].startswith("2024-04-03")
        assert record["counts"]["entities"] == 4  # anonymous excluded
        assert record["notes"]["excluded"]["anonymous_customers"] == ["src:SAP-EU:anonymous"]
        assert record["counts"]["abc"] == {"A": 2, "B": 1, "C": 1}
        assert record["migration"]["labels"][0] == "(new)" and record["migration"]["moved"] == 4
        assert record["stream_lag"]["records_behind"] == 0
        latest = (await http.get("/v1/runs/latest")).json()
        assert latest["run_id"] == record["run_id"]
        page = (await http.get("/v1/segments", params={"dimension": "customer", "limit": 3})).json()
        assert [i["entity_id"] for i in page["items"]] == ["src:SAP-EU:C1", "src:SAP-EU:C2", "src:SAP-EU:C3"]
        assert all(i["revenue"] is None and "revenue" in i["masked_fields"] for i in page["items"])
        rest = (
            await http.get("/v1/segments", params={"dimension": "customer", "cursor": page["next_cursor"]})
        ).json()
        assert [i["entity_id"] for i in rest["items"]] == ["src:SAP-EU:C4"] and rest["next_cursor"] is None
        one = (await http.get("/v1/segments/customer/src:SAP-EU:C3")).json()
        assert one["abc"] == "B" and one["explanation"]["cum_share_before"] == pytest.approx(0.9)
        assert one["explanation"]["driver_value"] is None  # revenue driver: masked for a planner
        assert one["history"][0]["old"] is None and one["history"][0]["reasons"] == ["first classification"]
        matrix = (await http.get("/v1/segments/matrix", params={"dimension": "customer"})).json()
        assert sum(c["count"] for c in matrix["cells"]) == 4
        csv_text = (await http.get("/v1/segments/export.csv", params={"dimension": "customer"})).text
        assert csv_text.splitlines()[0].startswith("dimension,entity_id") and len(csv_text.splitlines()) == 5
    async with client(host, settings, "fin", ["finance"]) as http:
        one = (await http.get("/v1/segments/customer/src:SAP-EU:C3")).json()
        assert one["revenue"] == pytest.approx(60.0) and one["margin"] == pytest.approx(36.0)
        assert one["masked_fields"] == []

    async def relayed() -> bool:
        return len(await topic_values(bus, topics.SEGMENTS_CHANGES)) >= 4

    await eventually(relayed)
    assigned = await topic_values(bus, topics.SEGMENTS_ASSIGNMENTS)
    assert {a["entity_id"] for a in assigned} == {f"src:SAP-EU:C{i}" for i in range(1, 5)}
    assert next(a for a in assigned if a["entity_id"] == "src:SAP-EU:C3")["revenue"] == pytest.approx(60.0)
    changes = await topic_values(bus, topics.SEGMENTS_CHANGES)
    assert next(c for c in changes if c["entity_id"] == "src:SAP-EU:C1")["account_owner"] == "ann"
    partner = await topic_values(bus, topics.partner_topic("dhl-1"))
    assert [p["entity_id"] for p in partner] == ["src:SAP-EU:C1"]  # only that partner's entity
    assert partner[0]["revenue"] is None and partner[0]["margin"] is None


async def test_product_partner_projection_and_monthly_xyz(service: Any) -> None:
    host, bus, settings = service
    monthly = copy.deepcopy(DEFAULT_RULESET)
    monthly["xyz"] = {"bucket": "month", "cutoffs": [0.5, 1.0]}
    async with client(host, settings, "plan", ["planner"]) as http:
        created = await http.post("/v1/rulesets", json=monthly)
        assert created.status_code == 201
        record = await run_and_wait(
            http, {"dimension": "product", "ruleset_version": created.json()["version"]}
        )
        assert record["notes"]["buckets"] == 4 and record["notes"]["grain"] == "month"
        p1 = (await http.get("/v1/segments/product/src:SAP-EU:P1")).json()
        # P1 monthly demand [70, 20, 0, 0]: mean 22.5, population std sqrt(((47.5)^2+(2.5)^2+2*22.5^2)/4)
        mean = 22.5
        std = ((47.5**2 + 2.5**2 + 2 * 22.5**2) / 4) ** 0.5
        assert p1["explanation"]["cv"] == pytest.approx(std / mean)
        assert p1["partner_ids"] == ["dhl-1"]  # C1 (served by dhl-1) buys P1

    async def projected() -> bool:
        return any(
            p["dimension"] == "product" for p in await topic_values(bus, topics.partner_topic("dhl-1"))
        )

    await eventually(projected)
    partner = [
        p for p in await topic_values(bus, topics.partner_topic("dhl-1")) if p["dimension"] == "product"
    ]
    assert [p["entity_id"] for p in partner] == ["src:SAP-EU:P1"]
    assert all(p["revenue"] is None and p["margin"] is None for p in partner)


async def test_stability_persistence_and_overrides_four_eyes(service: Any) -> None:
    host, bus, settings = service
    stable = copy.deepcopy(DEFAULT_RULESET)
    stable["stability"] = {"persistence_runs": 2, "margin": 0.9, "max_move_share": 1.0}
    async with (
        client(host, settings, "plan", ["planner"]) as planner,
        client(host, settings, "appr", ["approver"]) as approver,
        client(host, settings, "plan2", ["planner", "approver"]) as both,
    ):
        version = (await planner.post("/v1/rulesets", json=stable)).json()["version"]
        assert (await planner.post(f"/v1/rulesets/{version}/activate")).status_code == 200
        await run_and_wait(planner, {"dimension": "customer"})
        c4 = (await planner.get("/v1/segments/customer/src:SAP-EU:C4")).json()
        assert c4["abc"] == "C" and c4["segment"] == "STANDARD"
        # C4 buys a lot: computed A, but a change must persist for 2 runs (clearance 0.8 < margin 0.9)
        await place(
            bus,
            order_id="O9",
            line_id="1",
            customer_id="C4",
            sku="P2",
            quantity=200,
            price=10.0,
            at=day(2024, 4, 20),
            cost=9.0,
        )

        async def counted() -> bool:
            return sum(c.processed_count for c in host.consumers) >= 13

        await eventually(counted)
        first = await run_and_wait(planner, {"dimension": "customer"})
        c4 = (await planner.get("/v1/segments/customer/src:SAP-EU:C4")).json()
        assert c4["segment"] == "STANDARD" and c4["pending_segment"] == "GOLD"
        assert "persisted 1 of 2 runs" in c4["explanation"]["deferred"]
        assert first["counts"]["deferred"] >= 1
        await run_and_wait(planner, {"dimension": "customer"})
        c4 = (await planner.get("/v1/segments/customer/src:SAP-EU:C4")).json()
        assert c4["segment"] == "GOLD" and c4["history"][-1]["reasons"] == ["persisted 2 of 2 runs"]

        expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
        body = {
            "dimension": "customer",
            "entity_id": "src:SAP-EU:C4",
            "segment": "PLATINUM",
            "reason": "strategic launch partner",
            "expires_at": expires,
        }
        requested = await planner.post("/v1/overrides", json=body)
        assert requested.status_code == 201 and requested.json()["status"] == "pending"
        override_id = requested.json()["override_id"]
        pending = (await planner.get("/v1/overrides", params={"status": "pending"})).json()["items"]
        assert [o["override_id"] for o in pending] == [override_id]
        # four-eyes: the requester cannot approve, even holding the approver role
        own = await both.post("/v1/overrides", json=body)
        denied = await both.post(f"/v1/overrides/{own.json()['override_id']}/approve")
        assert denied.status_code == 403
        assert denied.headers["content-type"].startswith("application/problem+json")
        assert (await planner.post(f"/v1/overrides/{override_id}/approve")).status_code == 403  # no role
        approved = await approver.post(f"/v1/overrides/{override_id}/approve", json={"note": "ok"})
        assert approved.status_code == 200 and approved.json()["decided_by"] == "appr"
        c4 = (await planner.get("/v1/segments/customer/src:SAP-EU:C4")).json()
        assert c4["segment"] == "PLATINUM" and c4["overridden"] is True  # applies immediately
        assert (await approver.post(f"/v1/overrides/{own.json()['override_id']}/reject")).status_code == 200
        await run_and_wait(planner, {"dimension": "customer"})
        c4 = (await planner.get("/v1/segments/customer/src:SAP-EU:C4")).json()
        assert c4["segment"] == "PLATINUM"  # a run keeps the lock
        # expiry: the override ends and the entity reverts at the next run
        from services.classifier import store

        async with host.db.unit_of_work() as session:
            await store.save_override(
                session, override_id, expires_at=datetime.now(UTC) - timedelta(seconds=1)
            )
        await run_and_wait(planner, {"dimension": "customer"})
        c4 = (await planner.get("/v1/segments/customer/src:SAP-EU:C4")).json()
        assert c4["segment"] == "GOLD" and c4["overridden"] is False
        assert (await planner.get("/v1/overrides", params={"status": "expired"})).json()["items"][0][
            "override_id"
        ] == override_id

    async def lifecycle_events() -> bool:
        types = {r.header("ce_type") for r in await bus.read_all(topics.SEGMENTS_CHANGES)}
        return {
            b"segflow.override.requested",
            b"segflow.override.approved",
            b"segflow.override.rejected",
            b"segflow.override.expired",
        } <= types

    await eventually(lifecycle_events)


async def test_ruleset_lifecycle_validation_yaml_impact_activation(service: Any) -> None:
    host, _bus, settings = service
    async with client(host, settings, "plan", ["planner"]) as http:
        listed = (await http.get("/v1/rulesets")).json()["items"]
        assert [(r["version"], r["active"]) for r in listed] == [(1, True)]
        bad = copy.deepcopy(DEFAULT_RULESET)
        bad["rules"][2]["when"]["op"] = "equals"
        bad["segments"]["GOLD"]["service_level"]["target"] = 97.5
        response = await http.post("/v1/rulesets/validate", json=bad)
        assert response.status_code == 400
        fields = {e["field"] for e in response.json()["errors"]}
        assert "rules[2].when.op" in fields and "segments.GOLD.service_level.target" in fields
        assert (await http.post("/v1/rulesets", json=bad)).status_code == 400
        order_lines = copy.deepcopy(DEFAULT_RULESET)
        order_lines["abc"] = {"driver": "order_lines", "cutoffs": [0.5, 0.9]}
        created = await http.post(
            "/v1/rulesets", content=yaml.safe_dump(order_lines), headers={"Content-Type": "application/yaml"}
        )
        assert created.status_code == 201 and created.json()["hash"] == content_hash(order_lines)
        again = await http.post(
            "/v1/rulesets", content=json.dumps(order_lines), headers={"Content-Type": "application/json"}
        )
        assert again.status_code == 200 and again.json()["version"] == created.json()["version"]
        version = created.json()["version"]
        await run_and_wait(http, {"dimension": "customer"})  # under version 1 (revenue)
        impact = (await http.post(f"/v1/rulesets/{version}/impact", params={"dimension": "customer"})).json()
        # order lines: one line each -> shares before 0, .25, .5, .75 -> A, A, B, B; ties by id
        assert impact["abc"] == {"A": 2, "B": 2, "C": 0}
        assert sum(map(sum, impact["migration"]["counts"])) == 4
        assert (await http.get("/v1/segments/customer/src:SAP-EU:C4")).json()[
            "ruleset_version"
        ] == 1  # not applied
        activated = await http.post(f"/v1/rulesets/{version}/activate")
        assert activated.status_code == 200 and activated.json()["active"] is True
        detail = (await http.get(f"/v1/rulesets/{version}")).json()
        assert [h["action"] for h in detail["history"]] == ["created", "activated"]
        assert (
            detail["history"][1]["detail"] == {"previous_version": 1}
            and detail["history"][1]["actor"] == "plan"
        )
        assert (await http.get("/v1/rulesets/99")).status_code == 404
        assert (
            await http.post("/v1/runs", json={"dimension": "customer", "ruleset_version": 99})
        ).status_code == 404
    async with client(host, settings, "viewer", ["finance"]) as http:
        assert (await http.post("/v1/rulesets", json=DEFAULT_RULESET)).status_code == 403


async def test_scheduled_rebalancing_and_retired_products_tombstoned(service: Any) -> None:
    host, bus, settings = service
    scheduled = copy.deepcopy(DEFAULT_RULESET)
    scheduled["schedule"] = "weekly"
    async with client(host, settings, "plan", ["planner"]) as http:
        version = (await http.post("/v1/rulesets", json=scheduled)).json()["version"]
        await http.post(f"/v1/rulesets/{version}/activate")
        runs = host.state["runs"]
        started = await runs.tick()
        assert len(started) == 2  # customer and product, nothing scheduled before
        for run_id in started:
            await runs.wait(run_id)
        assert await runs.tick() == []  # not due again within the week
        later = await runs.tick(datetime.now(UTC) + timedelta(days=8))
        assert len(later) == 2
        for run_id in later:
            await runs.wait(run_id)
        await product(bus, "P2", lifecycle="retired", at=day(2024, 6, 1))

        async def retired() -> bool:
            return sum(c.processed_count for c in host.consumers) >= 13

        await eventually(retired)
        record = await run_and_wait(http, {"dimension": "product"})
        assert record["counts"]["retired"] == 1
        assert (await http.get("/v1/segments/product/src:SAP-EU:P2")).status_code == 404

    async def tombstone() -> bool:
        view = await bus.compacted(topics.SEGMENTS_ASSIGNMENTS)
        return b"product:src:SAP-EU:P1" in view and b"product:src:SAP-EU:P2" not in view

    await eventually(tombstone)
