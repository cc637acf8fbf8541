"""The fault suite's harness: a seeded workload, ledger processes to kill, the private parts, a checker.

- ``workload(seed, n)``: order lines keyed by product (so one product's lines share a partition and
  their order is defined); deterministic event ids, so a republished line is the same event.
- ``ChaosRun``: one scenario on a fresh database and topic namespace of the PRIVATE PostgreSQL + Kafka
  (scripts/chaosenv.sh): spawn/kill ``tests.support.chaos_ledger`` processes, publish until the broker
  acknowledged, restart the broker or the database through chaosenv.sh, wait until quiet.
- ``check_exactly_once``: the checker. Expected values come from a plain loop over the acknowledged
  inputs, never from the service: totals = sum of quantities per product, one inbox row per event and
  consumer, each product's applied running quantities = the prefix sums of its lines in publish order,
  zero lag, empty outbox backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from contracts import topics
from contracts.envelope import deterministic_id, new_envelope, to_headers
from contracts.erp import OrderLinePlaced
from contracts.topics import all_topics
from services.runtime.bus.factory import build_bus
from services.runtime.bus.kafka import KafkaBus
from services.runtime.migrate import upgrade
from services.runtime.settings import Settings
from services.runtime.tables import INBOX, OUTBOX
from tests.support import chaos_ledger, ledger

REPO = Path(__file__).resolve().parents[2]
CHAOSENV = REPO / "scripts" / "chaosenv.sh"
TEST_SECRET = "test-secret-0123456789abcdef0123456789"
ORDER_GROUP, ECHO_GROUP = "segflow.ledger", "segflow.ledger-echo"
KafkaRecord = tuple[bytes, bytes, list[tuple[str, bytes]]]


@dataclass(frozen=True)
class Line:
    n: int
    sku: str
    quantity: float

    @property
    def event_id(self) -> str:
        return deterministic_id("chaos", f"L{self.n}")


def workload(seed: int, count: int, products: int = 12) -> list[Line]:
    """``count`` order lines over ``products`` SKUs, integer quantities 1..30 (exact float sums)."""
    rng = random.Random(seed)
    return [Line(n, f"SKU{rng.randrange(products):02d}", float(rng.randint(1, 30))) for n in range(count)]


def order_record(line: Line) -> KafkaRecord:
    at = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=line.n)
    ev = OrderLinePlaced(
        order_id=f"O{line.n}",
        line_id="1",
        customer_id="C1",
        customer_source="chaos",
        sku=line.sku,
        site="S1",
        quantity=line.quantity,
        unit="EA",
        unit_price=2.0,
        currency="EUR",
        requested_date=at.date(),
        ordered_at=at,
    )
    env = new_envelope(
        source="erp/chaos",
        type="segflow.order.line.placed",
        subject=f"O{line.n}",
        payload=ev,
        id=line.event_id,
        time=at,
    )
    assert env.data is not None
    return line.sku.encode(), env.data, to_headers(env)


def poison_records(sku: str, n: int) -> list[KafkaRecord]:
    """Three records the consumer can never process: bytes that are no JSON, a schema violation
    (quantity is text) and a record without CloudEvents headers. Same key as ``sku``'s good lines."""
    key, value, headers = order_record(Line(n, sku, 5.0))
    bad_id = [(k, v) if k != "ce_id" else (k, f"poison-{n}".encode()) for k, v in headers]
    return [
        (key, b"\x00not json at all", bad_id),
        (key, value.replace(b'"quantity":5.0', b'"quantity":"five"'), bad_id),
        (key, value, [("content-type", b"application/json")]),
    ]


def expected_state(lines: Sequence[Line]) -> dict[str, object]:
    """The ledger's state after each line applied once, computed with a plain loop (the reference)."""
    totals: dict[str, list[float]] = {}
    for line in lines:
        qty, count = totals.get(line.sku, [0.0, 0])
        totals[line.sku] = [qty + line.quantity, count + 1]
    return {
        "totals": sorted((sku, q, int(c)) for sku, (q, c) in totals.items()),
        "echoes": sorted((sku, "BIG" if q >= 100 else "SMALL", int(c)) for sku, (q, c) in totals.items()),
    }


def expected_running(lines: Sequence[Line]) -> dict[str, list[float]]:
    """Per product, the running totals in publish order (what the echo consumer must apply, in order)."""
    out: dict[str, list[float]] = defaultdict(list)
    for line in lines:
        prev = out[line.sku][-1] if out[line.sku] else 0.0
        out[line.sku].append(prev + line.quantity)
    return dict(out)


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float = 180.0, what: str) -> None:
    """Poll until ``check`` holds (a generous deadline, never a performance limit)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        await asyncio.sleep(0.25)


async def chaosenv(*args: str) -> None:
    """Run scripts/chaosenv.sh (kill-kafka, start-kafka, stop-pg, start-pg) on the PRIVATE parts."""
    proc = await asyncio.create_subprocess_exec(str(CHAOSENV), *args, cwd=REPO)
    assert await proc.wait() == 0, f"chaosenv.sh {' '.join(args)} failed"


@dataclass
class ChaosRun:
    """One scenario: a fresh database + topic namespace, ledger processes, a publisher, the checker."""

    database_url: str
    kafka_bootstrap: str
    namespace: str
    log_dir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    acked: list[Line] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.settings = Settings(
            mode="distributed",
            env="test",
            jwt_secret=TEST_SECRET,
            database_url=self.database_url,
            kafka_bootstrap=self.kafka_bootstrap,
            topic_namespace=self.namespace,
            topic_partitions=3,
        )
        self.observer = ledger.build(self.settings)  # reads state; never consumes
        self.bus: KafkaBus = build_bus(self.settings, client_id="chaos-harness")  # type: ignore[assignment]

    @property
    def env(self) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("SEGFLOW_FAULT")},
            "SEGFLOW_MODE": "distributed",
            "SEGFLOW_ENV": "test",
            "SEGFLOW_JWT_SECRET": TEST_SECRET,
            "SEGFLOW_DATABASE_URL": self.database_url,
            "SEGFLOW_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "SEGFLOW_TOPIC_NAMESPACE": self.namespace,
            "SEGFLOW_TOPIC_PARTITIONS": "3",
            "SEGFLOW_LOG_LEVEL": "WARNING",
        }

    async def __aenter__(self) -> ChaosRun:
        await self.observer.db.start()
        await upgrade(self.observer.db, ledger.MIGRATIONS)
        await chaos_ledger.create_log_table(self.observer.db)
        await self.bus.start()
        await self.bus.ensure_topics(all_topics())
        return self

    async def __aexit__(self, *exc: object) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
            await asyncio.to_thread(proc.wait)
        await self.bus.stop()
        await self.observer.db.stop()

    # --- processes -------------------------------------------------------------------------------
    def spawn(self, **extra_env: str) -> subprocess.Popen[bytes]:
        """Start one ledger process (a consumer-group member); ``extra_env`` e.g. a fault point."""
        logfile = open(self.log_dir / f"ledger-{len(self.processes)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.chaos_ledger"],
            cwd=REPO,
            env={**self.env, **extra_env},
            stdout=logfile,
            stderr=subprocess.STDOUT,
        )
        logfile.close()
        self.processes.append(proc)
        return proc

    async def start(self, **extra_env: str) -> subprocess.Popen[bytes]:
        """Spawn a ledger process and wait until it has started its consumers (its log says so)."""
        proc = self.spawn(**extra_env)
        logfile = self.log_dir / f"ledger-{len(self.processes) - 1}.log"

        async def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"ledger exited with {proc.returncode} while starting\n{self.logs()}")
            return b"chaos ledger ready" in logfile.read_bytes()

        await eventually(ready, what="ledger process ready")
        return proc

    async def wait_exit(self, proc: subprocess.Popen[bytes]) -> int:
        return await asyncio.to_thread(proc.wait)

    async def terminate(self, proc: subprocess.Popen[bytes]) -> int:
        proc.send_signal(signal.SIGTERM)
        return await self.wait_exit(proc)

    async def stop_all(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                await self.terminate(proc)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.log_dir.glob("*.log"))
        )

    # --- publishing ------------------------------------------------------------------------------
    async def publish_acked(self, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        """Publish until the broker acknowledges (a fresh producer after any failure, e.g. broker down)."""
        while True:
            try:
                await asyncio.wait_for(self.bus.publish(topics.ERP_ORDERS, key, value, headers), 15)
                return
            except Exception:  # TimeoutError too: the broker may be down
                old = self.bus
                self.bus = build_bus(self.settings, client_id="chaos-harness")  # type: ignore[assignment]
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(old.stop(), 5)
                await asyncio.sleep(0.5)

    async def publish_lines(
        self, lines: Sequence[Line], *, pause_every: int = 0, pause_s: float = 0.0
    ) -> None:
        """Publish lines one by one, each acknowledged before the next (so per-key order is defined)."""
        for i, line in enumerate(lines):
            await self.publish_acked(*order_record(line))
            self.acked.append(line)
            if pause_every and (i + 1) % pause_every == 0:
                await asyncio.sleep(pause_s)

    # --- observation -----------------------------------------------------------------------------
    async def applied_count(self) -> int:
        async with self.observer.db.read() as s:
            return int(
                (await s.execute(select(func.count()).select_from(chaos_ledger.echo_log))).scalar_one()
            )

    async def lag(self) -> int:
        total = 0
        for group, topic in ((ORDER_GROUP, topics.ERP_ORDERS), (ECHO_GROUP, topics.SEGMENTS_ASSIGNMENTS)):
            ends = await self.bus.end_offsets(topic)
            committed = await self.bus.committed(group, topic)
            total += sum(max(0, end - committed.get(p, 0)) for p, end in ends.items())
        return total

    async def backlog(self) -> int:
        async with self.observer.db.read() as s:
            q = select(func.count()).select_from(OUTBOX).where(OUTBOX.c.sent_at.is_(None))
            return int((await s.execute(q)).scalar_one())

    async def wait_quiet(self, what: str = "all work applied, lag zero") -> None:
        """Every acknowledged line echoed, outbox drained and both groups' lag back to zero."""

        async def quiet() -> bool:
            return (
                await self.applied_count() >= len(self.acked)
                and await self.backlog() == 0
                and await self.lag() == 0
            )

        try:
            await eventually(quiet, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.logs()}") from None

    async def state(self) -> dict[str, object]:
        snap = await ledger.snapshot(self.observer)
        async with self.observer.db.read() as s:
            rows = (
                await s.execute(
                    select(
                        chaos_ledger.echo_log.c.event_id,
                        chaos_ledger.echo_log.c.entity_id,
                        chaos_ledger.echo_log.c.running_quantity,
                    ).order_by(chaos_ledger.echo_log.c.seq)
                )
            ).all()
            inbox = (await s.execute(select(INBOX.c.consumer, INBOX.c.event_id))).all()
            outbox = (await s.execute(select(OUTBOX.c.id))).all()
        running: dict[str, list[float]] = defaultdict(list)
        for _eid, sku, qty in rows:
            running[sku].append(qty)
        return {
            **snap,
            "running": dict(running),
            "applied_ids": [r[0] for r in rows],
            "inbox": [(r[0], r[1]) for r in inbox],
            "outbox_ids": [r[0] for r in outbox],
        }


async def check_exactly_once(run: ChaosRun, lines: Sequence[Line]) -> dict[str, object]:
    """Assert every invariant of DESIGN.md section 4 for the acknowledged ``lines``; returns the state."""
    await run.wait_quiet()
    got = await run.state()
    want = expected_state(lines)
    # every acknowledged input has exactly one effect
    assert got["totals"] == want["totals"], "ledger totals differ from the sum of acknowledged inputs"
    assert got["echoes"] == want["echoes"], "assignment counts differ from one per input"
    # no event id applied twice: one inbox row per (consumer, event), one outbox row per order line
    inbox = got["inbox"]
    assert isinstance(inbox, list)
    order_ids = sorted(eid for c, eid in inbox if c == "ledger")
    assert order_ids == sorted(line.event_id for line in lines)
    assert len([1 for c, _ in inbox if c == "ledger-echo"]) == len(lines)
    applied_ids = got["applied_ids"]
    assert isinstance(applied_ids, list)
    assert len(applied_ids) == len(set(applied_ids)) == len(lines), "an assignment was applied twice"
    assert sorted(got["outbox_ids"]) == sorted(f"{line.event_id}-assigned" for line in lines)  # type: ignore[arg-type]
    # per-key order: each product's running quantities were applied as the prefix sums in publish order
    assert got["running"] == expected_running(lines), "per-product order of applied assignments broken"
    # consumer lag back to zero and nothing left in the outbox
    assert await run.lag() == 0
    assert await run.backlog() == 0
    return got
