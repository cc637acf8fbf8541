"""The runtime in embedded mode (in-process bus + SQLite): the semantics users run with `make demo`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from contracts import topics
from contracts.envelope import deterministic_id, new_envelope, to_headers
from contracts.erp import OrderLinePlaced
from services.runtime.bus.memory import MemoryBus
from services.runtime.consumer import replay_dlq
from services.runtime.settings import Settings
from tests.support import ledger
from tests.support.waiting import eventually


def order(sku: str, qty: float, n: int) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    at = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=n)
    ev = OrderLinePlaced(
        order_id=f"O{n}",
        line_id="1",
        customer_id="C1",
        customer_source="test",
        sku=sku,
        site="S1",
        quantity=qty,
        unit="EA",
        unit_price=1.0,
        currency="EUR",
        requested_date=at.date(),
        ordered_at=at,
    )
    env = new_envelope(
        source="erp/test",
        type="segflow.order.line.placed",
        subject=f"O{n}",
        payload=ev,
        id=deterministic_id("test", f"O{n}:1"),
        time=at,
    )
    assert env.data is not None
    return f"O{n}".encode(), env.data, to_headers(env)


async def wait_for(pred, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    await eventually(pred, timeout=timeout, what="embedded services settled")


@pytest.fixture
def settings(tmp_path):  # type: ignore[no-untyped-def]
    return Settings(data_dir=tmp_path, mode="embedded")


async def test_memory_bus_partitions_by_key_like_kafka() -> None:
    from aiokafka.partitioner import murmur2

    bus = MemoryBus()
    await bus.ensure_topics([topics.spec_for(topics.ERP_ORDERS)])
    for i in range(50):
        key = f"k{i}".encode()
        p, _ = await bus.publish(topics.ERP_ORDERS, key, b"{}")
        assert p == (murmur2(key) & 0x7FFFFFFF) % topics.spec_for(topics.ERP_ORDERS).partitions


async def test_memory_bus_group_resumes_from_committed_offset_and_rebalances() -> None:
    bus = MemoryBus()
    await bus.ensure_topics([topics.spec_for(topics.ERP_ORDERS)])
    for i in range(30):
        await bus.publish(topics.ERP_ORDERS, f"k{i}".encode(), str(i).encode())
    a = bus.consumer("g", [topics.ERP_ORDERS])
    await a.start()
    first = await a.getmany(max_records=1000)
    assert len(first) == 30
    await a.commit(
        {
            __import__("services.runtime.bus.base", fromlist=["TopicPartition"]).TopicPartition(
                r.topic, r.partition
            ): r.offset + 1
            for r in first
        }
    )
    b = bus.consumer("g", [topics.ERP_ORDERS])
    await b.start()
    assert a.assignment().isdisjoint(b.assignment())
    assert len(a.assignment() | b.assignment()) == topics.spec_for(topics.ERP_ORDERS).partitions
    assert await b.getmany(timeout_ms=10) == []  # everything was committed
    await bus.reset_offsets("g", topics.ERP_ORDERS, 0)
    c = bus.consumer("g2", [topics.ERP_ORDERS])
    await c.start()
    assert len(await c.getmany(max_records=1000)) == 30


async def test_compacted_view_keeps_latest_and_drops_tombstones() -> None:
    bus = MemoryBus()
    await bus.ensure_topics([topics.spec_for(topics.SEGMENTS_ASSIGNMENTS)])
    await bus.publish(topics.SEGMENTS_ASSIGNMENTS, b"product:a", b"1")
    await bus.publish(topics.SEGMENTS_ASSIGNMENTS, b"product:a", b"2")
    await bus.publish(topics.SEGMENTS_ASSIGNMENTS, b"product:b", b"3")
    await bus.publish(topics.SEGMENTS_ASSIGNMENTS, b"product:b", None)
    view = await bus.compacted(topics.SEGMENTS_ASSIGNMENTS)
    assert {k: r.value for k, r in view.items()} == {b"product:a": b"2"}


@pytest.mark.parametrize("txn_batch", [1, 50])
async def test_outbox_inbox_and_dlq_in_embedded_mode(settings, txn_batch: int) -> None:  # type: ignore[no-untyped-def]
    bus = MemoryBus()
    host = ledger.build(settings, bus=bus, transaction_batch=txn_batch)
    await host.start()
    try:
        for n, (sku, qty) in enumerate([("A", 60), ("A", 50), ("B", 10)]):
            await bus.publish(topics.ERP_ORDERS, *order(sku, qty, n))
        # a poison record: valid envelope, payload violating the schema (negative quantity)
        key, value, headers = order("C", 5, 99)
        await bus.publish(
            topics.ERP_ORDERS, key, value.replace(b'"quantity":5.0', b'"quantity":-5.0'), headers
        )
        # the same event again (redelivery / re-ingest): must be a no-op
        await bus.publish(topics.ERP_ORDERS, *order("A", 60, 0))

        async def settled() -> bool:
            snap = await ledger.snapshot(host)
            return len(snap["echoes"]) == 2 and sum(e[2] for e in snap["echoes"]) == 3  # type: ignore[index]

        await wait_for(settled)
        snap = await ledger.snapshot(host)
        assert snap["totals"] == [("A", 110.0, 2), ("B", 10.0, 1)]
        assert [(e[0], e[1]) for e in snap["echoes"]] == [("A", "BIG"), ("B", "SMALL")]  # type: ignore[index]
        dlq = await bus.read_all(topics.DLQ)
        assert len(dlq) == 1
        assert dlq[0].header("dlq_topic") == topics.ERP_ORDERS.encode()
        assert b"quantity" in (dlq[0].header("dlq_error") or b"")
        assert dlq[0].value is not None and b'"quantity":-5.0' in dlq[0].value  # original bytes kept
        # replaying the DLQ republishes the original record; it fails again and is dead-lettered again
        assert await replay_dlq(bus) == 1
        assert await replay_dlq(bus) == 0  # the replay marker remembers what was replayed
    finally:
        await host.stop()


async def test_replay_from_offset_zero_rebuilds_identical_state(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bus = MemoryBus()
    host = ledger.build(settings, bus=bus)
    await host.start()
    for n in range(40):
        await bus.publish(topics.ERP_ORDERS, *order(f"S{n % 7}", float(n % 5 + 1) * 7, n))

    async def done(h=host) -> bool:  # type: ignore[no-untyped-def]
        snap = await ledger.snapshot(h)
        return sum(e[2] for e in snap["echoes"]) == 40  # type: ignore[index]

    await wait_for(done)
    first = await ledger.snapshot(host)
    await host.stop()
    fresh = ledger.build(Settings(data_dir=tmp_path / "fresh", mode="embedded"), bus=bus)
    # a fresh database and new consumer groups from offset 0: the ledger's own groups are reused, so rewind
    await bus.reset_offsets("segflow.ledger", topics.ERP_ORDERS, 0)
    await bus.reset_offsets("segflow.ledger-echo", topics.SEGMENTS_ASSIGNMENTS, 0)
    await fresh.start()
    try:

        async def done2() -> bool:
            snap = await ledger.snapshot(fresh)
            return sum(e[2] for e in snap["echoes"]) >= 40  # type: ignore[index]

        await wait_for(done2)
        await asyncio.sleep(0.3)
        second = await ledger.snapshot(fresh)
        assert second["totals"] == first["totals"]
        # the echo consumer sees the first run's 40 assignments again plus the replay's 40 (new ids? no:
        # assigned ids derive from the order ids, so the inbox makes the replayed ones no-ops)
        assert second["echoes"] == first["echoes"]
    finally:
        await fresh.stop()
