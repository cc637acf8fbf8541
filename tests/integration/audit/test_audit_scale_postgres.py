"""The audit log at scale on REAL PostgreSQL and Kafka: the pipelined capture writes as the application role,
stores Merkle subtree roots (append-only like the entries), serves proofs from them that the independent
verifier accepts, streams verification in chunks and pages the signed-tree-head history."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from contracts import topics
from contracts.envelope import new_envelope, to_headers
from services.audit import app, reader, store
from services.audit.config import AuditSettings
from services.audit.verifier import verify_consistency_document, verify_inclusion_document
from services.runtime.auth import issue_token
from services.runtime.bus.base import Record
from services.runtime.settings import Settings
from tests.support.waiting import eventually
from tests.unit.audit.service_support import independent_mth

APP_ROLE = "segflow_audit_app"
N = 1200


@pytest.fixture
async def host(
    fresh_database: str, kafka_bootstrap: str, topic_namespace: str, tmp_path: Path
) -> AsyncIterator[tuple[app.AuditHost, Settings, str]]:
    settings = Settings(
        mode="distributed", env="test", jwt_secret="test-secret-0123456789abcdef0123456789",
        database_url=fresh_database, kafka_bootstrap=kafka_bootstrap, topic_namespace=topic_namespace,
        topic_partitions=3, data_dir=tmp_path,
    )  # fmt: skip
    audit = AuditSettings(
        checkpoint_every_n=250, checkpoint_every_s=3600, db_role=APP_ROLE, capture_batch=300
    )
    h = app.build(settings, audit=audit)
    await h.start()
    dsn = make_url(fresh_database).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        yield h, settings, dsn
    finally:
        await h.stop()


async def rows_of(h: app.AuditHost) -> list[Any]:
    async with h.db.read() as session:
        return await store.entries_in_order(session)


async def test_pipelined_capture_subtree_proofs_and_checkpoint_history(
    host: tuple[app.AuditHost, Settings, str],
) -> None:
    h, settings, dsn = host
    sends = []
    for i in range(N):
        env = new_envelope(
            source="erp/test", type="segflow.order.line.placed", subject=f"O{i}", payload={"i": i}
        )
        assert env.data is not None
        sends.append(h.bus.publish(topics.ERP_ORDERS, f"O{i}".encode(), env.data, to_headers(env)))
    await asyncio.gather(*sends)

    async def all_captured() -> bool:
        return len(await rows_of(h)) >= N

    await eventually(all_captured, timeout=180, what=f"{N} audit entries")
    rows = await rows_of(h)
    assert [r.seq for r in rows] == list(range(N))
    leaves = [bytes(r.entry_hash) for r in rows]
    writer = h.state["writer"]
    before = writer.resealed
    await writer.write(await writer.prepare([]))  # predicts the head from here on
    again = [
        Record(topics.ERP_ORDERS, 0, 10**6 + i, b"k", b"{}", (("ce_id", f"fresh-{i}".encode()),))
        for i in range(3)
    ]
    sealed = await writer.write(await writer.prepare(again[:2]))  # optimistic COPY
    assert [e.seq for e in sealed.entries] == [N, N + 1]
    # a redelivery mixed with a new record: the unique dedup key refuses the COPY, the batch is re-sealed
    sealed = await writer.write(await writer.prepare([again[0], again[2]]))
    assert [e.event_id for e in sealed.entries] == ["fresh-2"] and writer.resealed > before
    await writer.checkpoint_now()
    result = await reader.verify_all(h.db, h.state["signing"], chunk=128)
    assert result["ok"] and result["entries"] == N + 3, result

    con = await asyncpg.connect(dsn)
    try:
        await con.execute("SET search_path TO audit")
        stored = await con.fetch("SELECT level, idx, root_hash FROM audit_subtrees ORDER BY level, idx")
        assert {(r["level"], r["idx"]) for r in stored} == {
            (8, 0),
            (8, 1),
            (8, 2),
            (8, 3),
            (9, 0),
            (9, 1),
            (10, 0),
        }
        for r in stored:
            size = 1 << r["level"]
            assert bytes(r["root_hash"]) == independent_mth(leaves[r["idx"] * size : (r["idx"] + 1) * size])
        async with con.transaction():
            await con.execute(f"SET LOCAL ROLE {APP_ROLE}")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await con.execute("UPDATE audit_subtrees SET root_hash = '\\x00'")
        async with con.transaction():
            with pytest.raises(asyncpg.PostgresError, match="append-only"):
                await con.execute("DELETE FROM audit_subtrees")
    finally:
        await con.close()

    token = issue_token(settings, subject="monitor", roles=["finance"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=h.app),
        base_url="http://t",
        headers={"Authorization": f"Bearer {token}"},
    ) as c:
        heads: list[dict[str, Any]] = []
        after: int | None = None
        while True:
            params = {"limit": 2} | ({"after": after} if after is not None else {})
            body = (await c.get("/v1/audit/checkpoints", params=params)).json()
            heads += body["items"]
            if body["next_after"] is None:
                break
            after = body["next_after"]
        sizes = [hd["tree_size"] for hd in heads]
        assert sizes == sorted(sizes) and sizes[-1] == N + 3 and len(sizes) >= 4
        for old, new in itertools.pairwise(heads):
            cons = (
                await c.get(
                    "/v1/audit/proofs/consistency", params={"from": old["tree_size"], "to": new["tree_size"]}
                )
            ).json()
            ok, why = verify_consistency_document(cons["proof"], old, new, body["public_key"])
            assert ok, why
        # the as-of query (partial index on the assignments topic, literal topic) runs on PostgreSQL
        missing = await c.get("/v1/audit/segments/customer/C404", params={"as_of": "2026-06-01T00:00:00Z"})
        assert missing.status_code == 404
        for seq in (0, 255, 256, 700, 1023, 1024, N - 1):
            doc = (await c.get(f"/v1/audit/proofs/inclusion/{seq}", params={"tree_size": N + 3})).json()
            assert doc["proof"]["entry_hash"] == leaves[seq].hex()
            ok, why = verify_inclusion_document(doc["proof"], doc["tree_head"], doc["public_key"])
            assert ok, why
        # the streamed export of a range in the middle (snapshot read, chunked, proofs from subtree roots)
        export = await c.get("/v1/audit/export", params={"from": 400, "to": 900})
        assert export.status_code == 200
        docs = [json.loads(line) for line in export.content.splitlines()]
        head = docs[0]["tree_head"]
        assert head["tree_size"] == N + 3
        assert bytes.fromhex(head["root_hash"]) == independent_mth(
            leaves + [bytes(r.entry_hash) for r in (await rows_of(h))[N:]]
        )
        assert [d["seq"] for d in docs[1:]] == list(range(400, 900))
        for d in docs[1:]:
            assert d["entry_hash"] == leaves[d["seq"]].hex()
            ok, why = verify_inclusion_document(d["inclusion_proof"], head, docs[0]["public_key"])
            assert ok, why
