"""Fixtures for the audit service unit tests: an embedded host (MemoryBus + SQLite) and record builders."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import rfc8785
import sqlalchemy as sa

from contracts.envelope import new_envelope, to_headers
from services.audit import app, store
from services.audit.config import AuditSettings
from services.runtime.bus.memory import MemoryBus
from services.runtime.settings import Settings
from tests.support.waiting import eventually


@dataclass
class Audit:
    host: app.AuditHost
    bus: MemoryBus
    settings: Settings

    async def rows(self) -> list[Any]:
        async with self.host.db.read() as session:
            return await store.entries_in_order(session)

    async def wait_for(self, n: int) -> list[Any]:
        async def enough() -> bool:
            return len(await self.rows()) >= n

        await eventually(enough, what=f"{n} audit entries")
        return await self.rows()

    async def execute(self, sql: str) -> None:
        async with self.host.db.unit_of_work() as session:
            await session.execute(sa.text(sql))


async def start_audit(tmp_path: Path, **audit: Any) -> AsyncIterator[Audit]:
    bus = MemoryBus()
    settings = Settings(data_dir=tmp_path, mode="embedded")
    host = app.build(settings, bus=bus, audit=AuditSettings(**audit))
    await host.start()
    try:
        yield Audit(host, bus, settings)
    finally:
        await host.stop()


def event(
    type: str, subject: str, payload: dict[str, Any], *, id: str | None = None, at: datetime | None = None
):  # type: ignore[no-untyped-def]
    env = new_envelope(source="test/audit", type=type, subject=subject, payload=payload, id=id, time=at)
    assert env.data is not None
    return env.data, to_headers(env), env


def independent_entry_hash(prev: bytes, row: Any) -> bytes:
    """SHA-256(prev || RFC 8785 JSON of the metadata), written from the issue's rule, not from chain.py."""
    import json

    meta = {
        "seq": row.seq,
        "topic": row.topic,
        "partition": row.kafka_partition,
        "offset": row.kafka_offset,
        "key": row.key,
        "headers": json.loads(row.headers),
        "type": row.type,
        "subject": row.subject,
        "event_time": row.event_time,
        "event_id": row.event_id,
        "payload_sha256": None if row.payload is None else hashlib.sha256(bytes(row.payload)).hexdigest(),
    }
    return hashlib.sha256(prev + rfc8785.dumps(meta)).digest()


def independent_mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 MTH by the recursive definition (largest power of two < n split)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + independent_mth(leaves[:k]) + independent_mth(leaves[k:])).digest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]
