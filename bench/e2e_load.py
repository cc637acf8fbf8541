"""End-to-end load: ledger service processes at stepped order rates, to find the saturation point.

Per step (a fresh database and topic namespace each): ``LEDGER_PROCESSES`` ledger processes
(``python -m tests.support.ledger``, one consumer group, ``LEDGER_TXN_BATCH=100``: the realistic batched
configuration) consume order lines published at a fixed rate (open loop: a schedule, not "as fast as acks
come back") for a fixed time; each line goes through PostgreSQL, the outbox relay and Kafka to the
assignments topic and on to the echo consumer group. End-to-end lag = the assignment arrived on the
assignments topic (a raw reader in this process, like any downstream service) - the order line was
published. Reported per step: offered and achieved throughput, p50/p99 lag, the lag trend (mean lag of
the last quarter of the step minus the first), the ledger processes' RSS over time and the end state
(totals and echoes, checked against the sums of what was published). The baseline, in the same run and
on the same broker, is raw aiokafka produce -> consume at the same rate. The saturation point is the
highest rate whose achieved throughput stays within 5% of the offered rate and whose lag stays bounded
(p99 under 2 s and a lag trend under 0.5 s). Needs SEGFLOW_TEST_KAFKA_BOOTSTRAP and
SEGFLOW_TEST_DATABASE_URL (the shared test parts are fine).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench._common import percentiles, result, write
from contracts import topics
from contracts.topics import all_topics
from services.runtime.bus.factory import build_bus
from services.runtime.migrate import upgrade
from services.runtime.settings import Settings
from tests.support import ledger
from tests.support.chaos_harness import TEST_SECRET, Line, order_record

REPO = Path(__file__).resolve().parents[1]
FULL_RATES, SMOKE_RATES = (25, 50, 100, 200, 400), (25,)
FULL_STEP_S, SMOKE_STEP_S = 20.0, 2.0
BASELINE_STEP_S = 8.0
LEDGER_PROCESSES, LEDGER_TXN_BATCH, PARTITIONS, PRODUCTS = 2, 100, 3, 50
WARMUP_LINES = 20
P99_BOUND_MS, TREND_BOUND_MS = 2000.0, 500.0


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


async def _paced(rate: int, seconds: float, send: Any, first: int = 0) -> int:
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
        tasks.append(asyncio.create_task(one(first + i)))
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


def _line(i: int) -> Line:
    return Line(i, f"SKU{i % PRODUCTS:02d}", float(i % 7 + 1))


def _spawn_ledgers(settings: Settings, log_dir: Path) -> list[subprocess.Popen[bytes]]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SEGFLOW_FAULT")},
        "SEGFLOW_MODE": "distributed", "SEGFLOW_ENV": "test", "SEGFLOW_JWT_SECRET": TEST_SECRET,
        "SEGFLOW_DATABASE_URL": settings.database_url or "", "SEGFLOW_KAFKA_BOOTSTRAP": settings.kafka_bootstrap or "",
        "SEGFLOW_TOPIC_NAMESPACE": settings.topic_namespace, "SEGFLOW_TOPIC_PARTITIONS": str(PARTITIONS),
        "SEGFLOW_LOG_LEVEL": "WARNING", "LEDGER_TXN_BATCH": str(LEDGER_TXN_BATCH),
    }  # fmt: skip
    procs = []
    for i in range(LEDGER_PROCESSES):
        with open(log_dir / f"ledger-{i}.log", "wb") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "tests.support.ledger"], cwd=REPO, env=env, stdout=log, stderr=log
                )
            )
    return procs


async def _ledger_state(observer: Any) -> tuple[float, int, int]:
    """(sum of ledger totals, order lines counted, assignments echoed) from the ledger's tables."""
    async with observer.db.read() as s:
        qty, lines = (
            await s.execute(
                select(
                    func.coalesce(func.sum(ledger.totals.c.quantity), 0),
                    func.coalesce(func.sum(ledger.totals.c.lines), 0),
                )
            )
        ).one()
        echoed = (await s.execute(select(func.coalesce(func.sum(ledger.echoes.c.count), 0)))).scalar_one()
    return float(qty), int(lines), int(echoed)


async def _until(check: Any, timeout: float, what: str) -> None:
    deadline = time.perf_counter() + timeout
    while not await check():
        if time.perf_counter() > deadline:
            raise RuntimeError(f"e2e_load: {what} not reached within {timeout}s")
        await asyncio.sleep(0.1)


async def ledger_step(
    bootstrap: str, database_url: str, rate: int, seconds: float, log_dir: Path
) -> dict[str, Any]:
    db_url = await _new_database(database_url)
    settings = Settings(
        mode="distributed", env="test", jwt_secret=TEST_SECRET, database_url=db_url,
        kafka_bootstrap=bootstrap, topic_namespace=f"b{secrets.token_hex(4)}.", topic_partitions=PARTITIONS,
        log_level="WARNING",
    )  # fmt: skip
    observer = ledger.build(settings)  # migrations and state reads only; it never consumes
    bus = build_bus(settings, client_id="e2e-load")
    await observer.db.start()
    await upgrade(observer.db, ledger.MIGRATIONS)
    await bus.start()
    await bus.ensure_topics(all_topics())
    reader = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await reader.start()
    assignments = bus.physical(topics.SEGMENTS_ASSIGNMENTS)
    reader.assign([TopicPartition(assignments, p) for p in range(PARTITIONS)])
    published: dict[str, float] = {}
    arrived: dict[str, float] = {}

    async def read_assignments() -> None:
        while True:
            batch = await reader.getmany(timeout_ms=100)
            now = time.perf_counter()
            for msgs in batch.values():
                for m in msgs:
                    ce_id = dict(m.headers).get("ce_id", b"").decode()
                    arrived.setdefault(ce_id.removesuffix("-assigned"), now)

    async def send(i: int) -> None:
        line = _line(i)
        key, value, headers = order_record(line)
        published[line.event_id] = time.perf_counter()
        await bus.publish(topics.ERP_ORDERS, key, value, headers)

    procs = _spawn_ledgers(settings, log_dir)
    rss: list[tuple[float, float]] = []
    t_start = time.perf_counter()

    async def sample_rss() -> None:
        while True:
            rss.append(
                (round(time.perf_counter() - t_start, 1), round(sum(rss_mib(p.pid) for p in procs), 1))
            )
            await asyncio.sleep(1.0)

    reading = asyncio.create_task(read_assignments())
    sampler = asyncio.create_task(sample_rss())
    try:
        # warm-up (not measured): every process started and the group assigned before the clock runs
        for i in range(WARMUP_LINES):
            await send(-1 - i)
        await _until(lambda: _echoed_at_least(observer, WARMUP_LINES), 180, "warm-up lines echoed")
        measured_ids = {_line(i).event_id for i in range(int(rate * seconds))}
        t0 = time.perf_counter()
        total = await _paced(rate, seconds, send)
        await _until(lambda: _arrived_all(arrived, measured_ids), 300, "every assignment on the broker")
        await _until(lambda: _echoed_at_least(observer, WARMUP_LINES + total), 120, "every assignment echoed")
        qty, lines, echoed = await _ledger_state(observer)
    finally:
        reading.cancel()
        sampler.cancel()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            await asyncio.to_thread(proc.wait)
        await reader.stop()
        await bus.stop()
        await observer.db.stop()
        await _drop_database(database_url, db_url)
    done = sorted((arrived[k], arrived[k] - published[k]) for k in measured_ids if k in arrived)
    lags = [lag for _, lag in done]
    quarter = max(1, len(lags) // 4)
    expected_qty = sum(_line(i).quantity for i in [*range(-WARMUP_LINES, 0), *range(total)])
    return {
        "offered_per_s": rate,
        "published": total,
        "applied": len(done),
        "achieved_per_s": round((len(done) - 1) / max(done[-1][0] - done[0][0], 1e-9), 1) if done else 0.0,
        "lag": percentiles(lags),
        "lag_trend_ms": round(1000 * (sum(lags[-quarter:]) / quarter - sum(lags[:quarter]) / quarter), 1),
        "rss_mib_over_time": rss,
        "ledger_processes": LEDGER_PROCESSES,
        "transaction_batch": LEDGER_TXN_BATCH,
        "end_state": {
            "lines_counted": lines,
            "assignments_echoed": echoed,
            "quantity_total": qty,
            "expected_lines": WARMUP_LINES + total,
            "expected_quantity_total": expected_qty,
        },
        "wall_s": round(time.perf_counter() - t0, 1),
    }


async def _echoed_at_least(observer: Any, n: int) -> bool:
    return (await _ledger_state(observer))[2] >= n


async def _arrived_all(arrived: dict[str, float], ids: set[str]) -> bool:
    return ids.issubset(arrived)


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
    arrivals: list[float] = []

    async def consume(expected: int) -> None:
        while len(lags) < expected:
            batch = await consumer.getmany(timeout_ms=200)
            now = time.perf_counter()
            for msgs in batch.values():
                for m in msgs:
                    lags.append(now - sent[m.value])
                    arrivals.append(now)

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
    quarter = max(1, len(lags) // 4)
    return {
        "offered_per_s": rate,
        "published": total,
        "applied": len(lags),
        "achieved_per_s": round((len(lags) - 1) / max(arrivals[-1] - arrivals[0], 1e-9), 1) if lags else 0.0,
        "lag": percentiles(lags),
        "lag_trend_ms": round(1000 * (sum(lags[-quarter:]) / quarter - sum(lags[:quarter]) / quarter), 1),
    }


def _saturated(step: dict[str, Any]) -> bool:
    """Achieved throughput more than 5% below the offered rate, or lag unbounded (p99 over 2 s, or
    growing by more than 0.5 s from the first to the last quarter of the step)."""
    return (
        step["achieved_per_s"] < 0.95 * step["offered_per_s"]
        or step["lag"]["p99_ms"] > P99_BOUND_MS
        or step.get("lag_trend_ms", 0.0) > TREND_BOUND_MS
    )


async def _run(smoke: bool) -> dict[str, Any]:
    bootstrap = os.environ["SEGFLOW_TEST_KAFKA_BOOTSTRAP"]
    database_url = os.environ["SEGFLOW_TEST_DATABASE_URL"]
    rates = SMOKE_RATES if smoke else FULL_RATES
    step_s = SMOKE_STEP_S if smoke else FULL_STEP_S
    base_s = SMOKE_STEP_S if smoke else BASELINE_STEP_S
    measured_steps: list[dict[str, Any]] = []
    baseline_steps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="e2e-load-") as logs:
        for rate in rates:
            measured_steps.append(await ledger_step(bootstrap, database_url, rate, step_s, Path(logs)))
            baseline_steps.append(await baseline_step(bootstrap, rate, base_s))
            if _saturated(measured_steps[-1]):
                break  # past the saturation point: higher rates only queue up more
    ok = [s["offered_per_s"] for s in measured_steps if not _saturated(s)]
    base_ok = [s["offered_per_s"] for s in baseline_steps if not _saturated(s)]
    saturation = max(ok) if ok else None
    first_saturated = next((s["offered_per_s"] for s in measured_steps if _saturated(s)), None)
    top, base_top = measured_steps[-1], baseline_steps[-1]
    return result(
        "e2e_load",
        workload={
            "rates_per_s": list(rates),
            "step_seconds": step_s,
            "baseline_step_seconds": base_s,
            "products": PRODUCTS,
            "partitions": PARTITIONS,
            "ledger_processes": LEDGER_PROCESSES,
            "transaction_batch": LEDGER_TXN_BATCH,
            "warmup_lines": WARMUP_LINES,
            "saturated_when": f"achieved < 95% of offered, or p99 lag > {P99_BOUND_MS:g} ms, "
            f"or lag trend > {TREND_BOUND_MS:g} ms",
        },
        measured={
            "steps": measured_steps,
            "saturation_rate_per_s": saturation,
            "first_saturated_rate_per_s": first_saturated,
            "statement": (
                f"sustains {saturation} order lines/s end to end on this machine"
                + (
                    f"; saturated at {first_saturated}/s"
                    if first_saturated
                    else "; not saturated up to the top rate"
                )
                if saturation
                else f"saturated already at {first_saturated}/s"
            ),
        },
        baseline={"steps": baseline_steps, "saturation_rate_per_s": max(base_ok) if base_ok else None},
        ratio={
            "achieved_throughput_vs_raw_kafka_at_top_rate": round(
                top["achieved_per_s"] / max(base_top["achieved_per_s"], 1e-9), 3
            ),
            "p99_lag_vs_raw_kafka_at_top_rate": round(
                top["lag"]["p99_ms"] / max(base_top["lag"]["p99_ms"], 1e-9), 2
            ),
        },
        goal="sustain the offered order rate end to end with bounded lag; state the saturation rate",
        smoke=smoke,
    )


def run(smoke: bool = False) -> dict[str, Any]:
    return asyncio.run(_run(smoke))


if __name__ == "__main__":
    print(write(run()))
