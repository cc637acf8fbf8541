"""The classifier's enrichments on REAL PostgreSQL and Kafka: a local segment name from master data (stored
in the migration-0002 column, mapped by local_names), the sales hierarchy and supplier risk from receipts,
all read by rules in one product and one customer run."""

from __future__ import annotations

from datetime import date
from typing import Any

from contracts.topics import all_topics
from services.classifier import app
from tests.support.real_classifier import RealClassifier
from tests.unit.classifier.service_support import client, customer, day, place, product, run_and_wait
from tests.unit.classifier.test_service_enrichment import (
    BY_SOURCE_SEGMENT,
    LOCAL,
    activate,
    body,
    customer_with_local_segment,
    receipt,
)


async def test_local_names_hierarchy_and_supplier_risk_on_postgres_and_kafka(
    real_classifier: RealClassifier,
) -> None:
    host, bus, settings = real_classifier.host, real_classifier.bus, real_classifier.settings
    hq = "src:SAP-EU:HQ"
    rules: list[dict[str, Any]] = [
        *BY_SOURCE_SEGMENT,
        {"name": "acme", "when": {"field": "top_parent_id", "op": "eq", "value": hq}, "segment": "SILVER"},
        {
            "name": "unreliable-supply",
            "when": {"field": "supplier_on_time_rate", "op": "lt", "value": 0.8},
            "segment": "GOLD",
        },
    ]
    await bus.ensure_topics(all_topics())
    async with client(host, settings, "plan", ["planner"]) as http:
        await activate(http, body(local_names=LOCAL, rules=rules))
        await customer_with_local_segment(bus, "K1", "Schluesselkunde")
        await customer(bus, "HQ")
        await customer(bus, "SHOP", parents={"sales": "HQ"})
        await product(bus, "P1", supplier_id="SUP1")
        await product(bus, "P2", supplier_id="SUP2")
        await app.wait_caught_up(host, timeout_s=120)
        for n, name in enumerate(("K1", "SHOP")):
            await place(
                bus,
                order_id=f"O{n}",
                line_id="1",
                customer_id=name,
                sku="P1",
                quantity=3,
                price=10.0,
                at=day(2024, 1, 9),
            )
        due = date(2024, 3, 1)
        await receipt(bus, "R1", "SUP1", due, date(2024, 3, 4))  # late: SUP1 on time 0 of 1
        await receipt(bus, "R2", "SUP2", due, due)  # on time: SUP2 1 of 1
        await app.wait_caught_up(host, timeout_s=120)
        await run_and_wait(http, {"dimension": "customer"})
        await run_and_wait(http, {"dimension": "product"})
        k1 = (await http.get("/v1/segments/customer/src:SAP-EU:K1")).json()
        assert k1["segment"] == "PLATINUM" and k1["local_names"] == {"SAP-EU": "Schluesselkunde"}
        shop = (await http.get("/v1/segments/customer/src:SAP-EU:SHOP")).json()
        assert shop["segment"] == "SILVER" and shop["explanation"]["matched_rule"] == "acme"
        p1 = (await http.get("/v1/segments/product/src:SAP-EU:P1")).json()
        p2 = (await http.get("/v1/segments/product/src:SAP-EU:P2")).json()
        assert p1["segment"] == "GOLD" and p1["explanation"]["matched_rule"] == "unreliable-supply"
        assert p2["segment"] == "STANDARD"
