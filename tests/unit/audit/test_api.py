"""The audit HTTP API in embedded mode: auth, entries and paging, as-of, verify, proofs (checked with the
independent verifier and the CLI), export, erasure."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from contracts import topics
from services.audit.cli import app as cli_app
from services.audit.verifier import verify_consistency_document, verify_inclusion_document
from services.runtime.auth import issue_token
from tests.unit.audit.service_support import Audit, event, start_audit, utc


@pytest.fixture
async def audit(tmp_path: Path) -> AsyncIterator[Audit]:
    async for a in start_audit(tmp_path, checkpoint_every_n=5, checkpoint_every_s=3600):
        yield a


def client(audit: Audit, *roles: str) -> httpx.AsyncClient:
    headers = {}
    if roles:
        headers["Authorization"] = "Bearer " + issue_token(audit.settings, subject="u1", roles=list(roles))
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=audit.host.app), base_url="http://t", headers=headers
    )


def customer(source_id: str, email: str) -> dict[str, object]:
    return {
        "source": "SAP-EU",
        "source_id": source_id,
        "name": "ACME",
        "region": "EU",
        "country": "DE",
        "contacts": [{"name": "Ann Lee", "email": email, "phone": "+49 1", "role": "buyer"}],
        "updated_at": "2026-01-01T00:00:00Z",
    }


async def publish_orders(audit: Audit, n: int) -> None:
    for i in range(n):
        data, headers, _ = event(
            "segflow.order.line.placed", f"O{i}", {"order_id": f"O{i}"}, at=utc(2026, 1, 1 + i)
        )
        await audit.bus.publish(topics.ERP_ORDERS, f"O{i}".encode(), data, headers)


async def test_auth_roles(audit: Audit) -> None:
    async with client(audit) as c:
        assert (await c.get("/v1/audit/entries")).status_code == 401
    async with client(audit, "approver") as c:
        assert (await c.get("/v1/audit/entries")).status_code == 403
    for role in ("planner", "finance", "admin"):
        async with client(audit, role) as c:
            assert (await c.get("/v1/audit/entries")).status_code == 200
    async with client(audit, "planner") as c:
        assert (await c.post("/v1/audit/erasures", json={"subject": "x"})).status_code == 403
        assert (await c.get("/v1/audit/export")).status_code == 403


async def test_entries_filters_and_cursor_paging(audit: Audit) -> None:
    await publish_orders(audit, 7)
    data, headers, _ = event("segflow.inventory.position", "SKU1@S1", {"sku": "SKU1"}, at=utc(2026, 1, 3))
    await audit.bus.publish(topics.WMS_INVENTORY, b"SKU1@S1", data, headers)
    await audit.wait_for(8)
    async with client(audit, "planner") as c:
        seen, seqs, cursor = [], [], None
        while True:
            params = {"topic": topics.ERP_ORDERS, "limit": 3} | ({"cursor": cursor} if cursor else {})
            body = (await c.get("/v1/audit/entries", params=params)).json()
            seen += [item["subject"] for item in body["items"]]
            seqs += [item["seq"] for item in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == [f"O{i}" for i in range(7)]  # capture order = partition interleaving
        assert seqs == sorted(seqs) and len(set(seqs)) == 7
        by_type = (await c.get("/v1/audit/entries", params={"type": "segflow.inventory.position"})).json()
        assert [i["key"] for i in by_type["items"]] == ["SKU1@S1"]
        by_subject = (await c.get("/v1/audit/entries", params={"subject": "O4"})).json()["items"]
        assert len(by_subject) == 1 and by_subject[0]["payload"] == {"order_id": "O4"}
        window = {"from": "2026-01-02T00:00:00Z", "to": "2026-01-04T00:00:00Z"}
        in_window = (await c.get("/v1/audit/entries", params=window)).json()["items"]
        assert sorted(i["subject"] for i in in_window) == ["O1", "O2", "SKU1@S1"]
        bad = await c.get("/v1/audit/entries", params={"cursor": "abc"})
        assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")
        assert (await c.get("/v1/audit/entries", params={"limit": 0})).status_code == 400


async def test_segment_as_of_returns_the_assignment_in_effect_and_retirement(audit: Audit) -> None:
    key = b"customer:C1"
    for day, segment in ((1, "SILVER"), (10, "GOLD")):
        payload = {"dimension": "customer", "entity_id": "C1", "segment": segment, "revenue": 1000.0}
        data, headers, _ = event("segflow.segment.assigned", "customer:C1", payload, at=utc(2026, 1, day))
        await audit.bus.publish(topics.SEGMENTS_ASSIGNMENTS, key, data, headers)
    tomb_headers = [("ce_id", b"retire-1"), ("ce_time", b"2026-02-01T00:00:00Z")]
    await audit.bus.publish(topics.SEGMENTS_ASSIGNMENTS, key, None, tomb_headers)
    await audit.wait_for(3)
    async with client(audit, "planner") as c:
        url = "/v1/audit/segments/customer/C1"
        early = await c.get(url, params={"as_of": "2025-12-31T00:00:00Z"})
        assert early.status_code == 404
        mid = (await c.get(url, params={"as_of": "2026-01-05T12:00:00+02:00"})).json()
        assert mid["status"] == "assigned" and mid["assignment"]["segment"] == "SILVER"
        assert mid["assignment"]["revenue"] is None  # planners do not see financials
        assert mid["entry"]["seq"] == 0
        late = (await c.get(url, params={"as_of": "2026-01-20T00:00:00Z"})).json()
        assert late["assignment"]["segment"] == "GOLD" and late["entry"]["seq"] == 1
        retired = (await c.get(url, params={"as_of": "2026-03-01T00:00:00Z"})).json()
        assert retired["status"] == "retired" and retired["entry"]["event_id"] == "retire-1"
    async with client(audit, "finance") as c:
        mid = (await c.get(url, params={"as_of": "2026-01-05T00:00:00Z"})).json()
        assert mid["assignment"]["revenue"] == 1000.0


async def test_verify_checkpoint_and_proofs_check_out_independently(audit: Audit, tmp_path: Path) -> None:
    await publish_orders(audit, 12)
    await audit.wait_for(12)
    async with client(audit, "finance") as c:
        verify = (await c.get("/v1/audit/verify")).json()
        assert verify["ok"] is True and verify["entries"] == 12 and verify["first_bad_seq"] is None
        latest = (await c.get("/v1/audit/checkpoints/latest")).json()
        size = latest["tree_head"]["tree_size"]
        assert size >= 5
        for seq in range(size):
            doc = (await c.get(f"/v1/audit/proofs/inclusion/{seq}", params={"tree_size": size})).json()
            ok, why = verify_inclusion_document(doc["proof"], doc["tree_head"], doc["public_key"])
            assert ok, why
        doc = (await c.get("/v1/audit/proofs/inclusion/3", params={"tree_size": size})).json()
        path = tmp_path / "proof.json"
        path.write_text(json.dumps(doc))
        result = CliRunner().invoke(cli_app, ["verify-proof", str(path), "--public-key", doc["public_key"]])
        assert result.exit_code == 0, result.output
        forged = json.loads(json.dumps(doc))
        forged["proof"]["entry_hash"] = "00" * 32
        path.write_text(json.dumps(forged))
        result = CliRunner().invoke(cli_app, ["verify-proof", str(path), "--public-key", doc["public_key"]])
        assert result.exit_code == 1 and "FAILED" in result.output
        assert (await c.get("/v1/audit/proofs/inclusion/3", params={"tree_size": 7})).status_code == 404
        # a second tree head, then consistency between the two
        await publish_orders_more(audit, 12, 20)
        await audit.wait_for(20)
        latest2 = (await c.get("/v1/audit/checkpoints/latest")).json()["tree_head"]["tree_size"]
        assert latest2 > size
        cons = (await c.get("/v1/audit/proofs/consistency", params={"from": size, "to": latest2})).json()
        ok, why = verify_consistency_document(
            cons["proof"], cons["old_tree_head"], cons["new_tree_head"], cons["public_key"]
        )
        assert ok, why
        path.write_text(json.dumps(cons))
        result = CliRunner().invoke(cli_app, ["verify-proof", str(path), "--public-key", cons["public_key"]])
        assert result.exit_code == 0, result.output
        assert (await c.get("/v1/audit/proofs/consistency", params={"from": 9, "to": 3})).status_code == 400


async def publish_orders_more(audit: Audit, start: int, end: int) -> None:
    for i in range(start, end):
        data, headers, _ = event("segflow.order.line.placed", f"O{i}", {"order_id": f"O{i}"})
        await audit.bus.publish(topics.ERP_ORDERS, f"O{i}".encode(), data, headers)


async def test_export_is_jsonl_with_inclusion_proofs(audit: Audit) -> None:
    await publish_orders(audit, 7)
    await audit.wait_for(7)
    async with client(audit, "admin") as c:
        resp = await c.get("/v1/audit/export", params={"from": 2, "to": 6})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in resp.content.splitlines()]
    header, entries = lines[0], lines[1:]
    assert [e["seq"] for e in entries] == [2, 3, 4, 5]
    assert header["tree_head"]["tree_size"] == 7  # export signs the current size first
    for e in entries:
        ok, why = verify_inclusion_document(e["inclusion_proof"], header["tree_head"], header["public_key"])
        assert ok, why


async def test_personal_fields_are_encrypted_and_erasure_shows_erased_while_the_chain_verifies(
    audit: Audit,
) -> None:
    data, headers, _ = event("segflow.customer.upserted", "SAP-EU:C1", customer("C1", "ann@example.com"))
    await audit.bus.publish(topics.MDM_CUSTOMERS, b"SAP-EU:C1", data, headers)
    other, oh, _ = event("segflow.customer.upserted", "SAP-EU:C2", customer("C2", "bob@example.com"))
    await audit.bus.publish(topics.MDM_CUSTOMERS, b"SAP-EU:C2", other, oh)
    rows = await audit.wait_for(2)
    stored = bytes(rows[0].payload)
    assert b"ann@example.com" not in stored and b"Ann Lee" not in stored and b"buyer" in stored
    async with client(audit, "admin") as c:
        before = (await c.get("/v1/audit/entries", params={"subject": "SAP-EU:C1"})).json()["items"][0]
        assert before["payload"]["contacts"][0]["email"] == "ann@example.com"
        assert before["personal_data_erased"] is False
        resp = await c.post("/v1/audit/erasures", json={"subject": "SAP-EU:C1"})
        assert resp.status_code == 200 and resp.json()["keys_deleted"] == 1
        after = (await c.get("/v1/audit/entries", params={"subject": "SAP-EU:C1"})).json()["items"][0]
        contact = after["payload"]["contacts"][0]
        assert contact == {"name": "[erased]", "email": "[erased]", "phone": "[erased]", "role": "buyer"}
        assert after["personal_data_erased"] is True
        assert after["entry_hash"] == before["entry_hash"]
        untouched = (await c.get("/v1/audit/entries", params={"subject": "SAP-EU:C2"})).json()["items"][0]
        assert untouched["payload"]["contacts"][0]["email"] == "bob@example.com"
        verify = (await c.get("/v1/audit/verify")).json()
        assert verify["ok"] is True
        assert (await c.post("/v1/audit/erasures", json={"subject": "nobody"})).status_code == 404
        assert (await c.post("/v1/audit/erasures", json={})).status_code == 400
