"""The REAL audit service beside the chaos ledger: one ``segflow run audit`` process per scenario, on its
own database, captures every topic of the scenario's namespace while the faults strike it too (broker
killed, PostgreSQL restarted). After each scenario the checker asserts, against the audit log itself:

- every acknowledged input and every assignment the ledger emitted was captured;
- no event id is stored twice (a relay that re-publishes after a crash, a replay, a rebalance: all
  deduplicated by the audit's own key);
- ``segflow audit verify`` re-checks the whole hash chain, every tree head and signature, and passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from contracts.topics import DLQ, all_topics
from services.audit.capture import GROUP as AUDIT_GROUP
from services.runtime.bus.kafka import KafkaBus
from tests.support.dsn import asyncpg_dsn as _dsn

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class AuditProcess:
    """A real audit service process of one scenario (``env``: the scenario's SEGFLOW_* settings)."""

    ledger_database_url: str
    env: dict[str, str]
    log_dir: Path
    name: str = field(default_factory=lambda: f"segflow_chaos_audit_{uuid.uuid4().hex[:12]}")
    proc: subprocess.Popen[bytes] | None = None
    port: int = field(default_factory=_free_port)

    @property
    def database_url(self) -> str:
        return (
            make_url(self.ledger_database_url).set(database=self.name).render_as_string(hide_password=False)
        )

    @property
    def audit_env(self) -> dict[str, str]:
        return {
            **self.env,
            "SEGFLOW_DATABASE_URL": self.database_url,
            "SEGFLOW_DATA_DIR": str(self.log_dir / "audit-data"),
            "SEGFLOW_AUDIT_CHECKPOINT_EVERY_N": "64",  # several signed tree heads per scenario
            "SEGFLOW_AUDIT_CHECKPOINT_EVERY_S": "2",
        }

    async def create_database(self) -> None:
        conn = await asyncpg.connect(_dsn(self.ledger_database_url))
        try:
            await conn.execute(f'CREATE DATABASE "{self.name}"')
        finally:
            await conn.close()

    async def drop_database(self) -> None:
        conn = await asyncpg.connect(_dsn(self.ledger_database_url))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            await conn.close()

    def start(self) -> None:
        """Start ``segflow run audit`` (it migrates its schema, then captures from the earliest offset)."""
        logfile = open(self.log_dir / "audit.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "run", "audit", "--port", str(self.port)],
            cwd=REPO,
            env=self.audit_env,
            stdout=logfile,
            stderr=subprocess.STDOUT,
        )
        logfile.close()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            await asyncio.to_thread(self.proc.wait)

    async def wait_ready(self, timeout: float = 120.0) -> None:
        """Until /readyz answers 200 (schema migrated, consuming): the faults must strike a running service,
        not one still starting (a service that cannot reach its parts at start exits, as it should)."""
        deadline = asyncio.get_running_loop().time() + timeout
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=2.0) as client:
            while True:
                assert self.alive(), f"the audit service exited while starting\n{self.log_tail()}"
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/readyz")).status_code == 200:
                        return
                assert asyncio.get_running_loop().time() < deadline, f"audit not ready\n{self.log_tail()}"
                await asyncio.sleep(0.25)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def lag(self, bus: KafkaBus) -> int:
        """Records on the namespace's catalog topics the audit group has not committed yet."""
        total = 0
        for spec in all_topics():
            ends = await bus.end_offsets(spec.name)
            committed = await bus.committed(AUDIT_GROUP, spec.name)
            total += sum(max(0, end - committed.get(p, 0)) for p, end in ends.items())
        return total

    async def event_ids(self) -> list[tuple[str, str]]:
        """(topic, event id) of every captured entry that has an id, in sequence order (duplicates kept)."""
        try:
            conn = await asyncpg.connect(_dsn(self.database_url))
        except (OSError, asyncpg.PostgresError):  # database not created by the service yet / restarting
            return []
        try:
            if not await conn.fetchval("SELECT to_regclass('audit.audit_entries') IS NOT NULL"):
                return []
            rows = await conn.fetch(
                "SELECT topic, event_id FROM audit.audit_entries WHERE event_id IS NOT NULL ORDER BY seq"
            )
        finally:
            await conn.close()
        return [(r["topic"], r["event_id"]) for r in rows]

    async def verify(self) -> dict[str, object]:
        """Run ``segflow audit verify`` against the audit database; its JSON result (ok, size, ...)."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.cli", "audit", "verify",
            cwd=REPO, env={**os.environ, **self.audit_env},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
        assert proc.returncode == 0, (
            f"segflow audit verify failed ({proc.returncode}): {err.decode()[-2000:]}"
        )
        result: dict[str, object] = json.loads(out)
        return result

    def log_tail(self) -> str:
        path = self.log_dir / "audit.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


async def check_audit(
    audit: AuditProcess, bus: KafkaBus, expected_ids: set[str], *, timeout: float = 180.0
) -> None:
    """The audit invariants after a scenario: everything ``expected_ids`` names was captured, the audit
    group has no lag, no event id is stored twice and ``segflow audit verify`` passes over all entries."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        assert audit.alive(), f"the audit service exited\n{audit.log_tail()}"
        ids = await audit.event_ids()
        captured = {event_id for _topic, event_id in ids}
        if expected_ids <= captured and await audit.lag(bus) == 0:
            break
        if loop.time() > deadline:
            missing = sorted(expected_ids - captured)
            raise AssertionError(
                f"audit did not capture {len(missing)} events (e.g. {missing[:3]}) within {timeout} s\n"
                f"{audit.log_tail()}"
            )
        await asyncio.sleep(0.5)
    # one entry per (topic, event id); the DLQ is exempt: each rejection of an event is a fact of its own
    events = [pair for pair in ids if pair[0] != DLQ]
    duplicates = sorted({pair for pair in events if events.count(pair) > 1})
    assert not duplicates, f"event ids stored twice in the audit log: {duplicates[:5]}"
    verified = await audit.verify()
    assert verified["ok"] is True, verified
    assert verified["entries"] == len(ids) + await _entries_without_id(audit), verified
    heads = verified["tree_heads"]
    assert isinstance(heads, int) and heads >= 1, verified  # signed tree heads were checked too
    assert await audit.lag(bus) == 0


async def _entries_without_id(audit: AuditProcess) -> int:
    conn = await asyncpg.connect(_dsn(audit.database_url))
    try:
        return int(await conn.fetchval("SELECT count(*) FROM audit.audit_entries WHERE event_id IS NULL"))
    finally:
        await conn.close()
