"""Streaming aggregation rate of the classifier: order events from Kafka through the order handler into
PostgreSQL (batched upserts of lines and demand buckets), against raw aiokafka consumption of the same
records in the same run.

Real parts when SEGFLOW_TEST_KAFKA_BOOTSTRAP and SEGFLOW_TEST_DATABASE_URL are set (a fresh database and
topic namespace per run, dropped afterwards); otherwise the embedded equivalents (in-process bus, SQLite)
with a raw in-process consumer as the baseline. Correctness: the stored bucket quantity must equal the
published quantity.
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._common import result, write
from contracts import topics
from contracts.envelope import deterministic_id, new_envelope, to_headers
from contracts.erp import OrderLinePlaced
from contracts.mdm import CustomerUpserted, ProductUpserted
from contracts.topics import all_topics

SOURCE = "bench"


def _records(events: int, customers: int, products: int) -> tuple[list[Any], list[Any], float]:
    rng = random.Random(42)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    master: list[Any] = []
    for c in range(customers):
        model = CustomerUpserted(
            source=SOURCE, source_id=f"C{c}", name=f"C{c}", region="EU", country="DE", updated_at=start
        )
        master.append((topics.MDM_CUSTOMERS, f"{SOURCE}:C{c}", model))
    for p in range(products):
        model = ProductUpserted(
            source=SOURCE,
            source_id=f"P{p}",
            name=f"P{p}",
            base_uom="EA",
            uom_conversions={"CS": 12},
            lifecycle="active",
            category="x",
            updated_at=start,
        )
        master.append((topics.MDM_PRODUCTS, f"{SOURCE}:P{p}", model))
    orders: list[Any] = []
    total = 0.0
    for n in range(events):
        at = start + timedelta(minutes=rng.randrange(0, 365 * 24 * 60))
        quantity, unit = float(rng.randint(1, 20)), rng.choice(["EA", "EA", "CS"])
        total += quantity * (12 if unit == "CS" else 1)
        model = OrderLinePlaced(
            order_id=f"O{n // 5}",
            line_id=str(n % 5),
            customer_id=f"C{rng.randrange(customers)}",
            customer_source=SOURCE,
            sku=f"P{rng.randrange(products)}",
            site="DC",
            quantity=quantity,
            unit=unit,
            unit_price=2.5,
            currency="EUR",
            requested_date=at.date(),
            ordered_at=at,
        )
        orders.append((topics.ERP_ORDERS, model.order_id, model))
    return master, orders, total


def _encode(items: list[Any]) -> list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]]:
    out = []
    for topic, key, model in items:
        env = new_envelope(
            source=f"bench/{SOURCE}",
            type=model.EVENT_TYPE,
            subject=key,
            payload=model,
            id=deterministic_id(SOURCE, f"{topic}:{key}:{getattr(model, 'line_id', '')}"),
        )
        assert env.data is not None
        out.append((topic, key.encode(), env.data, to_headers(env)))
    return out


async def _raw_kafka_rate(bootstrap: str, physical_topic: str, expected: int) -> float:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        physical_topic,
        bootstrap_servers=bootstrap,
        group_id=f"raw-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen, started = 0, time.perf_counter()
        while seen < expected:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            seen += sum(len(v) for v in batch.values())
        return expected / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def _raw_memory_rate(bus: Any, expected: int) -> float:
    consumer = bus.consumer(f"raw-{uuid.uuid4().hex}", [topics.ERP_ORDERS])
    await consumer.start()
    seen, started = 0, time.perf_counter()
    while seen < expected:
        seen += len(await consumer.getmany(timeout_ms=200, max_records=5000))
    rate = expected / (time.perf_counter() - started)
    await consumer.stop()
    return rate


async def _fresh_database(url: str) -> tuple[str, Any]:
    import asyncpg
    from sqlalchemy.engine import make_url

    name = f"segflow_bench_{uuid.uuid4().hex[:12]}"
    admin_dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()

    async def drop() -> None:
        conn = await asyncpg.connect(admin_dsn)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()

    return make_url(url).set(database=name).render_as_string(hide_password=False), drop


async def _run(smoke: bool, events_override: int | None = None) -> dict[str, Any]:
    from services.classifier import app, store
    from services.runtime.bus import build_bus
    from services.runtime.settings import Settings

    events, customers, products = (600, 20, 50) if smoke else (60_000, 2_000, 4_000)
    events = events_override or events
    master, orders, total_quantity = _records(events, customers, products)
    bootstrap = os.environ.get("SEGFLOW_TEST_KAFKA_BOOTSTRAP")
    database = os.environ.get("SEGFLOW_TEST_DATABASE_URL")
    real = bool(bootstrap and database) and not smoke
    drop = None
    tmp = tempfile.TemporaryDirectory()
    if real:
        url, drop = await _fresh_database(database)  # type: ignore[arg-type]
        settings = Settings(
            mode="distributed",
            env="test",
            jwt_secret="bench-secret-0123456789abcdef0123456789",
            database_url=url,
            kafka_bootstrap=bootstrap,
            topic_namespace=f"b{uuid.uuid4().hex[:8]}.",
            topic_partitions=3,
            log_level="WARNING",
        )
    else:
        settings = Settings(mode="embedded", data_dir=Path(tmp.name), log_level="WARNING")
    bus = build_bus(settings, client_id="bench")
    await bus.start()
    host = app.build(settings, bus=None if real else bus)
    host.state["scheduler"] = False
    try:
        await bus.ensure_topics(all_topics())
        await host.start(consume=False)
        await bus.publish_many(_encode(master))
        await bus.publish_many(_encode(orders))
        mdm, flow = host.consumers
        await mdm.start()
        while sum((await mdm.lag()).values()):
            await asyncio.sleep(0.1)
        if real:
            baseline_rate = await _raw_kafka_rate(bootstrap, bus.physical(topics.ERP_ORDERS), events)  # type: ignore[arg-type]
        else:
            baseline_rate = await _raw_memory_rate(bus, events)
        started = time.perf_counter()
        await flow.start()
        while flow.processed_count < events:  # no broker round trips while measuring
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        async with host.db.read() as session:
            stored = sum(r.quantity for r in await store.measure_totals(session, "product"))
            lines = sum(r.lines for r in await store.measure_totals(session, "product"))
    finally:
        await host.stop()
        await bus.stop()
        if drop is not None:
            await drop()
        tmp.cleanup()
    rate = events / elapsed
    return result(
        "classifier_stream",
        workload={
            "order_events": events,
            "customers": customers,
            "products": products,
            "transaction_batch": app.TRANSACTION_BATCH,
            "parts": "kafka+postgresql" if real else "in-process bus+sqlite",
        },
        measured={
            "events_per_s": rate,
            "seconds": elapsed,
            "stored_quantity": stored,
            "published_quantity": total_quantity,
            "stored_lines": lines,
        },
        baseline={"raw_consumer_events_per_s": baseline_rate},
        ratio={"classifier_over_raw": rate / baseline_rate},
        goal="measured only: the cost of exactly-once aggregation (inbox, 6 bucket upserts per line) "
        "relative to bare consumption",
        smoke=smoke,
    )


def run(smoke: bool = False) -> dict[str, Any]:
    return asyncio.run(_run(smoke))


if __name__ == "__main__":
    print(write(run()))
