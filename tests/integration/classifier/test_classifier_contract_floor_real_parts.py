"""A customer contract's floor as a segment name on REAL PostgreSQL and Kafka: the ERP's local name (stored in
the migration-0003 column) mapped by local_names floors the computed segment with its reason; an unmapped
name goes to the Kafka DLQ and a replay after the rule set maps it is processed."""

from __future__ import annotations

from contracts import topics
from contracts.topics import all_topics
from services.classifier import app
from services.runtime.consumer import replay_dlq
from tests.support.real_classifier import RealClassifier
from tests.unit.classifier.service_support import (
    client,
    customer,
    day,
    eventually,
    place,
    product,
    run_and_wait,
)
from tests.unit.classifier.test_service_enrichment import activate, body

LOCAL = {"SAP-EU": {"GOLD-EU": "GOLD"}}


async def test_contract_min_segment_on_postgres_and_kafka(real_classifier: RealClassifier) -> None:
    host, bus, settings = real_classifier.host, real_classifier.bus, real_classifier.settings
    await bus.ensure_topics(all_topics())
    async with client(host, settings, "plan", ["planner"]) as http:
        await activate(http, body(local_names=LOCAL))
        await product(bus, "P1")
        await customer(bus, "BIG")
        await customer(bus, "FLOOR", contract={"min_segment": "GOLD-EU"})
        await customer(bus, "LATE", contract={"min_segment": "PLAT-EU"})

        async def dead_lettered() -> bool:
            return any(
                b"field contract.min_segment: unknown contract floor segment name 'PLAT-EU'"
                in (r.header("dlq_error") or b"")
                for r in await bus.read_all(topics.DLQ)
            )

        await eventually(dead_lettered, timeout=120)
        await app.wait_caught_up(host, timeout_s=120)
        for n, (name, amount) in enumerate((("BIG", 1000.0), ("FLOOR", 10.0))):
            await place(
                bus, order_id=f"O{n}", line_id="1", customer_id=name, sku="P1", quantity=amount, price=1.0,
                at=day(2024, 1, 8),
            )  # fmt: skip
        await app.wait_caught_up(host, timeout_s=120)
        first = await run_and_wait(http, {"dimension": "customer"})
        assert first["counts"]["entities"] == 2
        floor = (await http.get("/v1/segments/customer/src:SAP-EU:FLOOR")).json()
        assert floor["abc"] == "C" and floor["segment"] == "GOLD"
        reason = "contract floor (min_segment GOLD (local GOLD-EU)) lifts STANDARD to GOLD"
        assert reason in floor["explanation"]["reasons"]

        await activate(http, body(local_names={"SAP-EU": {**LOCAL["SAP-EU"], "PLAT-EU": "PLATINUM"}}))
        assert await replay_dlq(bus, consumer="classifier-mdm") >= 1
        await app.wait_caught_up(host, timeout_s=120)

        async def late_known() -> bool:
            return (await run_and_wait(http, {"dimension": "customer"}))["counts"]["entities"] == 3

        await eventually(late_known, timeout=120)
        late = (await http.get("/v1/segments/customer/src:SAP-EU:LATE")).json()
        assert late["segment"] == "PLATINUM"
        reason = "contract floor (min_segment PLATINUM (local PLAT-EU)) lifts STANDARD to PLATINUM"
        assert reason in late["explanation"]["reasons"]
