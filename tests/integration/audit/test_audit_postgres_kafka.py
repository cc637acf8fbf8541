"""The audit log on REAL PostgreSQL and Kafka: capture from the broker, the application role and the
triggers refuse UPDATE/DELETE/TRUNCATE, a superuser's edits/deletes/reorders are named by verify, and
erasure keeps the chain verifying."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
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
from services.runtime.auth import issue_token
from services.runtime.settings import Settings
from tests.support.waiting import eventually

APP_ROLE = "segflow_audit_app"


@dataclass
class Live:
    host: app.AuditHost
    settings: Settings
    dsn: str

    async def rows(self) -> list[Any]:
        async with self.host.db.read() as session:
            return await store.entries_in_order(session)

    async def wait_for(self, n: int) -> list[Any]:
        async def enough() -> bool:
            return len(await self.rows()) >= n

        await eventually(enough, timeout=120, what=f"{n} audit entries from Kafka")
        return await self.rows()

    async def verify(self) -> dict[str, Any]:
        return await reader.verify_all(self.host.db, self.host.state["signing"])

    async def superuser(self) -> asyncpg.Connection:
        con = await asyncpg.connect(self.dsn)
        await con.execute("SET search_path TO audit")
        return con


@pytest.fixture
async def live(
    fresh_database: str, kafka_bootstrap: str, topic_namespace: str, tmp_path: Path
) -> AsyncIterator[Live]:
    settings = Settings(
        mode="distributed", env="test", jwt_secret="test-secret-0123456789abcdef0123456789",
        database_url=fresh_database, kafka_bootstrap=kafka_bootstrap, topic_namespace=topic_namespace,
        topic_partitions=3, data_dir=tmp_path,
    )  # fmt: skip
    audit = AuditSettings(checkpoint_every_n=5, checkpoint_every_s=3600, db_role=APP_ROLE)
    host = app.build(settings, audit=audit)
    await host.start()
    dsn = make_url(fresh_database).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        yield Live(host, settings, dsn)
    finally:
        await host.stop()


async def publish(
    live: Live, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
) -> None:
    await live.host.bus.publish(topic, key, value, headers)


def order(i: int) -> tuple[bytes, list[tuple[str, bytes]]]:
    env = new_envelope(
        source="erp/test",
        type="segflow.order.line.placed",
        subject=f"O{i}",
        payload={"order_id": f"O{i}", "i": i},
    )
    assert env.data is not None
    return env.data, to_headers(env)


async def fill(live: Live, n: int) -> list[Any]:
    for i in range(n):
        data, headers = order(i)
        await publish(live, topics.ERP_ORDERS, f"O{i}".encode(), data, headers)
    return await live.wait_for(n)


async def test_records_on_the_broker_are_captured_exactly_and_verify(live: Live) -> None:
    data, headers = order(1)
    await publish(live, topics.ERP_ORDERS, b"O1", data, headers)
    await publish(live, topics.ERP_ORDERS, b"O1", data, headers)  # duplicate
    await publish(live, topics.WMS_INVENTORY, b"X@Y", b"\x00garbage\xff", [("ce_id", b"g-1")])
    await publish(live, topics.DLQ, b"O1", data, [*headers, ("dlq_consumer", b"policy"), ("dlq_topic", topics.ERP_ORDERS.encode()),
                                                  ("dlq_partition", b"0"), ("dlq_offset", b"0")])  # fmt: skip
    await publish(live, topics.SEGMENTS_ASSIGNMENTS, b"product:P1", None, [])
    rows = await live.wait_for(4)
    assert [r.seq for r in rows] == [0, 1, 2, 3]
    payloads = sorted((r.topic, None if r.payload is None else bytes(r.payload)) for r in rows)
    assert payloads == sorted([
        (topics.ERP_ORDERS, data), (topics.WMS_INVENTORY, b"\x00garbage\xff"), (topics.DLQ, data),
        (topics.SEGMENTS_ASSIGNMENTS, None),
    ])  # fmt: skip
    result = await live.verify()
    assert result["ok"], result


async def test_application_role_and_triggers_refuse_update_delete_truncate(live: Live) -> None:
    await fill(live, 3)
    con = await live.superuser()
    try:
        for sql in (
            "UPDATE audit_entries SET subject = 'x'",
            "DELETE FROM audit_entries",
            "TRUNCATE audit_entries",
        ):
            async with con.transaction():
                await con.execute(f"SET LOCAL ROLE {APP_ROLE}")
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await con.execute(sql)
                    raise AssertionError(f"{sql} was allowed for the application role")
        # the owner/superuser is stopped by the ENABLE ALWAYS triggers, even in replica mode
        for sql in (
            "UPDATE audit_entries SET subject = 'x'",
            "DELETE FROM audit_entries",
            "TRUNCATE audit_entries",
        ):
            async with con.transaction():
                await con.execute("SET LOCAL session_replication_role = replica")
                with pytest.raises(asyncpg.PostgresError, match="append-only"):
                    await con.execute(sql)
        async with con.transaction():
            await con.execute(f"SET LOCAL ROLE {APP_ROLE}")
            assert await con.fetchval("SELECT count(*) FROM audit_entries") == 3  # SELECT is granted
        grants = await con.fetch(
            "SELECT privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = $1 AND table_name = 'audit_entries'", APP_ROLE,
        )  # fmt: skip
        assert sorted(g["privilege_type"] for g in grants) == ["INSERT", "SELECT"]
    finally:
        await con.close()
    assert len(await live.rows()) == 3


async def test_superuser_edit_delete_and_reorder_are_named_by_verify(live: Live) -> None:
    await fill(live, 12)
    assert (await live.verify())["ok"]
    con = await live.superuser()
    try:
        await con.execute("ALTER TABLE audit_entries DISABLE TRIGGER ALL")
        # edit
        original = await con.fetchval("SELECT subject FROM audit_entries WHERE seq = 3")
        await con.execute("UPDATE audit_entries SET subject = 'forged' WHERE seq = 3")
        result = await live.verify()
        assert not result["ok"] and result["first_bad_seq"] == 3, result
        await con.execute("UPDATE audit_entries SET subject = $1 WHERE seq = 3", original)
        assert (await live.verify())["ok"]
        # edit the payload bytes
        await con.execute("UPDATE audit_entries SET payload = '\\x7b7d'::bytea WHERE seq = 8")
        result = await live.verify()
        assert not result["ok"] and result["first_bad_seq"] == 8 and "payload" in result["reason"], result
        # delete (seq 8 is the first bad one already: delete an earlier row)
        row = await con.fetchrow("SELECT * FROM audit_entries WHERE seq = 4")
        await con.execute("DELETE FROM audit_entries WHERE seq = 4")
        result = await live.verify()
        assert not result["ok"] and result["first_bad_seq"] == 4, result
        cols = list(row.keys())
        await con.execute(
            f"INSERT INTO audit_entries ({', '.join(cols)}) VALUES ({', '.join(f'${i + 1}' for i in range(len(cols)))})",
            *row.values(),
        )
        # reorder rows 1 and 2 (swap their sequence numbers)
        await con.execute("UPDATE audit_entries SET seq = -1 WHERE seq = 1")
        await con.execute("UPDATE audit_entries SET seq = 1 WHERE seq = 2")
        await con.execute("UPDATE audit_entries SET seq = 2 WHERE seq = -1")
        result = await live.verify()
        assert not result["ok"] and result["first_bad_seq"] == 1, result
        # delete the tail: caught by the signed tree heads and the chain head
        await con.execute("DELETE FROM audit_entries WHERE seq >= 1")
        result = await live.verify()
        assert not result["ok"] and result["first_bad_seq"] == 1, result
    finally:
        await con.close()


async def test_erasure_keeps_the_chain_verifying(live: Live) -> None:
    payload = {
        "source": "SAP-EU", "source_id": "C9", "name": "ACME", "region": "EU", "country": "DE",
        "contacts": [{"name": "Ann Lee", "email": "ann@example.com", "phone": "+49 1"}],
        "updated_at": "2026-01-01T00:00:00Z",
    }  # fmt: skip
    env = new_envelope(
        source="mdm/test", type="segflow.customer.upserted", subject="SAP-EU:C9", payload=payload
    )
    assert env.data is not None
    await publish(live, topics.MDM_CUSTOMERS, b"SAP-EU:C9", env.data, to_headers(env))
    rows = await live.wait_for(1)
    assert b"ann@example.com" not in bytes(rows[0].payload)
    token = issue_token(live.settings, subject="dpo", roles=["admin"])
    transport = httpx.ASGITransport(app=live.host.app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", headers={"Authorization": f"Bearer {token}"}
    ) as c:
        before = (await c.get("/v1/audit/entries", params={"subject": "SAP-EU:C9"})).json()["items"][0]
        assert before["payload"]["contacts"][0]["email"] == "ann@example.com"
        assert (await c.post("/v1/audit/erasures", json={"subject": "SAP-EU:C9"})).status_code == 200
        after = (await c.get("/v1/audit/entries", params={"subject": "SAP-EU:C9"})).json()["items"][0]
        assert after["payload"]["contacts"][0] == {
            "name": "[erased]",
            "email": "[erased]",
            "phone": "[erased]",
        }
        verify = (await c.get("/v1/audit/verify")).json()
    assert verify["ok"], verify
    assert json.loads(bytes(rows[0].payload))["contacts"][0]["email"]["enc"] == "aesgcm"
