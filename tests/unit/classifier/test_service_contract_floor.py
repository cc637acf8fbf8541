"""Embedded classifier (SQLite, in-process bus), events in -> assignments out: a customer contract's floor
given as a segment name (``contract.min_segment``). The source's local name is mapped by the rule set's
``local_names``, the floor lifts the computed segment with its reason, the strictest floor wins,
survivorship keeps the name with its source, an unknown name is dead-lettered and processed by a replay
once the rule set maps it, and an approved override still beats the floor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from contracts import topics
from services.runtime.bus.memory import MemoryBus
from services.runtime.consumer import replay_dlq

from .service_support import client, customer, day, eventually, place, product, run_and_wait
from .test_service_enrichment import activate, body, consumed, service

__all__ = ["service"]  # the embedded-classifier fixture of test_service_enrichment

GLN = "4012345000009"
LOCAL = {"SAP-EU": {"GOLD-EU": "GOLD", "Kernkunde": "GOLD"}, "SAP-US": {"Silver-US": "SILVER"}}
CUSTOMER = "/v1/segments/customer/"


async def dead_letters(bus: MemoryBus) -> list[str]:
    return [(r.header("dlq_error") or b"").decode() for r in await bus.read_all(topics.DLQ)]


async def test_contract_min_segment_in_a_local_name_floors_the_segment_and_replays_once_mapped(
    service: Any,
) -> None:
    host, bus, settings = service
    async with (
        client(host, settings, "plan", ["planner"]) as http,
        client(host, settings, "appr", ["approver"]) as approver,
    ):
        await activate(http, body(local_names=LOCAL))
        await product(bus, "P1")
        await customer(bus, "BIG", contract={"min_segment": "Kernkunde"})  # A -> GOLD already
        await customer(bus, "FLOOR", contract={"min_segment": "GOLD-EU"})  # C -> STANDARD, floored to GOLD
        await customer(bus, "BOTH", contract={"min_segment": "SILVER", "min_tier": 2})  # tier 2 is stricter
        await customer(bus, "LATE", contract={"min_segment": "PLAT-EU"})  # not mapped yet: DLQ
        # one golden customer (same GLN) from two sources: per attribute, the trusted SAP-EU's min_tier and,
        # SAP-EU giving none, SAP-US's min_segment, which keeps its source (read in SAP-US's local_names)
        await customer(bus, "M1", gln=GLN, contract={"min_tier": 4})
        await customer(
            bus, "M2", source="SAP-US", gln=GLN, contract={"min_segment": "Silver-US", "min_tier": 1}
        )
        await consumed(host, 6)

        async def dead() -> bool:
            return len(await dead_letters(bus)) == 1

        await eventually(dead)
        (error,) = await dead_letters(bus)
        assert "customer SAP-EU:LATE" in error
        assert (
            "field contract.min_segment: unknown contract floor segment name 'PLAT-EU' for source SAP-EU"
            in error
        )

        for n, (name, amount) in enumerate((("BIG", 1000.0), ("FLOOR", 10.0))):
            at = day(2024, 1, 8)
            await place(
                bus,
                order_id=f"O{n}",
                line_id="1",
                customer_id=name,
                sku="P1",
                quantity=amount,
                price=1.0,
                at=at,
            )
        await consumed(host, 8)
        first = await run_and_wait(http, {"dimension": "customer"})
        assert first["counts"]["entities"] == 4  # LATE waits in the DLQ

        got = {
            name: (await http.get(f"{CUSTOMER}src:SAP-EU:{name}")).json() for name in ("BIG", "FLOOR", "BOTH")
        }
        assert got["BIG"]["segment"] == "GOLD" and "floor_applied" not in got["BIG"]["explanation"]["flags"]
        floor = got["FLOOR"]
        assert floor["abc"] == "C" and floor["explanation"]["matched_rule"] == "default"
        assert floor["segment"] == floor["computed_segment"] == "GOLD"
        assert "floor_applied" in floor["explanation"]["flags"]
        assert (
            "contract floor (min_segment GOLD (local GOLD-EU)) lifts STANDARD to GOLD"
            in floor["explanation"]["reasons"]
        )
        assert got["BOTH"]["segment"] == "GOLD"
        assert (
            "contract floor (min_tier 2, min_segment SILVER) lifts STANDARD to GOLD"
            in got["BOTH"]["explanation"]["reasons"]
        )
        merged = (await http.get(f"{CUSTOMER}gln:{GLN}")).json()
        assert merged["segment"] == "SILVER", merged
        reason = "contract floor (min_tier 4, min_segment SILVER (local Silver-US)) lifts STANDARD to SILVER"
        assert reason in merged["explanation"]["reasons"]

        # the ERP's name becomes known: the replayed record is processed and its floor applies
        await activate(
            http, body(local_names={**LOCAL, "SAP-EU": {**LOCAL["SAP-EU"], "PLAT-EU": "PLATINUM"}})
        )
        assert await replay_dlq(bus, consumer="classifier-mdm") == 1
        await consumed(host, 9)
        await run_and_wait(http, {"dimension": "customer"})
        late = (await http.get(f"{CUSTOMER}src:SAP-EU:LATE")).json()
        assert late["segment"] == "PLATINUM"
        assert (
            "contract floor (min_segment PLATINUM (local PLAT-EU)) lifts STANDARD to PLATINUM"
            in late["explanation"]["reasons"]
        )
        assert len(await dead_letters(bus)) == 1  # nothing new dead-lettered

        # an approved override below the floor still wins, and keeps winning at the next run
        expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
        asked = await http.post(
            "/v1/overrides",
            json={"dimension": "customer", "entity_id": "src:SAP-EU:FLOOR", "segment": "BRONZE",
                  "reason": "contract suspended", "expires_at": expires},
        )  # fmt: skip
        assert asked.status_code == 201, asked.text
        approved = await approver.post(
            f"/v1/overrides/{asked.json()['override_id']}/approve", json={"note": "ok"}
        )
        assert approved.status_code == 200, approved.text
        await run_and_wait(http, {"dimension": "customer"})
        pinned = (await http.get(f"{CUSTOMER}src:SAP-EU:FLOOR")).json()
        assert pinned["segment"] == "BRONZE" and pinned["overridden"] is True
        assert pinned["computed_segment"] == "GOLD"  # the floor still holds the computed segment


async def test_preview_applies_a_local_floor_name_and_names_an_unknown_one(service: Any) -> None:
    host, _, settings = service

    def entity(entity_id: str, floor: str, revenue: float = 1.0) -> dict[str, Any]:
        attributes = {"min_segment": floor, "min_segment_source": "SAP-EU"}
        measures = {"revenue": revenue}
        return {"id": entity_id, "dimension": "customer", "measures": measures, "attributes": attributes}

    ruleset = body(local_names=LOCAL)
    async with client(host, settings, "plan", ["planner"]) as http:
        entities = [entity("big", "SILVER", 1000.0), entity("a", "GOLD-EU")]  # a is C: STANDARD by the rules
        ok = await http.post("/v1/classify/preview", json={"ruleset": ruleset, "entities": entities})
        assert ok.status_code == 200, ok.text
        big, result = ok.json()["results"]
        assert big["segment"] == "GOLD" and "floor_applied" not in big["flags"]
        assert result["segment"] == "GOLD" and "floor_applied" in result["flags"]
        assert "contract floor (min_segment GOLD (local GOLD-EU)) lifts STANDARD to GOLD" in result["reasons"]
        entities = [entity("a", "GOLD-EU"), entity("b", "Silver-US")]  # SAP-US's name, not SAP-EU's
        bad = await http.post("/v1/classify/preview", json={"ruleset": ruleset, "entities": entities})
        assert bad.status_code == 400
        (error,) = bad.json()["errors"]
        assert error["field"] == "entities.1.attributes.min_segment" and "'Silver-US'" in error["message"]
