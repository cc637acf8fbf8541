"""End to end on the real parts: the FULL Online Retail file -> ingest -> real Kafka -> classifier on real
PostgreSQL -> customer ABC on revenue and product XYZ on monthly buckets, checked on EVERY entity against an
independent computation written here straight from the CSV (csv module + plain Python, exact integers
for the CV comparison)."""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import re
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from contracts.topics import DLQ, all_topics
from services.classifier import app
from services.ingest import ingest
from services.runtime.auth import issue_token
from services.runtime.bus import build_bus
from services.runtime.consumer import replay_dlq
from services.runtime.settings import Settings

DATA = Path(__file__).resolve().parents[2] / "data" / "online_retail_2010-12_2011-12.csv.gz"
PRODUCT_CODE = re.compile(r"^\d{5}")


def reference() -> dict[str, Any]:
    """The ingest rules applied by hand: skip C-invoices and non-product codes; master data for every
    remaining row; order lines only with quantity > 0 and price >= 0 (a zero price is a valid line)."""
    customers: set[str] = set()
    products: set[str] = set()
    revenue: dict[str, float] = defaultdict(float)
    monthly: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    months: set[int] = set()
    with io.TextIOWrapper(gzip.open(DATA, "rb"), encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            invoice, code = row["InvoiceNo"].strip(), row["StockCode"].strip()
            if invoice.startswith("C") or not PRODUCT_CODE.match(code):
                continue
            quantity, price = float(row["Quantity"]), float(row["UnitPrice"])
            when = datetime.strptime(row["InvoiceDate"], "%Y-%m-%d %H:%M:%S")
            raw = row["CustomerID"].strip()
            customer = raw.split(".")[0] if raw else "anonymous"
            customers.add(customer)
            products.add(code)
            if quantity <= 0 or price < 0:
                continue
            revenue[customer] += quantity * price
            month = when.year * 12 + when.month - 1
            months.add(month)
            monthly[code][month] += int(quantity)
    return {
        "customers": customers,
        "products": products,
        "revenue": revenue,
        "monthly": monthly,
        "months": range(min(months), max(months) + 1),
    }


def expected_abc(revenue: dict[str, float], ids: list[str]) -> dict[str, str]:
    """Descending revenue, ties by id; A while the share before < 0.80, B while < 0.95; zero -> C."""
    ordered = sorted(ids, key=lambda i: (-revenue.get(i, 0.0), i))
    total = sum(v for i in ids if (v := revenue.get(i, 0.0)) > 0)
    out: dict[str, str] = {}
    before = 0.0
    for entity in ordered:
        value = revenue.get(entity, 0.0)
        share = before / total
        out[entity] = "C" if value <= 0 else ("A" if share < 0.8 else "B" if share < 0.95 else "C")
        before += max(value, 0.0)
    return out


def expected_xyz(series: list[int]) -> str | None:
    """CV^2 = n*sum(x^2)/sum(x)^2 - 1 compared exactly: X iff cv <= 0.5, Y iff cv <= 1.0, else Z."""
    n, s1, s2 = len(series), sum(series), sum(x * x for x in series)
    if s1 <= 0:
        return None
    if 4 * n * s2 <= 5 * s1 * s1:
        return "X"
    if n * s2 <= 2 * s1 * s1:
        return "Y"
    return "Z"


async def all_segments(http: httpx.AsyncClient, dimension: str) -> dict[str, dict[str, Any]]:
    items: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"dimension": dimension, "limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = (await http.get("/v1/segments", params=params)).json()
        items.update({item["entity_id"]: item for item in page["items"]})
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def run(http: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await http.post("/v1/runs", json=body)
    assert response.status_code == 202, response.text
    run_id = response.json()["run_id"]
    while True:
        record = (await http.get(f"/v1/runs/{run_id}")).json()
        if record["status"] in ("succeeded", "failed"):
            assert record["status"] == "succeeded", record
            return record
        await asyncio.sleep(0.5)


async def test_full_online_retail_through_kafka_and_postgres(
    fresh_database: str, kafka_bootstrap: str, topic_namespace: str
) -> None:
    settings = Settings(
        mode="distributed",
        env="test",
        jwt_secret="test-secret-0123456789abcdef0123456789",
        database_url=fresh_database,
        kafka_bootstrap=kafka_bootstrap,
        topic_namespace=topic_namespace,
        topic_partitions=3,
        log_level="WARNING",
    )
    expected = reference()
    host = app.build(settings)
    await host.start()
    producer = build_bus(settings, client_id="e2e-ingest")
    await producer.start()
    try:
        await producer.ensure_topics(all_topics())
        started = time.perf_counter()
        report = await ingest(producer, DATA, "online-retail")  # pipelined publish_many batches
        print(f"ingest published {report.published} events in {time.perf_counter() - started:.0f} s")
        assert report.by_type["segflow.customer.upserted"] == len(expected["customers"])
        assert report.by_type["segflow.product.upserted"] == len(expected["products"])
        await app.wait_caught_up(host, timeout_s=3600)
        await replay_dlq(producer, consumer="classifier")  # anything that beat its master data
        await app.wait_caught_up(host, timeout_s=3600)
        consumed_s = time.perf_counter() - started
        print(f"ingest + consume of {report.published} events: {consumed_s:.0f} s")

        token = issue_token(settings, subject="fin", roles=["finance", "planner"])
        transport = httpx.ASGITransport(app=host.app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://t",
            timeout=600,
            headers={"Authorization": f"Bearer {token}"},
        ) as http:
            ruleset = app.monthly_ruleset()
            created = await http.post("/v1/rulesets", json=ruleset)
            assert created.status_code == 201, created.text
            version = created.json()["version"]
            customer_run = await run(http, {"dimension": "customer", "ruleset_version": version})
            product_run = await run(http, {"dimension": "product", "ruleset_version": version})
            customers = await all_segments(http, "customer")
            products = await all_segments(http, "product")

        # customers: every known customer except "anonymous", ABC on revenue
        known = sorted(f"src:online-retail:{c}" for c in expected["customers"] if c != "anonymous")
        assert sorted(customers) == known
        revenue = {f"src:online-retail:{c}": v for c, v in expected["revenue"].items() if c != "anonymous"}
        abc = expected_abc(revenue, known)
        wrong_abc = [e for e in known if customers[e]["abc"] != abc[e]]
        assert wrong_abc == [], wrong_abc[:10]
        for entity in known:
            assert abs((customers[entity]["revenue"] or 0.0) - revenue.get(entity, 0.0)) <= 1e-6 * max(
                1.0, abs(revenue.get(entity, 0.0))
            ), entity
        assert customer_run["notes"]["excluded"]["anonymous_customers"] == ["src:online-retail:anonymous"]
        assert customer_run["counts"]["entities"] == len(known)

        # products: every product, XYZ on the 13 monthly buckets 2010-12 .. 2011-12
        assert sorted(products) == sorted(f"src:online-retail:{p}" for p in expected["products"])
        assert product_run["notes"]["buckets"] == len(expected["months"]) == 13
        wrong_xyz = []
        for code in expected["products"]:
            series = [expected["monthly"][code].get(m, 0) for m in expected["months"]]
            if products[f"src:online-retail:{code}"]["xyz"] != expected_xyz(series):
                wrong_xyz.append(code)
        assert wrong_xyz == [], wrong_xyz[:10]
        assert product_run["data_cutoff"].startswith("2011-12-09")
        dead = await producer.read_all(DLQ)
        assert all(b"master-data" not in (r.header("dlq_error") or b"") for r in dead)
    finally:
        await producer.stop()
        await host.stop()
