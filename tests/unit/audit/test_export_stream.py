"""Streaming export and archive prefixes read the stored subtree roots, not the whole log: a range in the
middle of a multi-block log, checked line by line with the independent verifier and an in-memory tree."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import rfc8785
from typer.testing import CliRunner

from services.audit import export, proofs, store
from services.audit.capture import ChainWriter, WritePipeline
from services.audit.domain.archive import verify_archive
from services.audit.domain.frontier import MerkleFrontier
from services.audit.domain.merkle import inclusion_proof
from services.audit.verifier import load_public_key, verify_inclusion_document
from services.runtime.auth import issue_token
from tests.unit.audit.service_support import Audit, independent_mth, start_audit
from tests.unit.audit.test_scale import BLOCK, fill, order_record

N = 6 * BLOCK + 37  # stored subtrees of 256..1024 leaves plus a partial tail block
FIRST, END, CHUNK = 600, 1000, 128


@pytest.fixture
async def audit(tmp_path: Path) -> AsyncIterator[Audit]:
    async for a in start_audit(tmp_path, checkpoint_every_n=500, checkpoint_every_s=3600):
        await a.host.state["capture"].stop()  # the tests drive the writer themselves
        yield a


def line_hash(prev: bytes, doc: dict[str, Any]) -> bytes:
    """The issue's chain rule on an export line, written independently of the service code."""
    payload = None if doc["payload"] is None else base64.b64decode(doc["payload"])
    meta = {name: doc[name] for name in ("seq", "topic", "partition", "offset", "key", "headers", "type")}
    meta |= {name: doc[name] for name in ("subject", "event_time", "event_id")}
    meta["payload_sha256"] = None if payload is None else hashlib.sha256(payload).hexdigest()
    return hashlib.sha256(prev + rfc8785.dumps(meta)).digest()


def check_lines(lines: list[dict[str, Any]], leaves: list[bytes], first: int, end: int) -> None:
    header, entries = lines[0], lines[1:]
    head = header["tree_head"]
    assert header["kind"] == "segflow-audit-export" and (header["from"], header["to"]) == (first, end)
    assert bytes.fromhex(head["root_hash"]) == independent_mth(leaves[: head["tree_size"]])
    assert [e["seq"] for e in entries] == list(range(first, end))
    prev = leaves[first - 1] if first else bytes(32)
    for e in entries:
        prev = line_hash(prev, e)
        assert e["entry_hash"] == prev.hex()
        if e["seq"] >= head["tree_size"]:
            assert e["inclusion_proof"] is None
            continue
        ok, why = verify_inclusion_document(e["inclusion_proof"], head, header["public_key"])
        assert ok, why
        expected = inclusion_proof(e["seq"], leaves[: head["tree_size"]])  # in memory, all leaves
        assert [bytes.fromhex(h) for h in e["inclusion_proof"]["proof"]] == expected


async def test_a_middle_range_streams_in_chunks_with_local_reads_and_verifiable_proofs(
    audit: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = await fill(audit, N, batch=211)
    leaves = [bytes(r.entry_hash) for r in rows]
    assert await audit.host.state["writer"].checkpoint_now()
    hash_reads: list[tuple[int, int]] = []
    row_reads: list[tuple[int, int]] = []
    hashes_between, in_order = store.entry_hashes_between, store.entries_in_order

    async def count_hashes(session: Any, first: int, end: int) -> list[bytes]:
        hash_reads.append((first, end))
        return await hashes_between(session, first, end)

    async def count_rows(session: Any, **kw: Any) -> list[Any]:
        found = await in_order(session, **kw)
        row_reads.append((kw["first"], kw["end"]))
        return found

    monkeypatch.setattr(store, "entry_hashes_between", count_hashes)
    monkeypatch.setattr(store, "entries_in_order", count_rows)
    parts = [
        p
        async for p in export.export_stream(
            audit.host.db, audit.host.state["signing"], FIRST, END, chunk=CHUNK
        )
    ]
    assert len(parts) == 1 + -(-(END - FIRST) // CHUNK)  # header, then one part per chunk
    check_lines([json.loads(line) for p in parts for line in p.splitlines()], leaves, FIRST, END)
    assert all(end - first <= CHUNK for first, end in row_reads)  # bounded memory: a chunk of rows at a time
    tail = N - N % BLOCK
    for first, end in hash_reads:  # only the blocks around the range, and the tree's partial tail block
        assert (first >= FIRST - BLOCK and end <= END + BLOCK) or first >= tail, (first, end)
    chunks = len(parts) - 1
    assert sum(end - first for first, end in hash_reads) <= chunks * (CHUNK + 2 * BLOCK + N % BLOCK)


async def test_entries_newer_than_the_latest_tree_head_carry_no_proof(audit: Audit) -> None:
    rows = await fill(audit, 1100, batch=300)  # tree heads every 500 entries, checked after each batch
    leaves = [bytes(r.entry_hash) for r in rows]
    async with audit.host.db.read() as session:
        signed = (await store.latest_checkpoint(session)).tree_size  # type: ignore[union-attr]
    assert 500 <= signed < 1100
    first = signed - 50
    lines = await export.export_lines(audit.host.db, audit.host.state["signing"], first, 1100)
    docs = [json.loads(line) for p in lines for line in p.splitlines()]
    assert docs[0]["tree_head"]["tree_size"] == signed
    check_lines(docs, leaves, first, 1100)
    assert [d["inclusion_proof"] is None for d in docs[1:]] == [False] * 50 + [True] * (1100 - signed)


async def test_the_export_route_streams_a_verifiable_range(audit: Audit) -> None:
    rows = await fill(audit, 700, batch=256)
    leaves = [bytes(r.entry_hash) for r in rows]
    token = issue_token(audit.settings, subject="a1", roles=["admin"])
    transport = httpx.ASGITransport(app=audit.host.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        resp = await c.get(
            "/v1/audit/export", params={"from": 300, "to": 650}, headers={"Authorization": f"Bearer {token}"}
        )
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/x-ndjson")
    docs = [json.loads(line) for line in resp.content.splitlines()]
    assert docs[0]["tree_head"]["tree_size"] == 700  # the route signs the current size first
    check_lines(docs, leaves, 300, 650)


async def test_frontier_at_any_size_equals_the_in_memory_frontier(audit: Audit) -> None:
    rows = await fill(audit, 3 * BLOCK + 5, batch=100)
    leaves = [bytes(r.entry_hash) for r in rows]
    async with audit.host.db.read() as session:
        for size in (0, 1, BLOCK - 1, BLOCK, BLOCK + 3, 2 * BLOCK, 3 * BLOCK + 5):
            expected = MerkleFrontier()
            expected.extend(leaves[:size])
            got = await proofs.frontier_at(session, size)
            assert got.size == size and got.hashes == expected.hashes
            assert got.root() == independent_mth(leaves[:size])


async def test_an_archive_of_a_later_month_extends_the_signed_prefix(audit: Audit) -> None:
    jan, feb = (int(datetime(2026, m, 10, tzinfo=UTC).timestamp() * 1e6) for m in (1, 2))
    clock = [jan]
    base: ChainWriter = audit.host.state["writer"]
    writer = ChainWriter(audit.host.db, base.signing, base.audit, clock_us=lambda: clock[0])
    pipeline = WritePipeline(writer)
    records = [order_record(i) for i in range(BLOCK + 40)]
    await pipeline.push(records[: BLOCK + 7])
    await pipeline.flush()
    clock[0] = feb
    await pipeline.push(records[BLOCK + 7 :])
    await pipeline.flush()
    built = await export.archive_month(audit.host.db, base.signing, "2026-02", now="2026-03-01T00:00:00Z")
    assert built is not None
    data, manifest = built
    assert manifest["first_seq"] == BLOCK + 7 and manifest["count"] == 33
    result = verify_archive(data, manifest, load_public_key(base.signing.public_raw))
    assert result.ok, result


def test_cli_export_writes_a_verifiable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from services.audit.cli import app as cli_app

    async def make() -> list[bytes]:
        hosts = start_audit(tmp_path, checkpoint_every_n=100, checkpoint_every_s=3600)
        a = await anext(hosts)
        try:
            await a.host.state["capture"].stop()
            return [bytes(r.entry_hash) for r in await fill(a, 420, batch=150)]
        finally:
            await hosts.aclose()

    leaves = asyncio.run(make())
    monkeypatch.setenv("SEGFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SEGFLOW_MODE", "embedded")
    monkeypatch.delenv("SEGFLOW_DATABASE_URL", raising=False)
    out = tmp_path / "range.jsonl"
    done = CliRunner().invoke(cli_app, ["export", "--from", "150", "--to", "390", "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert "exported 240 entries" in done.output
    docs = [json.loads(line) for line in out.read_bytes().splitlines()]
    assert docs[0]["tree_head"]["tree_size"] == 420  # signed after the last batch (120 >= 100 since the last)
    check_lines(docs, leaves, 150, 390)
