"""Audit at scale: pipelined appends (predicted head, re-seal on a wrong prediction), stored Merkle subtree
roots behind O(log n)-read proofs, chunked verification and the signed-tree-head history route."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from contracts import topics
from services.audit import reader, store
from services.audit.capture import ChainWriter, WritePipeline
from services.audit.domain.chain import seal_entry
from services.audit.domain.frontier import MerkleFrontier
from services.audit.domain.merkle import fold_right, inclusion_proof, perfect_pieces
from services.audit.domain.verify import LogVerifier, verify_log
from services.audit.sealing import SUBTREE_MIN_LEVEL, draft_of, seal_drafts
from services.audit.verifier import (
    check_tree_head,
    load_public_key,
    verify_consistency_document,
    verify_inclusion_document,
)
from services.runtime.auth import issue_token
from services.runtime.bus.base import Record
from tests.unit.audit.service_support import Audit, independent_entry_hash, independent_mth, start_audit

BLOCK = 1 << SUBTREE_MIN_LEVEL


def order_record(i: int, *, event_id: str | None = None) -> Record:
    headers = (
        ("ce_id", (event_id or f"evt-{i}").encode()),
        ("ce_type", b"segflow.order.line.placed"),
        ("ce_time", f"2026-01-{1 + i % 28:02d}T00:00:{i % 60:02d}Z".encode()),
        ("ce_subject", f"O{i}".encode()),
    )
    value = json.dumps({"order_id": f"O{i}", "qty": i}).encode()
    return Record(topics.ERP_ORDERS, i % 3, i // 3, f"O{i}".encode(), value, headers, 1_767_225_600_000)


@pytest.fixture
async def audit(tmp_path: Path) -> AsyncIterator[Audit]:
    async for a in start_audit(tmp_path, checkpoint_every_n=300, checkpoint_every_s=3600):
        await a.host.state["capture"].stop()  # these tests drive the writer themselves
        yield a


async def fill(audit: Audit, n: int, batch: int) -> list[Any]:
    pipeline = WritePipeline(audit.host.state["writer"])
    records = [order_record(i) for i in range(n)]
    for i in range(0, n, batch):
        await pipeline.push(records[i : i + batch])
    await pipeline.flush()
    return await audit.rows()


def test_seal_drafts_equals_seal_entry_and_reports_completed_subtrees() -> None:
    n = 3 * BLOCK + 17
    drafts = [draft_of(order_record(i)) for i in range(n)]
    sealed = seal_drafts(bytes(32), 0, MerkleFrontier(), drafts, [d.record.value for d in drafts], 5)
    prev = bytes(32)
    for d, entry in zip(drafts, sealed.entries, strict=True):
        rec = d.record
        slow = seal_entry(
            prev, seq=entry.seq, topic=rec.topic, partition=rec.partition, offset=rec.offset, key=rec.key,
            headers=rec.headers, type=d.type, subject=d.subject, event_time=d.event_time, event_id=d.event_id,
            payload=rec.value,
        )  # fmt: skip
        assert entry == slow
        prev = slow.entry_hash
    leaves = [e.entry_hash for e in sealed.entries]
    expected = {(8, 0), (8, 1), (8, 2), (9, 0)}
    assert {(lv, i) for lv, i, _ in sealed.subtrees} == expected
    for level, index, root_hash in sealed.subtrees:
        size = 1 << level
        assert root_hash == independent_mth(leaves[index * size : (index + 1) * size])
    assert sealed.frontier.root() == independent_mth(leaves)
    assert [r[0] for r in sealed.rows] == list(range(n)) and sealed.rows[-1][-1] == 5


def test_perfect_pieces_fold_to_the_rfc_root() -> None:
    leaves = [hashlib.sha256(str(i).encode()).digest() for i in range(700)]
    for lo, hi in [(0, 1), (0, 700), (512, 700), (256, 300), (0, 512), (640, 641)]:
        pieces = perfect_pieces(lo, hi)
        assert sum(b - a for a, b in pieces) == hi - lo
        roots = [independent_mth(leaves[a:b]) for a, b in pieces]
        assert fold_right(roots) == independent_mth(leaves[lo:hi])
    assert perfect_pieces(5, 5) == []


async def test_pipelined_appends_store_subtrees_and_proofs_read_logarithmically(
    audit: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = await fill(audit, 3 * BLOCK + 100, batch=97)
    prev = bytes(32)
    for row in rows:  # the chain, re-derived from the issue's rule
        assert bytes(row.entry_hash) == independent_entry_hash(prev, row)
        prev = bytes(row.entry_hash)
    leaves = [bytes(r.entry_hash) for r in rows]
    writer: ChainWriter = audit.host.state["writer"]
    assert writer.resealed == 0  # predictions held: every batch after the first was sealed ahead
    async with audit.host.db.read() as session:
        stored = (await session.execute(sa.select(store.subtrees))).all()
        heads = await store.all_checkpoints(session)
    assert {(r.level, r.idx) for r in stored} == {(8, 0), (8, 1), (8, 2), (9, 0)}
    for r in stored:
        size = 1 << r.level
        assert bytes(r.root_hash) == independent_mth(leaves[r.idx * size : (r.idx + 1) * size])

    read_spans: list[tuple[int, int]] = []
    original = store.entry_hashes_between

    async def counting(session: Any, first: int, end: int) -> list[bytes]:
        read_spans.append((first, end))
        return await original(session, first, end)

    monkeypatch.setattr(store, "entry_hashes_between", counting)
    public = audit.host.state["signing"].public_raw.hex()
    head = heads[-1]
    assert head.tree_size > 3 * BLOCK  # the proofs span stored subtrees and a partial tail block
    for seq in (0, 1, 255, 256, 511, 700, 767, 768, head.tree_size - 1):
        read_spans.clear()
        proof = await reader.inclusion_proof(audit.host.db, seq, head)
        assert [bytes.fromhex(h) for h in proof["proof"]] == inclusion_proof(seq, leaves[: head.tree_size])
        doc_head = reader.head_json(head)
        ok, why = verify_inclusion_document(proof, doc_head, public)
        assert ok, why
        assert sum(b - a for a, b in read_spans) <= 2 * BLOCK + 1  # not every entry hash
    for old, new in itertools.pairwise(heads):
        cons = await reader.consistency_proof(audit.host.db, old.tree_size, new.tree_size)
        ok, why = verify_consistency_document(cons, reader.head_json(old), reader.head_json(new), public)
        assert ok, why


async def test_a_wrong_prediction_reseals_against_the_real_head(audit: Audit) -> None:
    first: ChainWriter = audit.host.state["writer"]
    second = ChainWriter(audit.host.db, first.signing, first.audit)  # another process writing the same log
    await first.append([order_record(i) for i in range(10)])
    ahead = await first.prepare([order_record(i) for i in range(10, 20)])  # sealed on the predicted head
    assert ahead.sealed is not None and ahead.sealed.base_size == 10
    await second.append([order_record(i) for i in range(20, 25)])  # the head moves under it
    await first.write(ahead)
    # a batch repeating stored events: dropped by the in-transaction dedup, the rest re-sealed
    mixed = await first.prepare([order_record(3), order_record(30), order_record(12)])
    written = (await first.write(mixed)).entries
    assert [e.event_id for e in written] == ["evt-30"]
    assert first.resealed == 2  # one moved head, one duplicate refused by the unique dedup key
    rows = await audit.rows()
    assert [r.seq for r in rows] == list(range(26))
    assert [r.event_id for r in rows[10:20]] == [f"evt-{i}" for i in range(20, 25)] + [
        f"evt-{i}" for i in range(10, 15)
    ]
    result = await reader.verify_all(audit.host.db, first.signing)
    assert result["ok"] and result["entries"] == 26


async def test_chunked_verification_matches_and_names_a_tampered_entry(audit: Audit) -> None:
    await fill(audit, 650, batch=200)
    signing = audit.host.state["signing"]
    for chunk in (7, 256, 10_000):
        result = await reader.verify_all(audit.host.db, signing, chunk=chunk)
        assert result["ok"] and result["entries"] == 650 and result["tree_heads"] == 2
    rows = await audit.rows()
    async with audit.host.db.read() as session:
        heads = await store.all_checkpoints(session)
    entries = [store.chain_entry(r) for r in rows]
    streaming = LogVerifier(heads, signing.public_raw)
    for i in range(0, len(entries), 33):
        assert streaming.feed(entries[i : i + 33]) is None
    assert streaming.finish() == verify_log(entries, heads, signing.public_raw)
    await audit.execute("DROP TRIGGER audit_entries_no_update")
    await audit.execute("UPDATE audit_entries SET subject = 'forged' WHERE seq = 444")
    result = await reader.verify_all(audit.host.db, signing, chunk=100)
    assert not result["ok"] and result["first_bad_seq"] == 444


async def test_checkpoint_history_pages_after_a_size(audit: Audit) -> None:
    await fill(audit, 1000, batch=150)  # heads at 150 (the first batch: none signed yet), 450, 750
    await audit.host.state["writer"].checkpoint_now()  # and 1000
    token = issue_token(audit.settings, subject="monitor", roles=["planner"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=audit.host.app),
        base_url="http://t",
        headers={"Authorization": f"Bearer {token}"},
    ) as c:
        seen: list[dict[str, Any]] = []
        after: int | None = None
        while True:
            params = {"limit": 3} | ({"after": after} if after is not None else {})
            body = (await c.get("/v1/audit/checkpoints", params=params)).json()
            seen += body["items"]
            if body["next_after"] is None:
                break
            after = body["next_after"]
        assert [h["tree_size"] for h in seen] == [150, 450, 750, 1000]
        key = load_public_key(body["public_key"])
        assert all(check_tree_head(h, key)[0] for h in seen)
        empty = (await c.get("/v1/audit/checkpoints", params={"after": 1000})).json()
        assert empty["items"] == [] and empty["next_after"] is None and empty["last_tree_size"] == 1000
        for old, new in itertools.pairwise(seen):  # what a monitor does with consecutive heads
            params = {"from": old["tree_size"], "to": new["tree_size"]}
            cons = (await c.get("/v1/audit/proofs/consistency", params=params)).json()
            ok, why = verify_consistency_document(cons["proof"], old, new, body["public_key"])
            assert ok, why
        bad = await c.get("/v1/audit/checkpoints", params={"after": -1})
        assert bad.status_code == 400
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=audit.host.app), base_url="http://t") as c:
        assert (await c.get("/v1/audit/checkpoints")).status_code == 401


def test_event_time_fast_path_equals_parse_time() -> None:
    from contracts.envelope import EnvelopeError, parse_time
    from services.audit.sealing import event_us_of

    cases = [
        "2026-01-01T00:00:00Z", "2026-01-01T00:00:00.5Z", "2026-03-31T23:59:59.123456+02:00",
        "2026-03-31T23:59:59.1234567-05:30", "2026-01-01t00:00:00z", "2026-01-01T00:00:00+00:00",
        "2024-02-29T12:00:00-00:00", "2026-12-31T23:59:60Z", "2026-13-01T00:00:00Z", "2026-01-01T00:00:00+24:00",
        "2026-01-01T00:00:00", "2026-01-01 00:00:00Z", "junk",
    ]  # fmt: skip
    for text in cases:
        try:
            expected: int | None = int(parse_time(text).timestamp() * 1_000_000)
        except EnvelopeError:
            expected = None
        try:
            got: int | None = event_us_of(text)
        except EnvelopeError:
            got = None
        assert got == expected, text


def test_migration_partial_index_names_the_assignments_topic() -> None:
    import importlib.util

    path = Path(__file__).parents[3] / "services/audit/migrations/versions/0002_lean_indexes_and_subtrees.py"
    spec = importlib.util.spec_from_file_location("audit_0002", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.ASSIGNMENTS_TOPIC == topics.SEGMENTS_ASSIGNMENTS  # the as-of query's partial index
