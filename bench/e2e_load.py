"""End-to-end load on the REAL chain (classifier, policy, audit as separate processes) at stepped rates.

Per step (a fresh PostgreSQL database per service and one topic namespace): the three services run as
``python -m services.cli run <service>`` processes (distributed mode, SEGFLOW_* settings). Master data
goes first (customers and products, waited for), then a warm-up, then the seeded stream of order lines,
shipments and inventory positions (tests/support/realchain_workload.py) is published at a fixed open-loop
rate (a schedule, not "as fast as acks come back") for a fixed time. Effects are read from the services'
own tables: the classifier's and policy's inbox ``processed_at`` (the transaction that applied the record;
stamped when the record is claimed, i.e. at most one batch's handler time before its commit) and the
audit log's ``captured_us``. End-to-end lag of an order line = the latest of the three - its publish
time (one wall clock: everything runs on this machine). After the stream, the chain classifier ->
segments topics -> policy + audit is timed: a product classification run is requested over HTTP and its
lag is the time until policy has applied every segment.assigned and the audit log has captured every
assigned/changed event of that run. Reported per step: offered and achieved throughput (records/s, from
the completion times), p50/p99 lag per service and end to end, the lag trend, each service's RSS over
time, the segment chain's lag. Baseline, interleaved with the steps on the same broker (each step is
followed by its baseline at the same rate, so both see the same machine load): raw aiokafka
produce -> consume. Saturated = achieved < 95% of offered, or p99 > 2 s, or the lag grows by > 0.5 s
from the first to the last quarter; the steps stop after one that falls behind the offered rate or after
two saturated steps in a row, and the stated saturation point is the highest rate that was not saturated. Each
step warms up at its own rate for a few seconds before the clock runs. Needs SEGFLOW_TEST_KAFKA_BOOTSTRAP and SEGFLOW_TEST_DATABASE_URL.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench._common import percentiles, result, write
from contracts.topics import all_topics
from services.runtime.auth import issue_token
from services.runtime.bus.factory import build_bus
from services.runtime.settings import Settings
from tests.support import realchain_workload as wl
from tests.support.realchain_effects import Effects
from tests.support.realchain_procs import (
    TEST_SECRET,
    ServiceProcess,
    asyncpg_dsn,
    drop_database,
    new_database,
    service_env,
    spawn_service,
)

FULL_RATES, SMOKE_RATES = (25, 50, 100, 200, 400, 800), (25,)
FULL_STEP_S, SMOKE_STEP_S = 20.0, 2.0
BASELINE_STEP_S = 8.0
SERVICES = ("classifier", "policy", "audit")
PARTITIONS, CUSTOMERS, PRODUCTS, SEED = 3, 200, 100, 8
FULL_WARMUP_S, SMOKE_WARMUP_S = 5.0, 1.0
P99_BOUND_MS, TREND_BOUND_MS = 2000.0, 500.0


async def _paced(rate: int, items: list[Any], send: Callable[[Any], Awaitable[None]]) -> None:
    """Start ``send(item)`` on a schedule of ``rate`` per second without waiting for acknowledgements
    (open loop; at most 256 in flight), then wait for all of them."""
    in_flight = asyncio.Semaphore(256)

    async def one(item: Any) -> None:
        async with in_flight:
            await send(item)

    tasks = []
    start = time.perf_counter()
    for i, item in enumerate(items):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(item)))
    await asyncio.gather(*tasks)


async def _until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"e2e_load: {what} not reached within {timeout}s")
        await asyncio.sleep(0.25)


def _trend_ms(lags: list[float]) -> float:
    quarter = max(1, len(lags) // 4)
    return round(1000 * (sum(lags[-quarter:]) / quarter - sum(lags[:quarter]) / quarter), 1)


async def _segment_chain(
    svc: dict[str, ServiceProcess], effects: Effects, settings: Settings
) -> dict[str, Any]:
    """Request a product classification run and time its segment events through policy and the audit log."""
    token = issue_token(settings, subject="bench", roles=["planner"])
    auth = {"Authorization": f"Bearer {token}"}
    requested = time.time()
    async with httpx.AsyncClient(base_url=svc["classifier"].url, headers=auth, timeout=30) as client:
        run = (await client.post("/v1/runs", json={"dimension": "product"})).json()
        status: dict[str, Any] = {}

        async def finished() -> bool:
            nonlocal status
            status = (await client.get("/v1/runs/latest", params={"dimension": "product"})).json()
            return status.get("run_id") == run["run_id"] and status.get("status") in ("succeeded", "failed")

        await _until(finished, 300, "classification run finished")
    events = await effects.segment_events(requested - 1.0)
    assigned = [i for i, t in events if t == "segflow.segment.assigned"]
    every = [i for i, _ in events]
    await _until(lambda: _has_all(effects, "policy", assigned), 300, "policy applied the segment assignments")
    await _until(lambda: _has_all(effects, "audit", every), 300, "audit captured the segment events")
    policy_at, audit_at = await effects.seen("policy", assigned), await effects.seen("audit", every)
    return {
        "run_status": status.get("status"),
        "run_seconds": round(_finished_at(status, time.time()) - requested, 2),
        "segment_assigned": len(assigned),
        "segment_events": len(every),
        "to_policy_s": round(max(policy_at.values(), default=requested) - requested, 2),
        "to_audit_s": round(max(audit_at.values(), default=requested) - requested, 2),
    }


def _finished_at(status: dict[str, Any], fallback: float) -> float:
    finished = status.get("finished_at")
    return datetime.fromisoformat(finished).timestamp() if finished else fallback


async def _has_all(effects: Effects, service: str, ids: list[str]) -> bool:
    return await effects.count(service, ids) == len(ids)


def _applied(effects: Effects, service: str, ids: list[str]) -> Callable[[], Awaitable[bool]]:
    return lambda: _has_all(effects, service, ids)


async def chain_step(
    bootstrap: str, admin_url: str, rate: int, seconds: float, warmup_s: float, logs: Path
) -> dict[str, Any]:
    namespace = f"rc{secrets.token_hex(4)}."
    load_before = round(os.getloadavg()[0], 2)  # the machine is shared: say how busy it was
    dbs = {name: await new_database(admin_url, f"segflow_rc_{name[:4]}") for name in SERVICES}
    settings = Settings(
        mode="distributed", env="test", jwt_secret=TEST_SECRET, database_url=dbs["classifier"],
        kafka_bootstrap=bootstrap, topic_namespace=namespace, topic_partitions=PARTITIONS, log_level="WARNING",
    )  # fmt: skip
    bus = build_bus(settings, client_id="e2e-load")
    await bus.start()
    await bus.ensure_topics(all_topics())
    svc: dict[str, ServiceProcess] = {}
    conns: dict[str, asyncpg.Connection] = {}
    rss: dict[str, list[tuple[float, float]]] = {name: [] for name in SERVICES}
    sampler: asyncio.Task[None] | None = None
    published: dict[str, float] = {}

    async def send(item: wl.Item) -> None:
        published[item.event_id] = time.time()
        await bus.publish(item.topic, item.key, item.value, item.headers)

    try:
        for name in SERVICES:
            env = service_env(
                database_url=dbs[name], bootstrap=bootstrap, namespace=namespace, partitions=PARTITIONS,
                data_dir=logs / f"{rate}-{name}",
            )  # fmt: skip
            svc[name] = spawn_service(name, env, logs / str(rate))
        await asyncio.gather(*(s.wait_healthy() for s in svc.values()))
        conns = {name: await asyncpg.connect(asyncpg_dsn(dbs[name])) for name in SERVICES}
        effects = Effects(conns)
        t_start = time.perf_counter()

        async def sample_rss() -> None:
            while True:
                for name, s in svc.items():
                    rss[name].append((round(time.perf_counter() - t_start, 1), round(s.rss_mib(), 1)))
                await asyncio.sleep(1.0)

        sampler = asyncio.create_task(sample_rss())
        master = wl.master_data(CUSTOMERS, PRODUCTS)
        await asyncio.gather(*(send(m) for m in master))
        await _until(
            lambda: _has_all(effects, "audit", [m.event_id for m in master]), 180, "master data audited"
        )
        # warm-up at the step's own rate (not measured): groups assigned, caches and connection pools hot
        warm = wl.stream(SEED + 1, int(rate * warmup_s), customers=CUSTOMERS, products=PRODUCTS, first=10**6)
        await _paced(rate, warm, send)
        warm_orders = [w.event_id for w in warm if w.kind == "order"]
        for name in ("classifier", "policy"):
            await _until(_applied(effects, name, warm_orders), 300, f"warm-up applied by {name}")
        await _until(lambda: _has_all(effects, "audit", [w.event_id for w in warm]), 300, "warm-up audited")
        items = wl.stream(SEED, int(rate * seconds), customers=CUSTOMERS, products=PRODUCTS)
        t0 = time.perf_counter()
        await _paced(rate, items, send)
        orders = [i.event_id for i in items if i.kind == "order"]
        every = [i.event_id for i in items]
        for name in ("classifier", "policy"):
            await _until(_applied(effects, name, orders), 600, f"every order applied by {name}")
        await _until(lambda: _has_all(effects, "audit", every), 600, "every record audited")
        drained_s = time.perf_counter() - t0
        seen = {name: await effects.seen(name, every) for name in SERVICES}
        chain = await _segment_chain(svc, effects, settings)
    finally:
        if sampler is not None:
            sampler.cancel()
        for conn in conns.values():
            await conn.close()
        await asyncio.gather(*(s.stop() for s in svc.values()))
        await bus.stop()
        for url in dbs.values():
            await drop_database(admin_url, url)
    # completion of a record = the latest service that applied it (inventory positions: only the audit
    # log and policy apply them; the classifier ignores them)
    done = {i: max(seen[n][i] for n in SERVICES if i in seen[n]) for i in every}
    order_lags = sorted((done[i], done[i] - published[i]) for i in orders)
    lags = [lag for _, lag in order_lags]
    finish = sorted(done.values())
    return {
        "offered_per_s": rate,
        "published": len(items),
        "orders": len(orders),
        "applied": len(done),
        "achieved_per_s": round((len(finish) - 1) / max(finish[-1] - finish[0], 1e-9), 1),
        "lag": percentiles(lags),
        "lag_by_service": {
            name: percentiles([seen[name][i] - published[i] for i in orders]) for name in SERVICES
        },
        "lag_trend_ms": _trend_ms(lags),
        "segment_chain": chain,
        "rss_mib_over_time": rss,
        "drained_s": round(drained_s, 1),
        "load_average_1m_before_after": [load_before, round(os.getloadavg()[0], 2)],
    }


async def baseline_step(bootstrap: str, rate: int, seconds: float) -> dict[str, Any]:
    """Raw aiokafka: an idempotent producer (acks=all) and a group consumer, same broker, same rate."""
    topic = f"bench-raw-{secrets.token_hex(4)}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
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
    total = int(rate * seconds)

    async def consume() -> None:
        while len(lags) < total:
            batch = await consumer.getmany(timeout_ms=200)
            now = time.perf_counter()
            for msgs in batch.values():
                for m in msgs:
                    lags.append(now - sent[m.value])
                    arrivals.append(now)

    async def send(i: int) -> None:
        value = str(i).encode()
        sent[value] = time.perf_counter()
        await producer.send_and_wait(topic, value, key=str(i % 50).encode())

    try:
        reader = asyncio.create_task(consume())
        await _paced(rate, list(range(total)), send)
        await asyncio.wait_for(reader, 120)
    finally:
        await consumer.stop()
        await producer.stop()
    return {
        "offered_per_s": rate,
        "published": total,
        "applied": len(lags),
        "achieved_per_s": round((len(lags) - 1) / max(arrivals[-1] - arrivals[0], 1e-9), 1) if lags else 0.0,
        "lag": percentiles(lags),
        "lag_trend_ms": _trend_ms(lags),
    }


def saturated(step: dict[str, Any]) -> bool:
    """Achieved < 95% of offered, or p99 lag > 2 s, or lag growing > 0.5 s from first to last quarter."""
    return (
        step["achieved_per_s"] < 0.95 * step["offered_per_s"]
        or step["lag"]["p99_ms"] > P99_BOUND_MS
        or step.get("lag_trend_ms", 0.0) > TREND_BOUND_MS
    )


def _statement(ok: int | None, first_bad: int | None) -> str:
    if ok is None:
        return f"saturated already at {first_bad} records/s"
    tail = f"; saturated at {first_bad}/s" if first_bad else "; not saturated up to the top rate"
    return f"the real chain sustains {ok} records/s end to end on this 2-core machine{tail}"


async def _run(smoke: bool) -> dict[str, Any]:
    bootstrap = os.environ["SEGFLOW_TEST_KAFKA_BOOTSTRAP"]
    admin_url = os.environ["SEGFLOW_TEST_DATABASE_URL"]
    rates = SMOKE_RATES if smoke else FULL_RATES
    step_s = SMOKE_STEP_S if smoke else FULL_STEP_S
    base_s = SMOKE_STEP_S if smoke else BASELINE_STEP_S
    warm_s = SMOKE_WARMUP_S if smoke else FULL_WARMUP_S
    steps: list[dict[str, Any]] = []
    base: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="e2e-load-") as logs:
        for rate in rates:  # interleaved: each chain step, then the raw-Kafka baseline at the same rate
            steps.append(await chain_step(bootstrap, admin_url, rate, step_s, warm_s, Path(logs)))
            base.append(await baseline_step(bootstrap, rate, base_s))
            behind = steps[-1]["achieved_per_s"] < 0.95 * rate
            if behind or (len(steps) > 1 and saturated(steps[-1]) and saturated(steps[-2])):
                break  # cannot keep up (or two saturated steps in a row): higher rates only queue up more
    for step in steps:
        step["saturated"] = saturated(step)
    ok = [s["offered_per_s"] for s in steps if not saturated(s)]
    first_bad = next((s["offered_per_s"] for s in steps if saturated(s)), None)
    top, base_top = steps[-1], base[-1]
    return result(
        "e2e_load",
        workload={
            "services": list(SERVICES),
            "rates_per_s": list(rates),
            "step_seconds": step_s,
            "baseline_step_seconds": base_s,
            "customers": CUSTOMERS,
            "products": PRODUCTS,
            "partitions": PARTITIONS,
            "warmup_seconds_at_step_rate": warm_s,
            "mix": {"order": wl.ORDER_SHARE, "shipment": wl.SHIPMENT_SHARE, "inventory": 0.15},
            "saturated_when": f"achieved < 95% of offered, or p99 lag > {P99_BOUND_MS:g} ms, "
            f"or lag trend > {TREND_BOUND_MS:g} ms",
            "notes": "each service a separate process on its own fresh PostgreSQL database; one topic "
            "namespace per step; baseline steps interleaved with the chain steps (same rate, same broker, "
            "same machine load; the machine is shared with other work)",
        },
        measured={
            "steps": steps,
            "saturation_rate_per_s": max(ok) if ok else None,
            "first_saturated_rate_per_s": first_bad,
            "statement": _statement(max(ok) if ok else None, first_bad),
        },
        baseline={
            "steps": base,
            "saturation_rate_per_s": max(
                (b["offered_per_s"] for b in base if not saturated(b)), default=None
            ),
        },
        ratio={
            "achieved_throughput_vs_raw_kafka_at_top_rate": round(
                top["achieved_per_s"] / max(base_top["achieved_per_s"], 1e-9), 3
            ),
            "p99_lag_vs_raw_kafka_at_top_rate": round(
                top["lag"]["p99_ms"] / max(base_top["lag"]["p99_ms"], 1e-9), 2
            ),
        },
        goal="sustain the offered record rate end to end through the real services with bounded lag; "
        "state the saturation rate",
        smoke=smoke,
    )


def run(smoke: bool = False) -> dict[str, Any]:
    return asyncio.run(_run(smoke))


if __name__ == "__main__":
    print(write(run()))
