"""Exactly-once effects under faults, on the real broker and database (DESIGN.md section 4).

Each scenario runs the seeded workload through ``tests.support.chaos_ledger`` processes while one
fault strikes, then ``check_exactly_once`` asserts against a plain-Python reference: every acknowledged
order line, product upsert, inventory position and shipment has exactly one effect, no event id applied
twice, per-product order kept, lag back to zero, outbox drained; and the state equals that of a
fault-free run of the same workload. A real audit service process (``segflow run audit``) captures the
scenario's topics through the same fault: no event id stored twice, every input and emitted assignment
captured, and ``segflow audit verify`` passes (tests/support/chaos_audit.py).
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from contracts import topics
from tests.support.chaos_harness import (
    ECHO_GROUP,
    FACT_TOPICS,
    FACTS_GROUP,
    ORDER_GROUP,
    ChaosRun,
    Fact,
    Line,
    chaosenv,
    check_exactly_once,
    eventually,
    facts,
    order_lines,
    order_record,
    poison_records,
    record,
    workload,
)

EVENT_TYPE_OF = {
    "product": "segflow.product.upserted",
    "inventory": "segflow.inventory.position",
    "shipment": "segflow.shipment.line.shipped",
}

LINES = workload(seed=20241125, count=240)  # orders interleaved with master data, stock and shipments
ORDERS = order_lines(LINES)
KILLED = -signal.SIGKILL
_fault_free: dict[str, object] = {}


def comparable(state: dict[str, object]) -> dict[str, object]:
    return {k: state[k] for k in ("totals", "echoes", "running", "products", "stock", "shipped")}


async def fault_free_state(database_url: str, kafka_bootstrap: str, tmp_path: Path) -> dict[str, object]:
    """The state after a fault-free run of LINES (computed once per session, on its own database)."""
    if not _fault_free:
        name = f"segflow_chaos_ref_{uuid.uuid4().hex[:12]}"
        admin_dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(admin_dsn)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
        (tmp_path / "reference").mkdir()
        async with ChaosRun(
            url, kafka_bootstrap, f"ref{uuid.uuid4().hex[:8]}.", tmp_path / "reference"
        ) as run:
            await run.publish_items(LINES)
            run.spawn()
            _fault_free.update(comparable(await check_exactly_once(run, LINES)))
            await run.stop_all()
        conn = await asyncpg.connect(admin_dsn)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
    return dict(_fault_free)


async def assert_like_fault_free(run: ChaosRun, state: dict[str, object], tmp_path: Path) -> None:
    assert comparable(state) == await fault_free_state(run.database_url, run.kafka_bootstrap, tmp_path)


async def test_fault_free_run_matches_the_independent_reference(chaos_run: ChaosRun, tmp_path: Path) -> None:
    async with chaos_run as run:
        await run.publish_items(LINES)
        run.spawn()
        state = await check_exactly_once(run, LINES)
        await run.stop_all()
    assert all(p.returncode == 0 for p in run.processes)
    await assert_like_fault_free(run, state, tmp_path)


async def test_consumer_killed_after_db_commit_before_offset_commit(
    chaos_run: ChaosRun, tmp_path: Path
) -> None:
    async with chaos_run as run:
        await run.publish_items(LINES)
        for after in ("40", "90"):
            crashing = run.spawn(SEGFLOW_FAULT_POINT="consumer_after_db_commit", SEGFLOW_FAULT_AFTER=after)
            assert await run.wait_exit(crashing) == KILLED, run.logs()
            assert await run.lag() > 0  # it died with work (and an uncommitted offset) left
        run.spawn()
        state = await check_exactly_once(run, LINES)
        await run.stop_all()
    await assert_like_fault_free(run, state, tmp_path)


async def test_consumer_killed_mid_batch(chaos_run: ChaosRun, tmp_path: Path) -> None:
    async with chaos_run as run:
        await run.publish_items(LINES)
        crashing = run.spawn(
            LEDGER_TXN_BATCH="16", SEGFLOW_FAULT_POINT="consumer_mid_batch", SEGFLOW_FAULT_AFTER="3"
        )
        assert await run.wait_exit(crashing) == KILLED, run.logs()
        assert await run.lag() > 0
        run.spawn(LEDGER_TXN_BATCH="16")
        state = await check_exactly_once(run, LINES)
        await run.stop_all()
    await assert_like_fault_free(run, state, tmp_path)


async def test_relay_killed_after_broker_ack_before_marking_sent(chaos_run: ChaosRun, tmp_path: Path) -> None:
    async with chaos_run as run:
        await run.publish_items(LINES)
        crashing = run.spawn(SEGFLOW_FAULT_POINT="relay_after_ack", SEGFLOW_FAULT_AFTER="2")
        assert await run.wait_exit(crashing) == KILLED, run.logs()
        assert await run.backlog() > 0  # published rows still unmarked: they will be published again
        run.spawn()
        state = await check_exactly_once(run, LINES)
        await run.stop_all()
        # the republished assignments really are on the broker twice; the inbox made them no-ops
        on_broker = await run.bus.read_all(topics.SEGMENTS_ASSIGNMENTS)
        assert len(on_broker) > len(ORDERS)
        assert len({r.header("ce_id") for r in on_broker}) == len(ORDERS)
    await assert_like_fault_free(run, state, tmp_path)


async def test_broker_killed_and_restarted_while_producing(chaos_run: ChaosRun, tmp_path: Path) -> None:
    async with chaos_run as run:
        await run.start()
        publishing = asyncio.create_task(run.publish_items(LINES, pause_every=10, pause_s=0.05))
        await eventually(lambda: _at_least(run, 80), what="80 lines acknowledged")
        await chaosenv("kill-kafka")
        await asyncio.sleep(1.0)
        await chaosenv("start-kafka")
        await publishing
        state = await check_exactly_once(run, LINES)
        await run.stop_all()
    await assert_like_fault_free(run, state, tmp_path)


async def test_postgres_stopped_and_restarted_while_consuming(chaos_run: ChaosRun, tmp_path: Path) -> None:
    async with chaos_run as run:
        await run.start()
        publishing = asyncio.create_task(run.publish_items(LINES, pause_every=10, pause_s=0.05))
        await eventually(lambda: _at_least(run, 80), what="80 lines acknowledged")
        await chaosenv("stop-pg", "immediate")
        await asyncio.sleep(2.0)
        await chaosenv("start-pg")
        await publishing
        state = await check_exactly_once(run, LINES)
        await run.stop_all()
    assert all(p.returncode == 0 for p in run.processes), run.logs()  # it survived, nothing crashed
    await assert_like_fault_free(run, state, tmp_path)


async def test_poison_records_go_to_the_dlq_and_the_rest_flows(chaos_run: ChaosRun, tmp_path: Path) -> None:
    async with chaos_run as run:
        run.spawn()
        injected = 0
        for start in range(0, len(LINES), 80):
            await run.publish_items(LINES[start : start + 80])
            for bad in poison_records(ORDERS[start // 80].sku, 10_000 + start):
                await run.publish_acked(*bad)
                injected += 1
        state = await check_exactly_once(run, LINES)
        await run.stop_all()
        dlq = await run.bus.read_all(topics.DLQ)
        assert len(dlq) == injected == 3 * len(range(0, len(LINES), 80))
        assert {r.header("dlq_topic") for r in dlq} == {topics.ERP_ORDERS.encode()}
        assert {r.header("dlq_consumer") for r in dlq} == {b"ledger"}
    await assert_like_fault_free(run, state, tmp_path)


async def test_consumers_added_and_removed_force_rebalances(chaos_run: ChaosRun, tmp_path: Path) -> None:
    async with chaos_run as run:
        first = await run.start()
        publishing = asyncio.create_task(run.publish_items(LINES, pause_every=10, pause_s=0.25))
        await eventually(lambda: _at_least(run, 40), what="40 lines acknowledged")
        second, third = await run.start(), await run.start()
        await eventually(lambda: _at_least(run, 120), what="120 lines acknowledged")
        assert await run.terminate(second) == 0  # leaves the group cleanly
        await eventually(lambda: _at_least(run, 170), what="170 lines acknowledged")
        third.kill()  # leaves by crashing: its partitions move after the session timeout
        assert await run.wait_exit(third) == KILLED
        await run.start()
        await publishing
        state = await check_exactly_once(run, LINES)
        await run.stop_all()
        assert first.returncode == 0
    await assert_like_fault_free(run, state, tmp_path)


async def test_offsets_reset_and_replayed_change_nothing(chaos_run: ChaosRun, tmp_path: Path) -> None:
    async with chaos_run as run:
        await run.publish_items(LINES)
        run.spawn()
        before = await check_exactly_once(run, LINES)
        await run.stop_all()
        await run.bus.reset_offsets(ORDER_GROUP, topics.ERP_ORDERS, 0)
        await run.bus.reset_offsets(ECHO_GROUP, topics.SEGMENTS_ASSIGNMENTS, 0)
        for topic in FACT_TOPICS:
            await run.bus.reset_offsets(FACTS_GROUP, topic, 0)
        assert await run.lag() == 2 * len(ORDERS) + len(facts(LINES))  # everything will be delivered again
        run.spawn()
        after = await check_exactly_once(run, LINES)
        await run.stop_all()
    assert after == before
    await assert_like_fault_free(run, after, tmp_path)


async def _at_least(run: ChaosRun, n: int) -> bool:
    return len(run.acked) >= n


def test_workload_records_are_keyed_by_product_with_stable_ids() -> None:
    key, _value, headers = order_record(ORDERS[0])
    assert key == ORDERS[0].sku.encode()
    assert dict(headers)["ce_id"].decode() == ORDERS[0].event_id
    assert order_record(ORDERS[0])[1] == _value  # deterministic bytes: a republish is the same event
    for fact in facts(LINES):
        (topic, (key, value, headers)), again = record(fact), record(fact)
        assert key == fact.sku.encode() and again[1][1] == value
        assert dict(headers)["ce_type"].decode() == EVENT_TYPE_OF[fact.kind]
        assert topic == fact.topic


def test_workload_carries_master_data_stock_and_shipments_of_earlier_lines() -> None:
    kinds = [item.kind if isinstance(item, Fact) else "order" for item in LINES]
    assert kinds[:12] == ["product"] * 12  # master data for every product before the first order
    assert {k: kinds.count(k) for k in set(kinds)} == {
        "order": 240,
        "product": 18,
        "inventory": 30,
        "shipment": 40,
    }
    seen: dict[int, float] = {}
    for item in LINES:
        if isinstance(item, Line):
            seen[item.n] = item.quantity
        elif item.kind == "shipment":
            assert seen[item.order_n] == item.value  # ships a line already placed, its whole quantity
    ids = [item.event_id for item in LINES]
    assert len(set(ids)) == len(ids)
