"""The classifier on REAL PostgreSQL and Kafka: master data, normalised orders, DLQ + replay on Kafka,
a run with its events on the assignment, change and partner topics (no financials on the partner's)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from contracts import topics
from contracts.topics import all_topics
from services.classifier import app, store
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


async def _values(bus: Any, topic: str) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in await bus.read_all(topic) if r.value is not None]


async def test_classifier_on_postgres_and_kafka(real_classifier: RealClassifier) -> None:
    host, bus, settings = real_classifier.host, real_classifier.bus, real_classifier.settings
    await bus.ensure_topics(all_topics())
    await customer(bus, "C1", partner_ids=["ups-7"], account_owner="ann")
    await customer(bus, "C2")
    await product(bus, "P1", uom_conversions={"CS": 12})
    await app.wait_caught_up(host, timeout_s=120)
    await place(
        bus,
        order_id="O1",
        line_id="1",
        customer_id="C1",
        sku="P1",
        quantity=2,
        price=120.0,
        at=day(2024, 1, 3),
        unit="CS",
        cost=60.0,
    )
    await place(
        bus,
        order_id="O2",
        line_id="1",
        customer_id="C2",
        sku="P2",
        quantity=4,
        price=5.0,
        at=day(2024, 2, 3),
    )  # P2 unknown -> DLQ

    async def dead_lettered() -> bool:
        return any(
            b"unknown product 'P2'" in (r.header("dlq_error") or b"") for r in await bus.read_all(topics.DLQ)
        )

    await eventually(dead_lettered, timeout=120)
    await product(bus, "P2")
    await app.wait_caught_up(host, timeout_s=120)
    assert await replay_dlq(bus, consumer="classifier") >= 1

    async def both_lines() -> bool:
        async with host.db.read() as session:
            return len(await store.measure_totals(session, "customer")) == 2

    await eventually(both_lines, timeout=120)
    async with host.db.read() as session:
        totals = {r.entity_id: r for r in await store.measure_totals(session, "product")}
    assert totals["src:SAP-EU:P1"].quantity == 24 and totals["src:SAP-EU:P1"].revenue == 240.0
    async with client(host, settings, "plan", ["planner"]) as http:
        record = await run_and_wait(http, {"dimension": "customer"})
        assert record["counts"]["entities"] == 2 and record["counts"]["abc"]["A"] >= 1

    async def published() -> bool:
        return (
            len(await _values(bus, topics.partner_topic("ups-7"))) == 1
            and len(await _values(bus, topics.SEGMENTS_CHANGES)) >= 2
        )

    await eventually(published, timeout=120)
    partner = await _values(bus, topics.partner_topic("ups-7"))
    assert partner[0]["entity_id"] == "src:SAP-EU:C1" and partner[0]["revenue"] is None
    internal = {a["entity_id"]: a for a in await _values(bus, topics.SEGMENTS_ASSIGNMENTS)}
    assert internal["src:SAP-EU:C1"]["revenue"] == 240.0
    changes = await _values(bus, topics.SEGMENTS_CHANGES)
    assert {c["entity_id"]: c["account_owner"] for c in changes}["src:SAP-EU:C1"] == "ann"
    await asyncio.sleep(0)
