"""Shared body of the migration-0003 tests (SQLite here, real PostgreSQL in tests/integration/audit): a log
written at revision 0002 with the old 64-char hex dedup keys is upgraded; its keys must become the first 16
bytes of the same SHA-256, the chain must still verify, and records stored before the upgrade must still be
recognised as duplicates."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from contracts import topics
from services.audit import reader, store
from services.audit.app import MIGRATIONS
from services.audit.config import AuditSettings
from services.audit.keys import load_or_create
from services.audit.sealing import seal_drafts, unique_drafts
from services.audit.writer import ChainWriter
from services.runtime.bus.base import Record
from services.runtime.db import Database
from services.runtime.migrate import upgrade
from services.runtime.settings import Settings

# audit_entries as revisions 0001-0002 declared it: the dedup key as 64-char text
LEGACY_ENTRIES = sa.Table(
    "audit_entries",
    sa.MetaData(),
    *(sa.Column(c.name, sa.String(64) if c.name == "dedup_key" else c.type) for c in store.entries.columns),
)


def record(i: int) -> Record:
    headers = (("ce_id", str(uuid.UUID(int=i + 1)).encode()), ("ce_type", b"segflow.order.line.placed"))
    return Record(
        topics.ERP_ORDERS, i % 3, i, f"ORD-{i}".encode(), b'{"i":%d}' % i, headers, 1_767_225_600_000
    )


def old_hex_key(rec: Record) -> str:
    """The pre-0003 dedup key, written out independently: hex SHA-256 of ``topic|ce_id``."""
    ce_id = dict(rec.headers)["ce_id"].decode()
    return hashlib.sha256(f"{rec.topic}|{ce_id}".encode()).hexdigest()


async def write_old_log(db: Database, records: list[Record]) -> dict[int, str]:
    """At revision 0002: the sealed rows of ``records`` stored with hex dedup keys, and the head advanced."""
    old_keys = {i: old_hex_key(rec) for i, rec in enumerate(records)}
    async with db.unit_of_work() as session:
        head = await store.lock_head(session)
        drafts = unique_drafts(records)
        sealed = seal_drafts(
            head.last_hash, head.size, head.frontier, drafts, [d.record.value for d in drafts], 1
        )
        rows = [dict(zip(store.ENTRY_COLUMNS, row, strict=True)) for row in sealed.rows]
        for row in rows:
            row["dedup_key"] = old_keys[row["seq"]]
        await session.execute(LEGACY_ENTRIES.insert(), rows)
        await store.insert_subtrees(session, sealed.subtrees)
        head.size, head.last_hash, head.frontier = sealed.size, sealed.last_hash, sealed.frontier
        await store.save_head(session, head)
    return old_keys


async def stored_keys(db: Database) -> dict[int, Any]:
    async with db.read() as session:
        rows = await session.execute(sa.select(store.entries.c.seq, store.entries.c.dedup_key))
        return {int(seq): key for seq, key in rows}


async def check_upgrade_keeps_dedup(settings: Settings, data_dir: Path) -> Database:
    """Run the scenario; returns the (started) database for dialect-specific checks (caller stops it)."""
    db = Database("audit", settings)
    await db.start()
    await upgrade(db, MIGRATIONS, "0002")
    old = [record(i) for i in range(300)]
    old_keys = await write_old_log(db, old)
    assert set((await stored_keys(db)).values()) == set(old_keys.values())

    await upgrade(db, MIGRATIONS)  # 0003

    keys = await stored_keys(db)
    assert keys == {seq: bytes.fromhex(hex_key)[:16] for seq, hex_key in old_keys.items()}
    audit = AuditSettings(checkpoint_every_n=100, checkpoint_every_s=3600)
    writer = ChainWriter(db, load_or_create(settings.model_copy(update={"data_dir": data_dir}), audit), audit)
    again = await writer.append(old[100:200] + [record(i) for i in range(300, 350)])
    assert [e.seq for e in again] == list(range(300, 350))  # the 100 stored before the upgrade: duplicates
    assert [e.event_id for e in again] == [str(uuid.UUID(int=i + 1)) for i in range(300, 350)]
    assert await writer.append(old[:5]) == []
    check = await reader.verify_all(db, writer.signing)
    assert check["ok"] and check["entries"] == 350, check
    return db
