"""Embedded classifier, events in -> assignments out: local segment names from master data (mapped by the
rule set's local_names, unknown -> DLQ, replay after the mapping learns them; overrides in a local name),
supplier risk from receipts changing a product's segment, and the customer hierarchy (rules on top parents,
ABC rolled up to the sales family)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import orjson
import pytest

from contracts import topics
from contracts.envelope import deterministic_id, new_envelope, to_headers
from contracts.erp import InventoryReceiptScheduled
from contracts.mdm import CustomerUpserted
from services.classifier import app
from services.classifier.domain.ruleset import DEFAULT_RULESET
from services.runtime.bus.memory import MemoryBus
from services.runtime.consumer import replay_dlq
from services.runtime.settings import Settings

from .reference import abc_reference
from .service_support import SOURCE, T0, client, customer, day, eventually, place, product, run_and_wait

IMMEDIATE = {"persistence_runs": 1, "margin": 0.0, "max_move_share": 1.0}


@pytest.fixture
async def service(tmp_path) -> AsyncIterator[tuple[Any, MemoryBus, Settings]]:  # type: ignore[no-untyped-def]
    bus = MemoryBus()
    settings = Settings(data_dir=tmp_path, mode="embedded")
    host = app.build(settings, bus=bus)
    host.state["scheduler"] = False
    await host.start()
    try:
        yield host, bus, settings
    finally:
        await host.stop()


def body(**changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(DEFAULT_RULESET)
    result.update(name="test", stability=IMMEDIATE, **copy.deepcopy(changes))
    return result


async def activate(http: Any, ruleset: dict[str, Any]) -> int:
    created = await http.post("/v1/rulesets", json=ruleset)
    assert created.status_code in (200, 201), created.text
    version = int(created.json()["version"])
    assert (await http.post(f"/v1/rulesets/{version}/activate")).status_code == 200
    return version


async def consumed(host: Any, count: int) -> None:
    async def done() -> bool:
        return sum(c.processed_count for c in host.consumers) >= count

    await eventually(done)


async def customer_with_local_segment(bus: MemoryBus, source_id: str, local_segment: Any) -> None:
    """A customer master record whose source system also sends its own segment name (``local_segment``)."""
    event = CustomerUpserted(
        source=SOURCE, source_id=source_id, name=source_id, region="EU", country="DE", updated_at=T0
    )
    data = {**event.model_dump(mode="json"), "local_segment": local_segment}
    env = new_envelope(
        source=f"test/{SOURCE}",
        type=event.EVENT_TYPE,
        subject=f"{SOURCE}:{source_id}",
        payload=data,
        id=deterministic_id("test", f"local:{source_id}"),
        time=T0,
    )
    assert env.data is not None
    await bus.publish(topics.MDM_CUSTOMERS, f"{SOURCE}:{source_id}".encode(), env.data, to_headers(env))


async def values(bus: MemoryBus, topic: str) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in await bus.read_all(topic) if r.value is not None]


LOCAL = {"SAP-EU": {"Schluesselkunde": "PLATINUM", "Kernkunde": "GOLD", "Standardkunde": "STANDARD"}}
BY_SOURCE_SEGMENT = [
    {
        "name": "erp-key-account",
        "when": {"field": "source_segment", "op": "eq", "value": "PLATINUM"},
        "segment": "PLATINUM",
    },
    {"name": "erp-core", "when": {"field": "source_segment", "op": "eq", "value": "GOLD"}, "segment": "GOLD"},
]


async def test_local_segment_names_are_mapped_dead_lettered_when_unknown_and_shown_in_local_terms(
    service: Any,
) -> None:
    host, bus, settings = service
    async with client(host, settings, "plan", ["planner"]) as http:
        await activate(http, body(local_names=LOCAL, rules=BY_SOURCE_SEGMENT))
        await customer_with_local_segment(bus, "K1", "Schluesselkunde")
        await customer_with_local_segment(bus, "K2", "Premiumkunde")  # no mapping yet
        await customer_with_local_segment(bus, "K3", "")  # present but empty: never valid
        await customer(bus, "K4")  # no local segment at all
        await consumed(host, 2)  # dead-lettered records do not count as processed

        async def dead() -> bool:
            return len(await bus.read_all(topics.DLQ)) == 2

        await eventually(dead)
        errors = {(r.header("dlq_error") or b"").decode() for r in await bus.read_all(topics.DLQ)}
        unknown = "field local_segment: unknown local segment name 'Premiumkunde' for source SAP-EU"
        assert any(unknown in error for error in errors), errors
        assert any("local_segment: String should have at least 1 character" in error for error in errors), (
            errors
        )

        first = await run_and_wait(http, {"dimension": "customer"})
        assert first["counts"]["entities"] == 2  # K1 and K4; K2 and K3 wait in the DLQ
        k1 = (await http.get("/v1/segments/customer/src:SAP-EU:K1")).json()
        assert k1["segment"] == "PLATINUM" and k1["explanation"]["matched_rule"] == "erp-key-account"
        assert k1["local_names"] == {"SAP-EU": "Schluesselkunde"}
        k4 = (await http.get("/v1/segments/customer/src:SAP-EU:K4")).json()
        assert k4["segment"] == "STANDARD" and k4["local_names"] == {"SAP-EU": "Standardkunde"}

        # the subsidiary's name becomes known: replay the dead-lettered record, it now maps to GOLD
        await activate(
            http,
            body(
                local_names={"SAP-EU": {**LOCAL["SAP-EU"], "Premiumkunde": "GOLD"}}, rules=BY_SOURCE_SEGMENT
            ),
        )
        assert await replay_dlq(bus, consumer="classifier-mdm") == 2
        await consumed(host, 3)  # K2 now maps; K3's empty name fails again

        async def dead_again() -> bool:
            return len(await bus.read_all(topics.DLQ)) == 3

        await eventually(dead_again)
        await run_and_wait(http, {"dimension": "customer"})
        k2 = (await http.get("/v1/segments/customer/src:SAP-EU:K2")).json()
        assert k2["segment"] == "GOLD" and k2["explanation"]["matched_rule"] == "erp-core"
        assert k2["local_names"] == {"SAP-EU": "Kernkunde"}  # GOLD's smallest local name in SAP-EU

        # an override expressed in the source's local name lands on the standard segment
        expires = "2099-01-01T00:00:00+00:00"
        asked = await http.post(
            "/v1/overrides",
            json={
                "dimension": "customer",
                "entity_id": "src:SAP-EU:K4",
                "segment": "Kernkunde",
                "source": "SAP-EU",
                "reason": "key account per subsidiary",
                "expires_at": expires,
            },
        )
        assert asked.status_code == 201, asked.text
        assert asked.json()["segment"] == "GOLD"
        wrong = await http.post(
            "/v1/overrides",
            json={
                "dimension": "customer",
                "entity_id": "src:SAP-EU:K4",
                "segment": "Kernkunde",
                "source": "SAP-US",
                "reason": "wrong source",
                "expires_at": expires,
            },
        )
        assert wrong.status_code == 400 and wrong.json()["errors"][0]["field"] == "segment"

    async def announced() -> bool:
        return any(a["entity_id"] == "src:SAP-EU:K2" for a in await values(bus, topics.SEGMENTS_ASSIGNMENTS))

    await eventually(announced)
    assigned = {a["entity_id"]: a["segment"] for a in await values(bus, topics.SEGMENTS_ASSIGNMENTS)}
    assert assigned["src:SAP-EU:K1"] == "PLATINUM" and assigned["src:SAP-EU:K2"] == "GOLD"


async def receipt(bus: MemoryBus, receipt_id: str, supplier: str, due: date, received: date) -> None:
    event = InventoryReceiptScheduled(
        receipt_id=receipt_id,
        sku="P1",
        site="DC1",
        quantity=10,
        unit="EA",
        due_date=due,
        supplier_id=supplier,
        ordered_date=date(2024, 1, 1),
        received_date=received,
    )
    env = new_envelope(
        source="test/wms",
        type=event.EVENT_TYPE,
        subject=receipt_id,
        payload=event,
        id=deterministic_id("test", f"receipt:{receipt_id}"),
        time=T0,
    )
    assert env.data is not None
    await bus.publish(topics.WMS_INVENTORY, receipt_id.encode(), env.data, to_headers(env))


async def test_late_receipts_of_a_products_supplier_move_the_product_through_a_supplier_risk_rule(
    service: Any,
) -> None:
    host, bus, settings = service
    rule = {
        "name": "unreliable-supply",
        "when": {"field": "supplier_on_time_rate", "op": "lt", "value": 0.8},
        "segment": "GOLD",
    }
    await customer(bus, "C1")
    await product(bus, "P1", supplier_id="SUP1")
    await product(bus, "P2", supplier_id="SUP2")
    await consumed(host, 3)
    for n, sku in enumerate(("P1", "P2")):
        await place(
            bus,
            order_id=f"O{n}",
            line_id="1",
            customer_id="C1",
            sku=sku,
            quantity=5,
            price=10.0,
            at=day(2024, 2, 1),
        )
    due = date(2024, 3, 1)
    receipts = [
        ("R1", "SUP1", due, date(2024, 2, 28)),
        ("R2", "SUP1", due, due),
        ("R3", "SUP2", due, date(2024, 3, 9)),
    ]
    for r in receipts:
        await receipt(bus, *r)
    await consumed(host, 8)
    async with client(host, settings, "plan", ["planner"]) as http:
        await activate(http, body(rules=[rule]))
        await run_and_wait(http, {"dimension": "product"})
        before = {p: (await http.get(f"/v1/segments/product/src:SAP-EU:{p}")).json() for p in ("P1", "P2")}
        assert before["P1"]["segment"] == "STANDARD"  # SUP1 on time 2/2
        assert before["P2"]["segment"] == "GOLD"  # SUP2 late 1/1: on-time rate 0 < 0.8

        late = [("R4", "SUP1", due, date(2024, 3, 5)), ("R5", "SUP1", due, date(2024, 3, 2))]
        for r in late:
            await receipt(bus, *r)
        await consumed(host, 10)
        sup1 = [r for r in receipts + late if r[1] == "SUP1"]
        on_time_rate = sum(1 for r in sup1 if r[3] <= r[2]) / len(sup1)
        assert on_time_rate == pytest.approx(0.5)  # below the rule's 0.8: P1 must move
        await run_and_wait(http, {"dimension": "product"})
        after = (await http.get("/v1/segments/product/src:SAP-EU:P1")).json()
        assert after["segment"] == "GOLD" and after["explanation"]["matched_rule"] == "unreliable-supply"

    async def changed() -> bool:
        return any(
            c.get("entity_id") == "src:SAP-EU:P1" and c.get("old_segment") == "STANDARD"
            for c in await values(bus, topics.SEGMENTS_CHANGES)
        )

    await eventually(changed)
    change = next(c for c in await values(bus, topics.SEGMENTS_CHANGES) if c.get("old_segment") == "STANDARD")
    assert change["new_segment"] == "GOLD"


async def test_customer_hierarchy_feeds_rules_and_rolls_abc_up_to_the_sales_family(service: Any) -> None:
    host, bus, settings = service
    await customer(bus, "HQ")
    await customer(bus, "BR", parents={"sales": "HQ", "finance": "HQ"})
    await customer(bus, "SHOP", parents={"sales": "BR"})
    await customer(bus, "SOLO")
    await customer(bus, "TINY", parents={"logistics": "SOLO"})
    await product(bus, "P1")
    await consumed(host, 6)
    revenue = {"HQ": 100.0, "BR": 100.0, "SHOP": 700.0, "SOLO": 1000.0, "TINY": 100.0}
    for n, (name, amount) in enumerate(revenue.items()):
        await place(
            bus,
            order_id=f"O{n}",
            line_id="1",
            customer_id=name,
            sku="P1",
            quantity=amount / 10,
            price=10.0,
            at=day(2024, 1, 5),
        )
    await consumed(host, 11)
    hq = "src:SAP-EU:HQ"
    rules = [
        {
            "name": "finance-child",
            "when": {"field": "finance_parent_id", "op": "eq", "value": hq},
            "segment": "GOLD",
        },
        {
            "name": "acme-group",
            "when": {"field": "top_parent_id", "op": "eq", "value": hq},
            "segment": "SILVER",
        },
        {
            "name": "logistics-of-solo",
            "when": {"field": "logistics_top_parent_id", "op": "eq", "value": "src:SAP-EU:SOLO"},
            "segment": "BRONZE",
        },
    ]
    async with client(host, settings, "plan", ["planner"]) as http:
        await activate(
            http, body(abc={"driver": "revenue", "cutoffs": [0.5, 0.9], "rollup": "sales"}, rules=rules)
        )
        await run_and_wait(http, {"dimension": "customer"})
        got = {n: (await http.get(f"/v1/segments/customer/src:SAP-EU:{n}")).json() for n in revenue}
    family = {"HQ": "HQ", "BR": "HQ", "SHOP": "HQ", "SOLO": "SOLO", "TINY": "TINY"}  # TINY: logistics only
    totals: dict[str, float] = {}
    for name, top in family.items():
        totals[top] = totals.get(top, 0.0) + revenue[name]
    expected = abc_reference(list(totals.values()), list(totals), cutoffs=(0.5, 0.9))
    for name in revenue:
        assert got[name]["abc"] == expected[family[name]][0], name
        assert "rolled_up" in got[name]["explanation"]["flags"]
    # first match wins: BR by its finance parent; HQ and SHOP by their sales top parent (SHOP's parent is
    # BR); SOLO and TINY share the logistics top parent SOLO
    assert {n: got[n]["segment"] for n in revenue} == {
        "HQ": "SILVER",
        "BR": "GOLD",
        "SHOP": "SILVER",
        "SOLO": "BRONZE",
        "TINY": "BRONZE",
    }
    # HQ alone (100, tied with BR and TINY, 0.90 of 2000 before it) would be C; in its family (900) it is B
    assert got["HQ"]["abc"] == "B" and expected["HQ"][0] == "B"


async def test_preview_maps_local_names_answers_in_local_terms_and_names_an_unknown_one(service: Any) -> None:
    host, _, settings = service
    ruleset = body(local_names=LOCAL, rules=BY_SOURCE_SEGMENT)

    def entity(entity_id: str, local: str | None) -> dict[str, Any]:
        attributes: dict[str, Any] = {"source_system": "SAP-EU"}
        if local is not None:
            attributes["local_segment"] = local
        return {
            "id": entity_id,
            "dimension": "customer",
            "measures": {"revenue": 10.0},
            "demand": [1, 1],
            "attributes": attributes,
        }

    async with client(host, settings, "plan", ["planner"]) as http:
        ok = await http.post(
            "/v1/classify/preview",
            json={"ruleset": ruleset, "entities": [entity("a", "Kernkunde"), entity("b", None)]},
        )
        assert ok.status_code == 200, ok.text
        a, b = ok.json()["results"]
        assert (a["segment"], a["source_segment"], a["local_name"]) == ("GOLD", "GOLD", "Kernkunde")
        assert (b["segment"], b["source_segment"], b["local_name"]) == ("STANDARD", None, "Standardkunde")
        bad = await http.post(
            "/v1/classify/preview",
            json={"ruleset": ruleset, "entities": [entity("a", "Kernkunde"), entity("b", "Nope")]},
        )
        assert bad.status_code == 400
        assert [e["field"] for e in bad.json()["errors"]] == ["entities.1.attributes.local_segment"]
