"""Audit append rate into PostgreSQL: the real ChainWriter (dedup lookup, per-entry seal with RFC 8785
metadata + SHA-256 chain, Merkle frontier, batched INSERT in one transaction per batch, chain-head row lock,
signed tree heads) against a bare COPY-plus-hash loop on the same database in the same run. The writer's
per-record drafting and sealing run compiled (``segflow_native``, native/); the baseline is the plain
Python loop below, as the goal defines it.

Workload: CloudEvents-shaped order records (8 ce_* headers, ~300-byte JSON payload), batches of 2000 (the
capture poll size), fed through the capture loop's ``WritePipeline`` (the next batch is sealed while the
current one commits). Baseline: per record ``sha256(payload)`` and ``sha256(prev || orjson(metadata))``,
then asyncpg ``copy_records_to_table`` of the same columns into an unconstrained table, one transaction per
batch. The machine is shared, so baseline and writer run interleaved ``ROUNDS`` times (each in a fresh
database) and each side reports its best round. Goal (issue 6): the writer sustains at least 0.5x the
baseline rate. Reads SEGFLOW_TEST_DATABASE_URL (a superuser URL); drops the databases it creates.

Load-independent costs are reported too: Python CPU per record (``time.process_time`` over the append loop)
and, when the PostgreSQL backends are local processes (``/proc/<pid>/stat`` readable), their CPU per record;
each side's minimum over the rounds.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from sqlalchemy.engine import make_url

from bench._common import result, write
from contracts import topics
from services.audit import reader
from services.audit.app import MIGRATIONS
from services.audit.capture import ChainWriter, WritePipeline
from services.audit.config import AuditSettings
from services.audit.keys import load_or_create
from services.runtime.bus.base import Record
from services.runtime.db import Database
from services.runtime.migrate import upgrade
from services.runtime.settings import Settings
from tests.support.dsn import asyncpg_dsn as _dsn

GOAL_RATIO = 0.5
BATCH = 2000
ROUNDS = 5


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


_TICK = os.sysconf("SC_CLK_TCK")


async def _backend_ticks(admin: asyncpg.Connection, database: str) -> dict[int, int] | None:
    """CPU clock ticks (user + system) of every backend connected to ``database``; None when unreadable."""
    pids = [
        pid for (pid,) in await admin.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", database)
    ]
    return _process_ticks(pids)


def _process_ticks(pids: list[int]) -> dict[int, int] | None:
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        out[pid] = int(fields[11]) + int(fields[12])  # utime + stime
    return out


class _Costs:
    """Python CPU and PostgreSQL backend CPU spent between ``start`` and ``stop`` (seconds)."""

    def __init__(self, admin: asyncpg.Connection, database: str) -> None:
        self.admin, self.database = admin, database
        self.python = 0.0
        self.postgres: float | None = None

    async def start(self) -> None:
        self._pg0 = await _backend_ticks(self.admin, self.database)
        self._py0 = time.process_time()

    async def stop(self) -> None:
        self.python = time.process_time() - self._py0
        pg1 = await _backend_ticks(self.admin, self.database)
        if self._pg0 is not None and pg1 is not None:
            self.postgres = sum(t - self._pg0.get(pid, 0) for pid, t in pg1.items()) / _TICK


async def _measured(
    url: str, data_dir: Path, recs: list[Record], costs: _Costs
) -> tuple[float, dict[str, Any]]:
    settings = Settings(database_url=url, data_dir=data_dir, env="test", jwt_secret="bench-" + "x" * 32)
    audit = AuditSettings(checkpoint_every_n=10_000, checkpoint_every_s=3600)
    db = Database("audit", settings)
    await db.start()
    try:
        await upgrade(db, MIGRATIONS)
        writer = ChainWriter(db, load_or_create(settings, audit), audit)
        pipeline = WritePipeline(writer)
        await costs.start()
        t0 = time.perf_counter()
        for i in range(0, len(recs), BATCH):
            await pipeline.push(recs[i : i + BATCH])
        await pipeline.flush()
        elapsed = time.perf_counter() - t0
        await costs.stop()
        check = await reader.verify_all(db, writer.signing)
    finally:
        await db.stop()
    return elapsed, check


async def _baseline(dsn: str, recs: list[Record], costs: _Costs) -> tuple[float, int]:
    con = await asyncpg.connect(dsn)
    try:
        await con.execute(
            "CREATE TABLE bench_copy (seq bigint, topic text, kafka_partition int, kafka_offset bigint, key text,"
            " headers text, type text, subject text, event_time text, event_id text, payload_sha256 text,"
            " payload bytea, entry_hash bytea)"
        )
        sha256 = hashlib.sha256
        await costs.start()
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
        await costs.stop()
        count = await con.fetchval("SELECT count(*) FROM bench_copy")
    finally:
        await con.close()
    return elapsed, int(count)


async def _fresh_database(url: str) -> tuple[str, str]:
    """(SQLAlchemy URL, asyncpg DSN) of a new database."""
    name = f"segflow_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_dsn(url))
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    db_url = make_url(url).set(database=name).render_as_string(hide_password=False)
    return db_url, _dsn(db_url)


async def _drop(url: str, db_url: str) -> None:
    admin = await asyncpg.connect(_dsn(url))
    await admin.execute(f'DROP DATABASE IF EXISTS "{make_url(db_url).database}" WITH (FORCE)')
    await admin.close()


@dataclass
class _Outcome:
    meas_s: float = float("inf")
    base_s: float = float("inf")
    check: dict[str, Any] = field(default_factory=dict)
    base_count: int = 0
    round_ratios: list[float] = field(default_factory=list)
    cpu_us: dict[str, list[float | None]] = field(
        default_factory=dict
    )  # "<side>_<python|postgres>" per round


async def _run(n: int, data_dir: Path, rounds: int) -> _Outcome:
    url = os.environ.get("SEGFLOW_TEST_DATABASE_URL", "").strip()
    if not url:
        raise RuntimeError("SEGFLOW_TEST_DATABASE_URL is not set (a PostgreSQL superuser URL)")
    recs = records(n)
    out = _Outcome()
    admin = await asyncpg.connect(_dsn(url))
    try:
        for r in range(rounds):  # interleaved (order alternating): both sides see the same machine load
            db_url, dsn = await _fresh_database(url)
            database = str(make_url(db_url).database)
            meas_costs, base_costs = _Costs(admin, database), _Costs(admin, database)
            try:
                round_dir = data_dir / f"round{r}"
                round_dir.mkdir(parents=True, exist_ok=True)
                if r % 2:
                    meas_s, check = await _measured(db_url, round_dir, recs, meas_costs)
                    base_s, base_count = await _baseline(dsn, recs, base_costs)
                else:
                    base_s, base_count = await _baseline(dsn, recs, base_costs)
                    meas_s, check = await _measured(db_url, round_dir, recs, meas_costs)
            finally:
                await _drop(url, db_url)
            if not check["ok"] or check["entries"] != n:
                raise AssertionError(f"the appended chain does not verify: {check}")
            out.check, out.base_count = check, base_count
            out.meas_s, out.base_s = min(out.meas_s, meas_s), min(out.base_s, base_s)
            out.round_ratios.append(base_s / meas_s)
            for side, costs in (("writer", meas_costs), ("baseline", base_costs)):
                out.cpu_us.setdefault(f"{side}_python", []).append(costs.python / n * 1e6)
                pg = None if costs.postgres is None else costs.postgres / n * 1e6
                out.cpu_us.setdefault(f"{side}_postgres", []).append(pg)
    finally:
        await admin.close()
    return out


def _least(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(min(known), 2) if known else None


def run(smoke: bool = False) -> dict[str, Any]:
    import tempfile

    n = 1_000 if smoke else 100_000
    rounds = 1 if smoke else ROUNDS
    with tempfile.TemporaryDirectory() as tmp:
        out = asyncio.run(_run(n, Path(tmp), rounds))
    measured_rate = n / out.meas_s
    baseline_rate = n / out.base_s
    cpu = {key: _least(values) for key, values in out.cpu_us.items()}
    return result(
        "audit_append",
        workload={
            "records": n,
            "batch": BATCH,
            "rounds_interleaved": rounds,
            "pipelined": True,
            "payload_bytes_approx": 300,
            "headers": 8,
            "database": "postgresql",
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
            "notes": "the machine is shared: writer and baseline run interleaved in every round (order "
            "alternating, each in a fresh database) and each side reports its best round; the per-round "
            "ratios are listed under measured. CPU microseconds per record (the least over the rounds; Python "
            "= this process's time.process_time over the append loop, postgres = the database's backends "
            "from /proc, null when not readable) do not depend on the machine's load",
        },
        measured={
            "entries_per_s": measured_rate,
            "seconds": out.meas_s,
            "verified": out.check["ok"],
            "entries": out.check["entries"],
            "tree_heads": out.check["tree_heads"],
            "per_round_ratios": [round(x, 3) for x in out.round_ratios],
            "python_cpu_us_per_record": cpu["writer_python"],
            "postgres_cpu_us_per_record": cpu["writer_postgres"],
        },
        baseline={
            "entries_per_s": baseline_rate,
            "seconds": out.base_s,
            "rows": out.base_count,
            "method": "sha256 chain + asyncpg copy_records_to_table (best of the interleaved rounds)",
            "python_cpu_us_per_record": cpu["baseline_python"],
            "postgres_cpu_us_per_record": cpu["baseline_postgres"],
        },
        ratio={"append_vs_copy_hash": measured_rate / baseline_rate},
        goal=f"append rate >= {GOAL_RATIO}x the bare COPY-plus-hash rate",
        smoke=smoke,
    )


if __name__ == "__main__":
    print(write(run()))
