"""Bus throughput: events/s and p99 produce-to-consume latency.

Three paths in the same run, on the same broker:
- baseline: raw aiokafka (idempotent producer, acks=all; a consumer group reading the topic);
- runtime Kafka: events written to the outbox (PostgreSQL) in transactions of 100, published by the relay,
  consumed by the runtime's EventConsumer with inbox dedup in PostgreSQL;
- runtime in-process: the same with the in-process bus and SQLite (embedded mode).
Latency = consume time - event time (set at produce / outbox insert). Needs SEGFLOW_TEST_KAFKA_BOOTSTRAP
and SEGFLOW_TEST_DATABASE_URL (``make bench`` starts both).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench._common import percentiles, result, write
from contracts import topics
from contracts.erp import OrderLinePlaced
from services.runtime import outbox
from services.runtime.consumer import EventConsumer
from services.runtime.db import Database
from services.runtime.migrate import upgrade
from services.runtime.outbox import OutboxRelay
from services.runtime.settings import Settings

MIGRATIONS = Path(__file__).resolve().parents[1] / "tests" / "support" / "ledger_migrations"


def _payload(i: int) -> OrderLinePlaced:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    return OrderLinePlaced(
        order_id=f"O{i}",
        line_id="1",
        customer_id="C",
        customer_source="bench",
        sku=f"S{i % 100}",
        site="S",
        quantity=1,
        unit="EA",
        unit_price=1,
        currency="EUR",
        requested_date=at.date(),
        ordered_at=at,
    )


async def raw_aiokafka(bootstrap: str, n: int) -> dict[str, float]:
    topic = f"bench.raw.{secrets.token_hex(4)}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=2)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"g-{topic}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await producer.start()
    await consumer.start()
    body = _payload(0).model_dump_json().encode()
    latencies: list[float] = []
    t0 = time.perf_counter()

    async def produce() -> None:
        futures = []
        for i in range(n):
            ts = str(time.time()).encode()
            futures.append(await producer.send(topic, key=f"O{i}".encode(), value=body, headers=[("ts", ts)]))
        await asyncio.gather(*futures)

    async def consume() -> None:
        while len(latencies) < n:
            batch = await consumer.getmany(timeout_ms=500)
            now = time.time()
            for msgs in batch.values():
                for m in msgs:
                    latencies.append(now - float(dict(m.headers)["ts"]))
            if batch:
                await consumer.commit()

    await asyncio.gather(produce(), consume())
    elapsed = time.perf_counter() - t0
    await producer.stop()
    await consumer.stop()
    return {"events_per_s": n / elapsed, "seconds": elapsed, **percentiles(latencies)}


async def runtime_path(settings: Settings, bus, n: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    db = Database("ledger", settings)
    await db.start()
    await upgrade(db, MIGRATIONS)
    await bus.start()
    await bus.ensure_topics([topics.spec_for(topics.ERP_ORDERS), topics.spec_for(topics.DLQ)])
    latencies: list[float] = []

    async def handler(session, env, model) -> None:  # type: ignore[no-untyped-def]
        latencies.append(time.time() - float(env.subject.split("|")[1]))

    relay = OutboxRelay("bench", db, bus, batch=500, interval_s=0.01)
    consumer = EventConsumer(
        service="bench",
        name=f"bench-{secrets.token_hex(3)}",
        bus=bus,
        db=db,
        topics=[topics.ERP_ORDERS],
        handlers={"segflow.order.line.placed": handler},
        transaction_batch=100,
    )
    await relay.start()
    await consumer.start()
    t0 = time.perf_counter()
    for start in range(0, n, 100):
        async with db.unit_of_work() as session:
            for i in range(start, min(n, start + 100)):
                await outbox.add_event(
                    session,
                    topic=topics.ERP_ORDERS,
                    key=f"O{i}",
                    source="bench",
                    type="segflow.order.line.placed",
                    payload=_payload(i),
                    subject=f"O{i}|{time.time()}",
                )
        relay.wake()
    while len(latencies) < n:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - t0
    await consumer.stop()
    await relay.stop()
    await bus.stop()
    await db.stop()
    return {"events_per_s": n / elapsed, "seconds": elapsed, **percentiles(latencies)}


async def _run(smoke: bool) -> dict:
    from services.runtime.bus.kafka import KafkaBus
    from services.runtime.bus.memory import MemoryBus

    bootstrap = os.environ["SEGFLOW_TEST_KAFKA_BOOTSTRAP"]
    db_url = os.environ["SEGFLOW_TEST_DATABASE_URL"]
    n = 300 if smoke else 10_000
    raw = await raw_aiokafka(bootstrap, n)
    ns = f"bench{secrets.token_hex(3)}."
    kafka_settings = Settings(
        mode="distributed",
        env="test",
        jwt_secret="x" * 32,
        database_url=db_url,
        kafka_bootstrap=bootstrap,
        topic_namespace=ns,
        topic_partitions=3,
    )
    # a fresh schema per run: the service name decides the schema
    kafka_rt = await runtime_path(kafka_settings, KafkaBus(bootstrap, namespace=ns, partitions_override=3), n)
    with tempfile.TemporaryDirectory() as tmp:
        mem_settings = Settings(mode="embedded", data_dir=Path(tmp))
        memory_rt = await runtime_path(mem_settings, MemoryBus(), n)
    return result(
        "bus_throughput",
        workload={
            "events": n,
            "partitions": 3,
            "outbox_txn_size": 100,
            "inbox_txn_batch": 100,
            "payload": "order.line.placed (~400 bytes JSON)",
        },
        measured={"runtime_kafka_outbox_inbox_postgres": kafka_rt, "runtime_inprocess_sqlite": memory_rt},
        baseline={"raw_aiokafka": raw},
        ratio={
            "runtime_kafka_throughput_vs_raw": kafka_rt["events_per_s"] / raw["events_per_s"],
            "runtime_kafka_p99_vs_raw": kafka_rt["p99_ms"] / raw["p99_ms"],
            "inprocess_throughput_vs_raw_kafka": memory_rt["events_per_s"] / raw["events_per_s"],
        },
        goal="state the cost of exactly-once effects (outbox + inbox in PostgreSQL) over raw transport",
        smoke=smoke,
    )


def run(smoke: bool = False) -> dict:
    return asyncio.run(_run(smoke))


if __name__ == "__main__":
    print(write(run()))
