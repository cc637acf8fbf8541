"""Audit append rate into PostgreSQL: the real ChainWriter (dedup lookup, per-entry seal with RFC 8785
metadata + SHA-256 chain, Merkle frontier, batched INSERT in one transaction per batch, chain-head row lock,
signed tree heads) against a bare COPY-plus-hash loop on the same database in the same run.

Workload: CloudEvents-shaped order records (8 ce_* headers, ~300-byte JSON payload), batches of 500 (the
capture poll size). Baseline: per record ``sha256(payload)`` and ``sha256(prev || orjson(metadata))``, then
asyncpg ``copy_records_to_table`` of the same columns into an unconstrained table. Goal (issue 6): the
writer sustains at least 0.5x the baseline rate. Reads SEGFLOW_TEST_DATABASE_URL (a superuser URL); works in
a fresh database that it drops afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from sqlalchemy.engine import make_url

from bench._common import result, write
from contracts import topics
from services.audit import reader
from services.audit.app import MIGRATIONS
from services.audit.capture import ChainWriter
from services.audit.config import AuditSettings
from services.audit.keys import load_or_create
from services.runtime.bus.base import Record
from services.runtime.db import Database
from services.runtime.migrate import upgrade
from services.runtime.settings import Settings

GOAL_RATIO = 0.5
BATCH = 500


def records(n: int) -> list[Record]:
    out = []
    for seq in range(n):
        order = f"ORD-{seq // 3:08d}"
        when = f"2026-01-{1 + seq % 28:02d}T{seq % 24:02d}:{seq % 60:02d}:00Z"
        payload = json.dumps(
            {"order_id": order, "line": seq % 3 + 1, "sku": f"SKU-{seq % 9973:05d}", "site": "DC-EU-1",
             "qty": {"value": seq % 17 + 1, "unit": "EA"}, "requested_date": when[:10],
             "customer_id": f"CUST-{seq % 4999:05d}", "channel": "B2B", "source": "erp/SAP-EU"},
            separators=(",", ":"),
        ).encode()  # fmt: skip
        headers = (
            ("ce_specversion", b"1.0"),
            ("ce_id", str(uuid.UUID(int=seq + 1)).encode()),
            ("ce_source", b"erp/SAP-EU"),
            ("ce_type", b"segflow.order.line.placed"),
            ("ce_time", when.encode()),
            ("ce_subject", order.encode()),
            ("content-type", b"application/json"),
            ("traceparent", f"00-{seq:032x}-{seq:016x}-01".encode()),
        )
        out.append(
            Record(topics.ERP_ORDERS, seq % 6, seq // 6, order.encode(), payload, headers, 1_767_225_600_000)
        )
    return out


async def _measured(url: str, data_dir: Path, recs: list[Record]) -> tuple[float, dict[str, Any]]:
    settings = Settings(database_url=url, data_dir=data_dir, env="test", jwt_secret="bench-" + "x" * 32)
    audit = AuditSettings(checkpoint_every_n=10_000, checkpoint_every_s=3600)
    db = Database("audit", settings)
    await db.start()
    try:
        await upgrade(db, MIGRATIONS)
        writer = ChainWriter(db, load_or_create(settings, audit), audit)
        t0 = time.perf_counter()
        for i in range(0, len(recs), BATCH):
            await writer.append(recs[i : i + BATCH])
        elapsed = time.perf_counter() - t0
        check = await reader.verify_all(db, writer.signing)
    finally:
        await db.stop()
    return elapsed, check


async def _baseline(dsn: str, recs: list[Record]) -> tuple[float, int]:
    con = await asyncpg.connect(dsn)
    try:
        await con.execute(
            "CREATE TABLE bench_copy (seq bigint, topic text, kafka_partition int, kafka_offset bigint, key text,"
            " headers text, type text, subject text, event_time text, event_id text, payload_sha256 text,"
            " payload bytea, entry_hash bytea)"
        )
        sha256 = hashlib.sha256
        t0 = time.perf_counter()
        prev = bytes(32)
        seq = 0
        for i in range(0, len(recs), BATCH):
            rows = []
            for rec in recs[i : i + BATCH]:
                headers = orjson.dumps([[k, v.hex()] for k, v in rec.headers]).decode()
                digest = sha256(rec.value or b"").hexdigest()
                meta = orjson.dumps([seq, rec.topic, rec.partition, rec.offset, headers, digest])
                prev = sha256(prev + meta).digest()
                rows.append((seq, rec.topic, rec.partition, rec.offset, (rec.key or b"").hex(), headers,
                             "segflow.order.line.placed", None, None, None, digest, rec.value, prev))  # fmt: skip
                seq += 1
            async with con.transaction():
                await con.copy_records_to_table("bench_copy", records=rows)
        elapsed = time.perf_counter() - t0
        count = await con.fetchval("SELECT count(*) FROM bench_copy")
    finally:
        await con.close()
    return elapsed, int(count)


async def _run(n: int, data_dir: Path) -> tuple[float, dict[str, Any], float, int]:
    url = os.environ.get("SEGFLOW_TEST_DATABASE_URL", "").strip()
    if not url:
        raise RuntimeError("SEGFLOW_TEST_DATABASE_URL is not set (a PostgreSQL superuser URL)")
    name = f"segflow_bench_{uuid.uuid4().hex[:12]}"
    admin_dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    db_url = make_url(url).set(database=name).render_as_string(hide_password=False)
    dsn = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        recs = records(n)
        base_s, base_count = await _baseline(dsn, recs)
        meas_s, check = await _measured(db_url, data_dir, recs)
    finally:
        admin = await asyncpg.connect(admin_dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return meas_s, check, base_s, base_count


def run(smoke: bool = False) -> dict[str, Any]:
    import tempfile

    n = 1_000 if smoke else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        meas_s, check, base_s, base_count = asyncio.run(_run(n, Path(tmp)))
    measured_rate = n / meas_s
    baseline_rate = n / base_s
    return result(
        "audit_append",
        workload={
            "records": n,
            "batch": BATCH,
            "payload_bytes_approx": 300,
            "headers": 8,
            "database": "postgresql",
        },
        measured={
            "entries_per_s": measured_rate,
            "seconds": meas_s,
            "verified": check["ok"],
            "entries": check["entries"],
            "tree_heads": check["tree_heads"],
        },
        baseline={
            "entries_per_s": baseline_rate,
            "seconds": base_s,
            "rows": base_count,
            "method": "sha256 chain + asyncpg copy_records_to_table",
        },
        ratio={"append_vs_copy_hash": measured_rate / baseline_rate},
        goal=f"append rate >= {GOAL_RATIO}x the bare COPY-plus-hash rate",
        smoke=smoke,
    )


if __name__ == "__main__":
    print(write(run()))
