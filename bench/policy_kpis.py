"""Benchmark: GET /v1/kpis of the policy app on a generated history (300,000 order lines, 90% delivered, 10%
promised, 3,000 products in 4 segments and 7 categories over one year), cached per version of its input
tables, against the uncached computation of the same answer in the same run (what every call did before:
load every order line, shipment and promise, join them in Python, roll the windows).

Measured: the first call (a miss), warm calls (hits: a counter read and the series), 8 concurrent calls
right after a write (one shared recomputation), and that cached and uncached answers are equal.
SQLite (the embedded mode) always; PostgreSQL too when SEGFLOW_TEST_DATABASE_URL names a server (a fresh
database is created and dropped).
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench._common import result, write
from services.policy import app, kpis, store
from services.policy.kpi_reads import KpiReads
from services.runtime.auth import issue_token
from services.runtime.bus.memory import MemoryBus
from services.runtime.host import ServiceHost
from services.runtime.settings import Settings
from tests.support.realchain_procs import drop_database, new_database

SECRET = "bench-secret-0123456789abcdef0123456789"
START = date(2023, 1, 2)
SEGMENTS = ("PLATINUM", "GOLD", "SILVER", "BRONZE")
EXTRA_SHIPMENT = {
    "order_id": "O0000000", "line_id": "1", "shipment_key": "extra", "sku": "SKU00000", "site": "S1",
    "customer_id": None, "shipped_quantity": 1.0, "delivered_quantity": 1.0, "delivered_date": START,
    "scheduled_date": None, "freight_cost": None, "handling_cost": None,
}  # fmt: skip


def history(lines: int, seed: int = 7) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(seed)
    skus = [f"SKU{i:05d}" for i in range(max(10, lines // 100))]
    out: dict[str, list[dict[str, Any]]] = {"lines": [], "ships": [], "promises": []}
    for i in range(lines):
        sku, day = rng.choice(skus), START + timedelta(days=rng.randrange(364))
        requested, oid, qty = (
            day + timedelta(days=rng.randrange(2, 10)),
            f"O{i:07d}",
            float(rng.randrange(1, 50)),
        )
        out["lines"].append(
            {"order_id": oid, "line_id": "1", "sku": sku, "site": "S1", "customer_id": f"C{i % 500}",
             "region": rng.choice(["EU", "US", "APAC"]), "quantity": qty, "cancelled_quantity": 0.0,
             "requested_date": requested, "promised_date": None,
             "ordered_at": datetime(day.year, day.month, day.day, tzinfo=UTC), "ordered_week": store.week_of(day)}
        )  # fmt: skip
        if rng.random() < 0.9:
            out["ships"].append(
                {"order_id": oid, "line_id": "1", "shipment_key": "-", "sku": sku, "site": "S1",
                 "customer_id": None, "shipped_quantity": None,
                 "delivered_quantity": qty if rng.random() < 0.95 else qty - 1,
                 "delivered_date": requested + timedelta(days=rng.choice([0, 0, 0, 1, 3])),
                 "scheduled_date": requested, "freight_cost": 2.0, "handling_cost": 1.0}
            )  # fmt: skip
        if rng.random() < 0.1:
            out["promises"].append(
                {"promise_id": f"P{i}", "order_id": oid, "sku": sku,
                 "promised_date": requested + timedelta(days=1), "released": False}
            )  # fmt: skip
    at = datetime(2022, 1, 1, tzinfo=UTC)
    out["assignments"] = [
        {"entity_id": s, "segment": rng.choice(SEGMENTS), "tier": 1, "service_level_type": "cycle",
         "service_level_target": 0.95, "otif_target": 0.9, "pattern": None, "valid_from": at}
        for s in skus
    ]  # fmt: skip
    out["products"] = [
        {"sku": s, "source": "bench", "base_uom": "EA", "conversions": {}, "lead_time_days": 7.0,
         "lead_time_std_days": 1.0, "unit_cost": 3.0, "erp_safety_stock": None, "erp_reorder_point": None,
         "updated_at": at, "category": f"cat{n % 7}"}
        for n, s in enumerate(skus)
    ]  # fmt: skip
    return out


async def _seed(host: ServiceHost, data: dict[str, list[dict[str, Any]]]) -> None:
    writers = {
        "lines": store.save_order_line,
        "ships": store.save_shipment,
        "promises": store.save_promise,
        "assignments": store.save_assignment,
        "products": store.save_product,
    }
    for kind, save in writers.items():
        rows = data[kind]
        for first in range(0, len(rows), 5000):
            async with host.db.unit_of_work() as session:
                for values in rows[first : first + 5000]:
                    await save(session, values)


async def _uncached(host: ServiceHost) -> list[dict[str, Any]]:
    """The route's answer as computed on every call before the cache (same code path, no cache)."""
    async with host.db.read() as session:
        lines, ships, promised = await store.kpi_rows(session)
        assignments = await store.assignment_rows(session)
        categories = {p.sku: p.category for p in await store.product_rows(session) if p.category}
    data = await asyncio.to_thread(kpis.collect_lines, lines, ships, promised, assignments, 7, categories)
    table = await asyncio.to_thread(kpis.kpi_table, data, "segment", 4)
    return kpis.series(table, None, None)


async def _measure(settings: Settings, lines: int, warm_calls: int) -> dict[str, Any]:
    host = app.build(settings, bus=MemoryBus())
    await host.start(consume=False)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=host.app), base_url="http://b", timeout=None)
    auth = {"Authorization": f"Bearer {issue_token(settings, subject='bench', roles=['planner'])}"}
    reads: KpiReads = host.state["kpi_reads"]

    async def call() -> tuple[float, list[dict[str, Any]]]:
        t0 = time.perf_counter()
        response = await client.get("/v1/kpis", headers=auth)
        assert response.status_code == 200, response.text
        return time.perf_counter() - t0, list(response.json()["series"])

    try:
        t0 = time.perf_counter()
        await _seed(host, history(lines))
        seeded_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        reference = await _uncached(host)
        uncached_s = time.perf_counter() - t0
        first_s, first = await call()
        warm = [await call() for _ in range(warm_calls)]
        async with host.db.unit_of_work() as session:  # one new delivery: the next calls recompute once
            await store.save_shipment(session, EXTRA_SHIPMENT)
        misses = reads.frames.misses
        t0 = time.perf_counter()
        burst = await asyncio.gather(*(call() for _ in range(8)))
        burst_s = time.perf_counter() - t0
        fresh = await _uncached(host)
        return {
            "seeded_s": seeded_s,
            "uncached_s": uncached_s,
            "first_call_s": first_s,
            "warm_call_p50_s": statistics.median(t for t, _ in warm),
            "burst_after_write_8_calls_s": burst_s,
            "burst_recomputations": reads.frames.misses - misses,
            "cached_equals_uncached": first == reference
            and all(s == reference for _, s in warm)
            and all(s == fresh for _, s in burst),
        }
    finally:
        await client.aclose()
        await host.stop()


async def _postgres(admin_url: str, lines: int, warm_calls: int) -> dict[str, Any]:
    url = await new_database(admin_url, "segflow_bench")
    try:
        settings = Settings(
            mode="distributed", env="test", jwt_secret=SECRET, database_url=url, kafka_bootstrap="unused:9092"
        )
        return await _measure(settings, lines, warm_calls)
    finally:
        await drop_database(admin_url, url)


def run(smoke: bool = False) -> dict[str, Any]:
    lines, warm_calls = (2_000, 3) if smoke else (300_000, 20)
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(mode="embedded", env="test", jwt_secret=SECRET, data_dir=Path(data_dir))
        measured = {"sqlite": asyncio.run(_measure(settings, lines, warm_calls))}
    base = os.environ.get("SEGFLOW_TEST_DATABASE_URL")
    if base and not smoke:
        measured["postgresql"] = asyncio.run(_postgres(base, lines, warm_calls))
    sqlite = measured["sqlite"]
    return result(
        "policy_kpis",
        workload={"order_lines": lines, "warm_calls": warm_calls, "databases": sorted(measured)},
        measured=measured,
        baseline={
            "uncached_s": {db: m["uncached_s"] for db, m in measured.items()},
            "what": "the answer computed from every stored row, as each call did before the cache",
        },
        ratio={f"warm_vs_uncached_{db}": m["warm_call_p50_s"] / m["uncached_s"] for db, m in measured.items()}
        | {"first_call_vs_uncached_sqlite": sqlite["first_call_s"] / sqlite["uncached_s"]},
        goal="a warm call well under 0.1 s; a miss no slower than the uncached computation",
        smoke=smoke,
    )


if __name__ == "__main__":
    print(write(run()))
