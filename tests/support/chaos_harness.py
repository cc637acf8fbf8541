"""The fault suite's harness: a seeded workload, ledger processes to kill, the private parts, a checker.

- ``workload(seed, n)``: master data first (a product upsert per SKU), then ``n`` order lines keyed by
  product (so one product's lines share a partition and their order is defined) interleaved with
  inventory positions, shipments of earlier lines and product updates; deterministic event ids and
  bytes, so a republished record is the same event.
- ``ChaosRun``: one scenario on a fresh database and topic namespace of the PRIVATE PostgreSQL + Kafka
  (scripts/chaosenv.sh): spawn/kill ``tests.support.chaos_ledger`` processes, publish until the broker
  acknowledged, restart the broker or the database through chaosenv.sh, wait until quiet.
- ``check_exactly_once``: the checker. Expected values come from a plain loop over the acknowledged
  inputs, never from the service: totals = sum of quantities per product, one inbox row per event and
  consumer, each product's applied running quantities = the prefix sums of its lines in publish order,
  the latest master version / inventory position per product with no regression, shipped sums, zero
  lag, empty outbox backlog.
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
from contracts.erp import InventoryPosition, OrderLinePlaced, ShipmentLineShipped
from contracts.mdm import ProductUpserted
from contracts.topics import all_topics
from services.runtime.bus.factory import build_bus
from services.runtime.bus.kafka import KafkaBus
from services.runtime.migrate import upgrade
from services.runtime.settings import Settings
from services.runtime.tables import INBOX, OUTBOX
from tests.support import chaos_ledger, ledger
from tests.support.chaos_audit import AuditProcess, check_audit

REPO = Path(__file__).resolve().parents[2]
CHAOSENV = REPO / "scripts" / "chaosenv.sh"
TEST_SECRET = "test-secret-0123456789abcdef0123456789"
ORDER_GROUP, ECHO_GROUP, FACTS_GROUP = "segflow.ledger", "segflow.ledger-echo", "segflow.ledger-facts"
FACT_TOPICS = (topics.MDM_PRODUCTS, topics.WMS_INVENTORY, topics.WMS_SHIPMENTS)
KafkaRecord = tuple[bytes, bytes, list[tuple[str, bytes]]]
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Line:
    n: int
    sku: str
    quantity: float

    @property
    def event_id(self) -> str:
        return deterministic_id("chaos", f"L{self.n}")


@dataclass(frozen=True)
class Fact:
    """A master-data or stock record: ``kind`` product (value = list price), inventory (value = on
    hand) or shipment (value = shipped quantity of order line ``order_n``). ``seq`` is its position in
    the workload: its event time, so a key's records are newer in publish order."""

    seq: int
    kind: str
    sku: str
    value: float
    lifecycle: str = "active"
    order_n: int = -1

    @property
    def event_id(self) -> str:
        return deterministic_id("chaos", f"{self.kind}{self.seq}")

    @property
    def topic(self) -> str:
        return {"product": topics.MDM_PRODUCTS, "inventory": topics.WMS_INVENTORY}.get(
            self.kind, topics.WMS_SHIPMENTS
        )


Item = Line | Fact


def workload(seed: int, count: int, products: int = 12) -> list[Item]:
    """Master data (one product upsert per SKU), then ``count`` order lines over ``products`` SKUs
    (integer quantities 1..30: exact float sums) with an inventory position after every 8th line, a
    shipment of an earlier line after every 6th and a product update after every 40th."""
    rng = random.Random(seed)
    skus = [f"SKU{p:02d}" for p in range(products)]
    items: list[Item] = [
        Fact(i, "product", sku, rng.randint(100, 9900) / 100, "npi") for i, sku in enumerate(skus)
    ]
    lines: list[Line] = []
    for n in range(count):
        lines.append(Line(n, rng.choice(skus), float(rng.randint(1, 30))))
        items.append(lines[-1])
        if n % 8 == 7:
            items.append(Fact(len(items), "inventory", rng.choice(skus), float(rng.randint(0, 500))))
        if n % 6 == 5:
            shipped = rng.choice(lines)
            items.append(Fact(len(items), "shipment", shipped.sku, shipped.quantity, order_n=shipped.n))
        if n % 40 == 39:
            items.append(Fact(len(items), "product", rng.choice(skus), rng.randint(100, 9900) / 100))
    return items


def order_lines(items: Sequence[Item]) -> list[Line]:
    return [item for item in items if isinstance(item, Line)]


def facts(items: Sequence[Item]) -> list[Fact]:
    return [item for item in items if isinstance(item, Fact)]


def fact_record(fact: Fact) -> KafkaRecord:
    """The product upsert / inventory position / shipment line of ``fact``, keyed by its SKU."""
    at = EPOCH + timedelta(seconds=fact.seq)
    payload: ProductUpserted | InventoryPosition | ShipmentLineShipped
    if fact.kind == "product":
        payload = ProductUpserted(
            source="chaos", source_id=fact.sku, name=f"Product {fact.sku}", base_uom="EA",
            uom_conversions={"EA": 1, "CS": 12}, lifecycle=fact.lifecycle, category="chaos",  # type: ignore[arg-type]
            lead_time_days=7, unit_cost=round(fact.value * 0.6, 2), list_price=fact.value, currency="EUR",
            updated_at=at,
        )  # fmt: skip
        subject = fact.sku
    elif fact.kind == "inventory":
        payload = InventoryPosition(sku=fact.sku, site="S1", on_hand=fact.value, unit="EA", as_of=at)
        subject = f"{fact.sku}@S1"
    else:
        payload = ShipmentLineShipped(
            order_id=f"O{fact.order_n}", line_id="1", shipment_id=f"SH{fact.seq}", sku=fact.sku, site="S1",
            quantity=fact.value, unit="EA", carrier="chaos-freight", shipped_at=at,
        )  # fmt: skip
        subject = f"O{fact.order_n}"
    env = new_envelope(
        source="erp/chaos", type=type(payload).EVENT_TYPE, subject=subject, payload=payload,
        id=fact.event_id, time=at,
    )  # fmt: skip
    assert env.data is not None
    return fact.sku.encode(), env.data, to_headers(env)


def record(item: Item) -> tuple[str, KafkaRecord]:
    """(topic, record) of any workload item."""
    return (
        (topics.ERP_ORDERS, order_record(item)) if isinstance(item, Line) else (item.topic, fact_record(item))
    )


def order_record(line: Line) -> KafkaRecord:
    at = EPOCH + timedelta(seconds=line.n)
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


def expected_state(items: Sequence[Item]) -> dict[str, object]:
    """The ledger's state after each item applied once, in publish order, computed with a plain loop
    (the reference): order totals and echoes, the last product version and inventory position per SKU
    (no regressions), shipped sums."""
    totals: dict[str, list[float]] = {}
    products: dict[str, tuple[str, float, int, int]] = {}
    stock: dict[str, tuple[float, int, int]] = {}
    shipped: dict[str, tuple[float, int]] = {}
    for item in items:
        if isinstance(item, Line):
            qty, count = totals.get(item.sku, [0.0, 0])
            totals[item.sku] = [qty + item.quantity, count + 1]
        elif item.kind == "product":
            products[item.sku] = (
                item.lifecycle,
                item.value,
                products.get(item.sku, ("", 0.0, 0, 0))[2] + 1,
                0,
            )
        elif item.kind == "inventory":
            stock[item.sku] = (item.value, stock.get(item.sku, (0.0, 0, 0))[1] + 1, 0)
        else:
            q, c = shipped.get(item.sku, (0.0, 0))
            shipped[item.sku] = (q + item.value, c + 1)
    return {
        "totals": sorted((sku, q, int(c)) for sku, (q, c) in totals.items()),
        "echoes": sorted((sku, "BIG" if q >= 100 else "SMALL", int(c)) for sku, (q, c) in totals.items()),
        "products": sorted((sku, *v) for sku, v in products.items()),
        "stock": sorted((sku, *v) for sku, v in stock.items()),
        "shipped": sorted((sku, *v) for sku, v in shipped.items()),
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
    acked: list[Item] = field(default_factory=list)

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
        self.audit = AuditProcess(self.database_url, self.env, self.log_dir)

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
        await self.audit.create_database()
        self.audit.start()
        await self.audit.wait_ready()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
            await asyncio.to_thread(proc.wait)
        await self.audit.stop()
        with contextlib.suppress(Exception):  # PostgreSQL may be the part a failed scenario left down
            await self.audit.drop_database()
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
    async def publish_acked(
        self, key: bytes, value: bytes, headers: list[tuple[str, bytes]], topic: str = topics.ERP_ORDERS
    ) -> None:
        """Publish until the broker acknowledges (a fresh producer after any failure, e.g. broker down)."""
        while True:
            try:
                await asyncio.wait_for(self.bus.publish(topic, key, value, headers), 15)
                return
            except Exception:  # TimeoutError too: the broker may be down
                old = self.bus
                self.bus = build_bus(self.settings, client_id="chaos-harness")  # type: ignore[assignment]
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(old.stop(), 5)
                await asyncio.sleep(0.5)

    async def publish_items(
        self, items: Sequence[Item], *, pause_every: int = 0, pause_s: float = 0.0
    ) -> None:
        """Publish items one by one, each acknowledged before the next (so per-key order is defined)."""
        for i, item in enumerate(items):
            topic, rec = record(item)
            await self.publish_acked(*rec, topic=topic)
            self.acked.append(item)
            if pause_every and (i + 1) % pause_every == 0:
                await asyncio.sleep(pause_s)

    # --- observation -----------------------------------------------------------------------------
    async def applied_count(self) -> int:
        async with self.observer.db.read() as s:
            return int(
                (await s.execute(select(func.count()).select_from(chaos_ledger.echo_log))).scalar_one()
            )

    async def facts_applied(self) -> int:
        """Master versions + inventory positions + shipment lines the facts consumer has applied."""
        async with self.observer.db.read() as s:
            total = 0
            for col in (
                chaos_ledger.products.c.versions,
                chaos_ledger.stock.c.positions,
                chaos_ledger.shipped.c.lines,
            ):
                total += int((await s.execute(select(func.coalesce(func.sum(col), 0)))).scalar_one())
            return total

    async def lag(self) -> int:
        total = 0
        pairs = [(ORDER_GROUP, topics.ERP_ORDERS), (ECHO_GROUP, topics.SEGMENTS_ASSIGNMENTS)]
        for group, topic in [*pairs, *((FACTS_GROUP, t) for t in FACT_TOPICS)]:
            ends = await self.bus.end_offsets(topic)
            committed = await self.bus.committed(group, topic)
            total += sum(max(0, end - committed.get(p, 0)) for p, end in ends.items())
        return total

    async def backlog(self) -> int:
        async with self.observer.db.read() as s:
            q = select(func.count()).select_from(OUTBOX).where(OUTBOX.c.sent_at.is_(None))
            return int((await s.execute(q)).scalar_one())

    async def wait_quiet(self, what: str = "all work applied, lag zero") -> None:
        """Every acknowledged line echoed and fact applied, outbox drained and all groups' lag zero."""

        async def quiet() -> bool:
            return (
                await self.applied_count() >= len(order_lines(self.acked))
                and await self.facts_applied() >= len(facts(self.acked))
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
            tables = {}
            for name, table in (
                ("products", chaos_ledger.products),
                ("stock", chaos_ledger.stock),
                ("shipped", chaos_ledger.shipped),
            ):
                cols = [c for c in table.c if c.name not in ("updated_at", "as_of")]
                tables[name] = sorted(tuple(r) for r in (await s.execute(select(*cols))).all())
        running: dict[str, list[float]] = defaultdict(list)
        for _eid, sku, qty in rows:
            running[sku].append(qty)
        return {
            **snap,
            **tables,
            "running": dict(running),
            "applied_ids": [r[0] for r in rows],
            "inbox": sorted((r[0], r[1]) for r in inbox),  # sorted: heap order changes with updates
            "outbox_ids": sorted(r[0] for r in outbox),
        }


async def check_exactly_once(run: ChaosRun, items: Sequence[Item]) -> dict[str, object]:
    """Assert every invariant of DESIGN.md section 4 for the acknowledged ``items``; returns the state."""
    await run.wait_quiet()
    got = await run.state()
    want = expected_state(items)
    lines = order_lines(items)
    # every acknowledged input has exactly one effect (and master data / stock in per-key order)
    assert got["totals"] == want["totals"], "ledger totals differ from the sum of acknowledged inputs"
    assert got["echoes"] == want["echoes"], "assignment counts differ from one per input"
    for name in ("products", "stock", "shipped"):
        assert got[name] == want[name], f"{name} differ from the acknowledged master data / stock records"
    # no event id applied twice: one inbox row per (consumer, event), one outbox row per order line
    inbox = got["inbox"]
    assert isinstance(inbox, list)
    order_ids = sorted(eid for c, eid in inbox if c == "ledger")
    assert order_ids == sorted(line.event_id for line in lines)
    assert len([1 for c, _ in inbox if c == "ledger-echo"]) == len(lines)
    assert sorted(eid for c, eid in inbox if c == "ledger-facts") == sorted(f.event_id for f in facts(items))
    applied_ids = got["applied_ids"]
    assert isinstance(applied_ids, list)
    assert len(applied_ids) == len(set(applied_ids)) == len(lines), "an assignment was applied twice"
    assert sorted(got["outbox_ids"]) == sorted(f"{line.event_id}-assigned" for line in lines)  # type: ignore[arg-type]
    # per-key order: each product's running quantities were applied as the prefix sums in publish order
    assert got["running"] == expected_running(lines), "per-product order of applied assignments broken"
    # consumer lag back to zero and nothing left in the outbox
    assert await run.lag() == 0
    assert await run.backlog() == 0
    # the real audit service captured all of it once, and its chain verifies
    inputs = {line.event_id for line in lines} | {fact.event_id for fact in facts(items)}
    await check_audit(run.audit, run.bus, inputs | {f"{line.event_id}-assigned" for line in lines})
    return got
