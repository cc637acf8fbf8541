"""Migration 0003 on SQLite: hex dedup keys become 16 binary bytes in place, duplicates stored before the
upgrade are still refused, the chain still verifies and the append-only UPDATE trigger is back."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa

from contracts import topics
from services.audit.sealing import dedup_key, unique_drafts
from services.runtime.bus.base import Record
from services.runtime.settings import Settings
from tests.unit.audit.dedup_migration_support import check_upgrade_keeps_dedup


async def test_upgrade_converts_hex_keys_and_keeps_dedup_and_triggers(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, mode="embedded", env="test", jwt_secret="t-" + "x" * 32)
    db = await check_upgrade_keeps_dedup(settings, tmp_path)
    try:
        async with db.read() as session:
            kinds = await session.execute(sa.text("SELECT DISTINCT typeof(dedup_key) FROM audit_entries"))
            assert [k for (k,) in kinds] == ["blob"]
        with pytest.raises(sa.exc.DBAPIError, match="append-only: UPDATE refused"):
            async with db.unit_of_work() as session:
                await session.execute(sa.text("UPDATE audit_entries SET topic = 'x' WHERE seq = 0"))
        with pytest.raises(sa.exc.DBAPIError, match="append-only: DELETE refused"):
            async with db.unit_of_work() as session:
                await session.execute(sa.text("DELETE FROM audit_entries WHERE seq = 0"))
    finally:
        await db.stop()


def _record(
    topic: str, headers: tuple[tuple[str, bytes], ...], partition: int = 2, offset: int = 7
) -> Record:
    return Record(topic, partition, offset, b"k", b"{}", headers, 1_767_225_600_000)


def test_dedup_key_is_16_bytes_of_sha256_per_the_rule() -> None:
    """Independent computation of the documented rule (``sealing`` module docstring)."""
    event = _record(topics.ERP_ORDERS, (("ce_id", b"evt-1"), ("ce_id", b"later")))  # first occurrence wins
    assert dedup_key(event) == (hashlib.sha256(b"segflow.erp.orders.v1|evt-1").digest()[:16], "evt-1")
    dlq_headers = (
        ("ce_id", b"evt-1"), (topics.DLQ_HEADER_CONSUMER, b"policy"), (topics.DLQ_HEADER_TOPIC, b"t"),
        (topics.DLQ_HEADER_PARTITION, b"0"), (topics.DLQ_HEADER_OFFSET, b"9"),
    )  # fmt: skip
    expected = hashlib.sha256(f"{topics.DLQ}|evt-1|policy|t|0|9".encode()).digest()[:16]
    assert dedup_key(_record(topics.DLQ, dlq_headers)) == (expected, "evt-1")
    tombstone = _record(topics.ERP_ORDERS, ())
    full = hashlib.sha256(b"segflow.erp.orders.v1|2|7").digest()
    assert dedup_key(tombstone) == (full[:16], full.hex())  # the event id keeps the full hex digest
    drafts = unique_drafts([event, tombstone, event])
    assert [d.dedup_key for d in drafts] == [dedup_key(event)[0], full[:16]]
