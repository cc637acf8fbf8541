"""Capture in embedded mode: exact bytes of valid, invalid, DLQ and tombstone records, dedup, gap-free
seq, the chain hash rule, append-only triggers, checkpoints, partner topics."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from contracts import topics
from services.audit import reader, store
from services.audit.capture import CaptureLoop, ChainWriter
from services.audit.domain.checkpoint import verify_tree_head
from services.runtime.bus.base import Record
from tests.unit.audit.service_support import (
    Audit,
    b64,
    event,
    independent_entry_hash,
    independent_mth,
    start_audit,
)


@pytest.fixture
async def audit(tmp_path: Path) -> AsyncIterator[Audit]:
    async for a in start_audit(tmp_path, checkpoint_every_n=4, checkpoint_every_s=3600):
        yield a


async def test_valid_invalid_dlq_and_tombstone_records_are_stored_with_their_exact_bytes(
    audit: Audit,
) -> None:
    data, headers, env = event("segflow.order.line.placed", "O1", {"order_id": "O1", "qty": 3})
    await audit.bus.publish(topics.ERP_ORDERS, b"O1", data, headers)
    garbage = b"\xff\xfenot json at all"
    await audit.bus.publish(topics.ERP_ORDERS, b"O2", garbage, [("ce_id", b"bad-1"), ("x", b"\x00\x01")])
    dlq_headers = [*headers, ("dlq_topic", topics.ERP_ORDERS.encode()), ("dlq_consumer", b"classifier"),
                   ("dlq_partition", b"0"), ("dlq_offset", b"0"), ("dlq_error", b"PoisonRecord: unknown sku")]  # fmt: skip
    await audit.bus.publish(topics.DLQ, b"O1", data, dlq_headers)
    await audit.bus.publish(topics.SEGMENTS_ASSIGNMENTS, b"product:P1", None, [])
    rows = await audit.wait_for(4)
    by_topic = {(r.topic, r.payload is None): r for r in rows}
    assert [r.seq for r in rows] == [0, 1, 2, 3]
    valid = next(r for r in rows if r.event_id == env.id and r.topic == topics.ERP_ORDERS)
    assert bytes(valid.payload) == data
    assert valid.type == "segflow.order.line.placed" and valid.subject == "O1"
    assert valid.key == b64(b"O1")
    assert json.loads(valid.headers) == [[n, b64(v)] for n, v in headers]
    bad = next(r for r in rows if r.event_id == "bad-1")
    assert bytes(bad.payload) == garbage
    assert json.loads(bad.headers) == [["ce_id", b64(b"bad-1")], ["x", b64(b"\x00\x01")]]
    dlq = by_topic[(topics.DLQ, False)]
    assert bytes(dlq.payload) == data and dlq.event_id == env.id  # same event id as the original: both kept
    tomb = by_topic[(topics.SEGMENTS_ASSIGNMENTS, True)]
    assert tomb.payload is None and tomb.payload_sha256 is None and tomb.key == b64(b"product:P1")
    # tombstone without ce_id: id = sha256(topic|partition|offset)
    expected = hashlib.sha256(f"{tomb.topic}|{tomb.kafka_partition}|{tomb.kafka_offset}".encode()).hexdigest()
    assert tomb.event_id == expected


async def test_chain_follows_the_issue_rule_and_seq_is_gap_free(audit: Audit) -> None:
    for i in range(25):
        data, headers, _ = event("segflow.order.line.placed", f"O{i}", {"order_id": f"O{i}", "i": i})
        await audit.bus.publish(
            topics.ERP_ORDERS if i % 2 else topics.WMS_SHIPMENTS, f"O{i}".encode(), data, headers
        )
    rows = await audit.wait_for(25)
    assert [r.seq for r in rows] == list(range(25))
    prev = bytes(32)
    for row in rows:
        assert bytes(row.entry_hash) == independent_entry_hash(prev, row)
        assert row.payload_sha256 == hashlib.sha256(bytes(row.payload)).hexdigest()
        prev = bytes(row.entry_hash)


async def test_duplicates_are_stored_once_across_and_within_batches(audit: Audit) -> None:
    data, headers, _ = event("segflow.order.line.placed", "O1", {"order_id": "O1"}, id="dup-1")
    for _ in range(3):
        await audit.bus.publish(topics.ERP_ORDERS, b"O1", data, headers)
    other, oh, _ = event("segflow.order.line.placed", "O2", {"order_id": "O2"}, id="other")
    await audit.bus.publish(topics.ERP_ORDERS, b"O2", other, oh)
    await audit.wait_for(2)
    await asyncio.sleep(0.3)  # let any stray duplicate land, then check none did
    await audit.bus.publish(topics.ERP_ORDERS, b"O1", data, headers)  # a later redelivery
    last, lh, _ = event("segflow.order.line.placed", "O3", {"order_id": "O3"}, id="last")
    await audit.bus.publish(topics.ERP_ORDERS, b"O3", last, lh)
    rows = await audit.wait_for(3)
    assert [r.event_id for r in rows] == ["dup-1", "other", "last"]
    assert [r.seq for r in rows] == [0, 1, 2]


async def test_writer_dedups_and_keeps_seq_gap_free_when_called_concurrently(audit: Audit) -> None:
    writer: ChainWriter = audit.host.state["writer"]
    batches = [
        [Record(topics.ERP_ORDERS, 0, 100 * b + i, b"k", b"{}", (("ce_id", f"e{(b * 7 + i) % 30}".encode()),))
         for i in range(10)]
        for b in range(6)
    ]  # fmt: skip
    await asyncio.gather(*(writer.append(batch) for batch in batches))
    rows = await audit.rows()
    assert sorted(r.event_id for r in rows) == sorted(
        {f"e{(b * 7 + i) % 30}" for b in range(6) for i in range(10)}
    )
    assert [r.seq for r in rows] == list(range(len(rows)))


async def test_sqlite_triggers_refuse_update_and_delete(audit: Audit) -> None:
    data, headers, _ = event("segflow.order.line.placed", "O1", {"order_id": "O1"})
    await audit.bus.publish(topics.ERP_ORDERS, b"O1", data, headers)
    await audit.wait_for(1)
    for sql in (
        "UPDATE audit_entries SET subject = 'x'",
        "DELETE FROM audit_entries",
        "DELETE FROM audit_entries WHERE seq = 0",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            await audit.execute(sql)
    rows = await audit.rows()
    assert len(rows) == 1 and rows[0].subject == "O1"


async def test_checkpoints_every_n_entries_sign_the_independent_merkle_root(audit: Audit) -> None:
    for i in range(10):
        data, headers, _ = event("segflow.order.line.placed", f"O{i}", {"i": i})
        await audit.bus.publish(topics.ERP_ORDERS, f"O{i}".encode(), data, headers)
    rows = await audit.wait_for(10)
    async with audit.host.db.read() as session:
        heads = await store.all_checkpoints(session)
    assert heads, "at least one tree head is signed with N=4"
    public = audit.host.state["signing"].public_raw
    hashes = [bytes(r.entry_hash) for r in rows]
    for head in heads:
        assert head.tree_size >= 4
        assert head.root_hash == independent_mth(hashes[: head.tree_size])
        assert verify_tree_head(head, public)
    result = await reader.verify_all(audit.host.db, audit.host.state["signing"])
    assert result["ok"] and result["entries"] == 10


async def test_time_rule_signs_an_idle_log(tmp_path: Path) -> None:
    async for a in start_audit(tmp_path, checkpoint_every_n=1000, checkpoint_every_s=0.2):
        data, headers, _ = event("segflow.order.line.placed", "O1", {"i": 1})
        await a.bus.publish(topics.ERP_ORDERS, b"O1", data, headers)
        await a.wait_for(1)

        async def signed(a: Audit = a) -> bool:
            async with a.host.db.read() as session:
                head = await store.latest_checkpoint(session)
            return head is not None and head.tree_size == 1

        from tests.support.waiting import eventually

        await eventually(signed, what="a time-based tree head")


async def test_partner_topics_created_later_are_captured(audit: Audit) -> None:
    await audit.bus.ensure_partner_topic("3PL-A")
    capture: CaptureLoop = audit.host.state["capture"]
    assert await capture.refresh_topics()
    data, headers, _ = event("segflow.segment.assigned", "customer:C1", {"segment": "GOLD"})
    await audit.bus.publish(topics.partner_topic("3PL-A"), b"customer:C1", data, headers)
    rows = await audit.wait_for(1)
    assert rows[0].topic == "segflow.segments.partner.3PL-A.v1" and bytes(rows[0].payload) == data


async def test_verify_names_the_first_edited_entry(audit: Audit) -> None:
    for i in range(6):
        data, headers, _ = event("segflow.order.line.placed", f"O{i}", {"i": i})
        await audit.bus.publish(topics.ERP_ORDERS, f"O{i}".encode(), data, headers)
    await audit.wait_for(6)
    async with audit.host.db.unit_of_work() as session:  # a superuser-like edit: drop the trigger first
        await session.execute(sa.text("DROP TRIGGER audit_entries_no_update"))
        await session.execute(sa.text("UPDATE audit_entries SET subject = 'forged' WHERE seq = 2"))
    result = await reader.verify_all(audit.host.db, audit.host.state["signing"])
    assert not result["ok"] and result["first_bad_seq"] == 2


def test_seal_record_equals_the_domain_seal_entry_on_varied_records() -> None:
    from services.audit.capture import draft_of, seal_record
    from services.audit.domain.chain import seal_entry

    prev = bytes(32)
    cases = [
        Record(
            topics.ERP_ORDERS,
            2,
            17,
            b"O1",
            b'{"a":"caf\xc3\xa9"}',
            (("ce_id", b"e1"), ("ce_time", b"2026-01-01T00:00:00+02:00")),
        ),
        Record(topics.DLQ, 0, 0, None, b"\xff\x00", (("x", b"\x00\xff"), ("ce_subject", b"\xff bad utf8"))),
        Record(topics.SEGMENTS_ASSIGNMENTS, 5, 2**40, b"product:P1", None, (), 1_700_000_000_123),
        Record(
            topics.MDM_CUSTOMERS,
            1,
            3,
            b"k",
            b"{}",
            (("ce_type", "t\u00e9".encode()), ("ce_time", b"junk")),
        ),
    ]
    for seq, rec in enumerate(cases):
        d = draft_of(rec)
        fast = seal_record(prev, seq, d, rec.value)
        slow = seal_entry(
            prev, seq=seq, topic=rec.topic, partition=rec.partition, offset=rec.offset, key=rec.key,
            headers=rec.headers, type=d.type, subject=d.subject, event_time=d.event_time, event_id=d.event_id,
            payload=rec.value,
        )  # fmt: skip
        assert fast == slow
        prev = fast.entry_hash
