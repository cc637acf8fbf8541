"""Reading entries: by seq range, the Merkle leaves and stored subtree roots behind proofs, filtered
searches with cursor paging, the assignment in effect at an instant, and capture-time spans (archives)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.domain.chain import ChainEntry
from services.audit.store.chain import dialect
from services.audit.store.tables import entries, subtrees


async def subtree_roots(
    session: AsyncSession, wanted: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """The stored roots among the wanted ``(level, index)`` subtrees (one query)."""
    keys = sorted(set(wanted))
    if not keys:
        return {}
    condition = sa.tuple_(subtrees.c.level, subtrees.c.idx).in_(keys)
    rows = await session.execute(
        sa.select(subtrees.c.level, subtrees.c.idx, subtrees.c.root_hash).where(condition)
    )
    return {(r.level, r.idx): bytes(r.root_hash) for r in rows}


async def entry_hashes_between(session: AsyncSession, first: int, end: int) -> list[bytes]:
    """Entry hashes of seq ``first .. end-1`` in order (one range read on the primary key)."""
    rows = await session.execute(
        sa.select(entries.c.entry_hash)
        .where(entries.c.seq >= first, entries.c.seq < end)
        .order_by(entries.c.seq)
    )
    return [bytes(r[0]) for r in rows]


def chain_entry(row: Any) -> ChainEntry:
    """A stored row as the chain sees it (headers decoded from their JSON column)."""
    headers = tuple((str(n), str(v)) for n, v in json.loads(row.headers))
    return ChainEntry(
        seq=row.seq,
        topic=row.topic,
        partition=row.kafka_partition,
        offset=row.kafka_offset,
        key=row.key,
        headers=headers,
        type=row.type,
        subject=row.subject,
        event_time=row.event_time,
        event_id=row.event_id,
        payload_sha256=row.payload_sha256,
        payload=None if row.payload is None else bytes(row.payload),
        entry_hash=bytes(row.entry_hash),
    )


async def snapshot(session: AsyncSession) -> None:
    """PostgreSQL: make the rest of this read transaction one snapshot (REPEATABLE READ); SQLite's read
    transaction already is one."""
    if dialect(session) == "postgresql":
        await session.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))


async def entries_in_order(
    session: AsyncSession, *, first: int = 0, end: int | None = None, limit: int | None = None
) -> list[Any]:
    """Rows with ``first <= seq < end`` in seq order (all columns), at most ``limit`` of them."""
    query = sa.select(entries).where(entries.c.seq >= first).order_by(entries.c.seq)
    if end is not None:
        query = query.where(entries.c.seq < end)
    if limit is not None:
        query = query.limit(limit)
    return list((await session.execute(query)).all())


async def entry_by_seq(session: AsyncSession, seq: int) -> Any | None:
    return (await session.execute(sa.select(entries).where(entries.c.seq == seq))).first()


async def search_entries(
    session: AsyncSession,
    *,
    after_seq: int | None,
    limit: int,
    subject: str | None = None,
    type: str | None = None,
    topic: str | None = None,
    key: str | None = None,
    from_us: int | None = None,
    to_us: int | None = None,
) -> list[Any]:
    """Entries matching every given filter, ascending by seq after the cursor (event time in [from, to))."""
    query = sa.select(entries).order_by(entries.c.seq).limit(limit)
    if after_seq is not None:
        query = query.where(entries.c.seq > after_seq)
    for column, value in ((entries.c.subject, subject), (entries.c.type, type), (entries.c.topic, topic)):
        if value is not None:
            query = query.where(column == value)
    if key is not None:
        query = query.where(entries.c.key == key)
    if from_us is not None:
        query = query.where(entries.c.event_us >= from_us)
    if to_us is not None:
        query = query.where(entries.c.event_us < to_us)
    return list((await session.execute(query)).all())


async def latest_for_key(session: AsyncSession, *, topic: str, key: str, at_or_before_us: int) -> Any | None:
    """The last entry of ``topic`` with record key ``key`` whose event time is at or before the instant."""
    # the topic as a literal so the planner can use the partial index ix_audit_entries_assignment_key
    # (migration 0002: (key, event_us) WHERE topic = the assignments topic) under prepared statements
    same_topic = entries.c.topic == sa.literal(topic, literal_execute=True)
    query = (
        sa.select(entries)
        .where(same_topic, entries.c.key == key, entries.c.event_us <= at_or_before_us)
        .order_by(entries.c.event_us.desc(), entries.c.seq.desc())
        .limit(1)
    )
    return (await session.execute(query)).first()


async def seq_range_captured(session: AsyncSession, from_us: int, to_us: int) -> tuple[int, int] | None:
    """(first, last) seq captured in [from_us, to_us), or None when nothing was."""
    row = (
        await session.execute(
            sa.select(sa.func.min(entries.c.seq), sa.func.max(entries.c.seq)).where(
                entries.c.captured_us >= from_us, entries.c.captured_us < to_us
            )
        )
    ).one()
    return None if row[0] is None else (int(row[0]), int(row[1]))
