"""End-to-end load: the ledger test service at fixed order rates, stepped to find saturation.

Per step, order lines are published at a fixed rate (open loop: a schedule, not "as fast as acks come
back") for a fixed time into a ledger host (PostgreSQL, outbox relay, Kafka, the echo consumer group).
End-to-end lag = echo consumer applied the assignment - the order line was published. Reported per step:
offered and achieved throughput, p50/p99 lag, and RSS samples over time. The baseline, in the same run
and on the same broker, is raw aiokafka produce -> consume at the same rate. The saturation point is the
highest rate whose achieved throughput stays within 95% of the offered rate with p99 lag under 1 s.
Needs SEGFLOW_TEST_KAFKA_BOOTSTRAP and SEGFLOW_TEST_DATABASE_URL (the shared test parts are fine).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic import BaseModel
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from bench._common import percentiles, result, write
from contracts import topics
from contracts.envelope import Envelope
from services.runtime.host import ServiceHost
from services.runtime.settings import Settings
from tests.support import ledger
from tests.support.chaos_harness import TEST_SECRET, Line, order_record

FULL_RATES = (200, 400, 800, 1600)
FULL_STEP_S, SMOKE_STEP_S = 25.0, 5.0


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _paced(rate: int, seconds: float, send: Any) -> int:
    """Start ``send(i)`` at ``rate`` per second for ``seconds`` without waiting for each acknowledgement
    (open loop; at most 256 in flight), then wait for all of them; returns how many were sent."""
    total = int(rate * seconds)
    in_flight = asyncio.Semaphore(256)
    tasks: list[asyncio.Task[None]] = []

    async def one(i: int) -> None:
        async with in_flight:
            await send(i)

    start = time.perf_counter()
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    return total


async def _new_database(url: str) -> str:
    name = f"segflow_bench_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(
        make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def _drop_database(url: str, db_url: str) -> None:
    conn = await asyncpg.connect(
        make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    await conn.execute(f'DROP DATABASE IF EXISTS "{make_url(db_url).database}" WITH (FORCE)')
    await conn.close()


async def ledger_step(bootstrap: str, database_url: str, rate: int, seconds: float) -> dict[str, Any]:
    db_url = await _new_database(database_url)
    settings = Settings(
        mode="distributed", env="test", jwt_secret=TEST_SECRET, database_url=db_url,
        kafka_bootstrap=bootstrap, topic_namespace=f"b{secrets.token_hex(4)}.", topic_partitions=3,
        log_level="WARNING",
    )  # fmt: skip
    published: dict[str, float] = {}
    applied: dict[str, float] = {}

    async def on_assigned_timed(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
        await ledger.on_assigned(session, env, event)
        applied[env.id.removesuffix("-assigned")] = time.perf_counter()

    host = ServiceHost("ledger", settings, migrations=ledger.MIGRATIONS)
    host.add_consumer(
        [topics.ERP_ORDERS], {"segflow.order.line.placed": ledger.on_order_line}, transaction_batch=50
    )
    host.add_consumer(
        [topics.SEGMENTS_ASSIGNMENTS], {"segflow.segment.assigned": on_assigned_timed}, name="ledger-echo"
    )
    await host.start()
    rss: list[tuple[float, float]] = []
    t0 = time.perf_counter()

    async def sample_rss() -> None:
        while True:
            rss.append((round(time.perf_counter() - t0, 1), round(rss_mib(), 1)))
            await asyncio.sleep(1.0)

    sampler = asyncio.create_task(sample_rss())
    try:

        async def send(i: int) -> None:
            line = Line(i, f"SKU{i % 50:02d}", float(i % 7 + 1))
            key, value, headers = order_record(line)
            published[line.event_id] = time.perf_counter()
            await host.bus.publish(topics.ERP_ORDERS, key, value, headers)

        total = await _paced(rate, seconds, send)
        deadline = time.perf_counter() + 120
        while len(applied) < total and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)
    finally:
        sampler.cancel()
        await host.stop()
        await _drop_database(database_url, db_url)
    lags = [applied[k] - published[k] for k in applied if k in published]
    finished = max(applied.values()) if applied else time.perf_counter()
    return {
        "offered_per_s": rate,
        "published": total,
        "applied": len(applied),
        "achieved_per_s": round(len(applied) / max(finished - t0, 1e-9), 1),
        "lag": percentiles(lags),
        "rss_mib_over_time": rss,
    }


async def baseline_step(bootstrap: str, rate: int, seconds: float) -> dict[str, Any]:
    topic = f"bench-raw-{secrets.token_hex(4)}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=2)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=topic,
        auto_offset_reset="earliest",
        enable_auto_commit=True,
    )
    await producer.start()
    await consumer.start()
    sent: dict[bytes, float] = {}
    lags: list[float] = []
    t0 = time.perf_counter()
    last = t0

    async def consume(expected: int) -> None:
        nonlocal last
        while len(lags) < expected:
            batch = await consumer.getmany(timeout_ms=200)
            now = time.perf_counter()
            for msgs in batch.values():
                for m in msgs:
                    lags.append(now - sent[m.value])
                    last = now

    try:
        total = int(rate * seconds)
        reader = asyncio.create_task(consume(total))

        async def send(i: int) -> None:
            value = str(i).encode()
            sent[value] = time.perf_counter()
            await producer.send_and_wait(topic, value, key=str(i % 50).encode())

        await _paced(rate, seconds, send)
        await asyncio.wait_for(reader, 120)
    finally:
        await consumer.stop()
        await producer.stop()
    return {
        "offered_per_s": rate,
        "published": total,
        "applied": len(lags),
        "achieved_per_s": round(len(lags) / max(last - t0, 1e-9), 1),
        "lag": percentiles(lags),
    }


def _saturated(step: dict[str, Any]) -> bool:
    return step["achieved_per_s"] < 0.95 * step["offered_per_s"] or step["lag"]["p99_ms"] > 1000


async def _run(smoke: bool) -> dict[str, Any]:
    bootstrap = os.environ["SEGFLOW_TEST_KAFKA_BOOTSTRAP"]
    database_url = os.environ["SEGFLOW_TEST_DATABASE_URL"]
    rates = (50,) if smoke else FULL_RATES
    step_s = SMOKE_STEP_S if smoke else FULL_STEP_S
    measured_steps, baseline_steps = [], []
    for rate in rates:
        measured_steps.append(await ledger_step(bootstrap, database_url, rate, step_s))
        baseline_steps.append(await baseline_step(bootstrap, rate, min(step_s, 8.0)))
        if _saturated(measured_steps[-1]) and not smoke:
            break
    ok = [s["offered_per_s"] for s in measured_steps if not _saturated(s)]
    base_ok = [s["offered_per_s"] for s in baseline_steps if not _saturated(s)]
    top, base_top = measured_steps[-1], baseline_steps[-1]
    return result(
        "e2e_load",
        workload={"rates_per_s": list(rates), "step_seconds": step_s, "products": 50, "partitions": 3},
        measured={"steps": measured_steps, "saturation_rate_per_s": max(ok) if ok else None},
        baseline={"steps": baseline_steps, "saturation_rate_per_s": max(base_ok) if base_ok else None},
        ratio={
            "achieved_throughput_vs_raw_kafka_at_top_rate": round(
                top["achieved_per_s"] / max(base_top["achieved_per_s"], 1e-9), 3
            ),
            "p99_lag_vs_raw_kafka_at_top_rate": round(
                top["lag"]["p99_ms"] / max(base_top["lag"]["p99_ms"], 1e-9), 2
            ),
        },
        goal="sustain the offered order rate end to end with p99 lag under 1 s; state the saturation rate",
        smoke=smoke,
    )


def run(smoke: bool = False) -> dict[str, Any]:
    return asyncio.run(_run(smoke))


if __name__ == "__main__":
    print(write(run()))
