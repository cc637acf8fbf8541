"""Every table and query of the audit service (SQLAlchemy Core; PostgreSQL and SQLite alike).

``audit_entries`` and ``audit_checkpoints`` are append-only (triggers, and on PostgreSQL an application
role with INSERT/SELECT only; see migrations). ``audit_chain_head`` is the single row the capture writer
locks (``SELECT ... FOR UPDATE`` on PostgreSQL) so sequence numbers are gap-free with several writers;
it also persists the Merkle frontier so the root updates incrementally. ``audit_subject_keys`` holds the
per-data-subject keys that erasure deletes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import sqlalchemy.dialects.postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.domain.chain import ChainEntry
from services.audit.domain.checkpoint import SignedTreeHead
from services.audit.domain.frontier import MerkleFrontier

metadata = sa.MetaData()
BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

entries = sa.Table(
    "audit_entries",
    metadata,
    sa.Column("seq", BIGINT, primary_key=True, autoincrement=False),
    sa.Column("topic", sa.String(255), nullable=False),
    sa.Column("kafka_partition", sa.Integer, nullable=False),
    sa.Column("kafka_offset", sa.BigInteger, nullable=False),
    sa.Column("key", sa.Text),
    sa.Column("headers", sa.Text, nullable=False),
    sa.Column("type", sa.String(255)),
    sa.Column("subject", sa.Text),
    sa.Column("event_time", sa.String(64)),
    sa.Column("event_id", sa.Text),
    sa.Column("payload_sha256", sa.String(64)),
    sa.Column("payload", sa.LargeBinary),
    sa.Column("entry_hash", sa.LargeBinary, nullable=False),
    sa.Column("dedup_key", sa.String(64), nullable=False, unique=True),
    sa.Column("event_us", sa.BigInteger),
    sa.Column("captured_us", sa.BigInteger, nullable=False),
)

# Roots of completed perfect Merkle subtrees of 2^level leaves (level >= sealing.SUBTREE_MIN_LEVEL), leaves
# [idx * 2^level, (idx + 1) * 2^level): proofs read O(log n) of these instead of every entry hash.
subtrees = sa.Table(
    "audit_subtrees",
    metadata,
    sa.Column("level", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("idx", BIGINT, primary_key=True, autoincrement=False),
    sa.Column("root_hash", sa.LargeBinary, nullable=False),
)

checkpoints = sa.Table(
    "audit_checkpoints",
    metadata,
    sa.Column("tree_size", BIGINT, primary_key=True, autoincrement=False),
    sa.Column("root_hash", sa.LargeBinary, nullable=False),
    sa.Column("timestamp", sa.String(64), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("signature", sa.LargeBinary, nullable=False),
    sa.Column("public_key", sa.LargeBinary, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
)

chain_head = sa.Table(
    "audit_chain_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("last_hash", sa.LargeBinary, nullable=False),
    sa.Column("frontier", sa.LargeBinary, nullable=False),
    sa.Column("checkpoint_size", sa.BigInteger, nullable=False),
    sa.Column("checkpoint_us", sa.BigInteger, nullable=False),
)

subject_keys = sa.Table(
    "audit_subject_keys",
    metadata,
    sa.Column("kid", sa.String(32), primary_key=True),
    sa.Column("subject", sa.String(512), nullable=False),
    sa.Column("key", sa.LargeBinary, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
)

erasures = sa.Table(
    "audit_erasures",
    metadata,
    sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
    sa.Column("subject", sa.String(512), nullable=False),
    sa.Column("keys_deleted", sa.Integer, nullable=False),
    sa.Column("requested_by", sa.String(255), nullable=False),
    sa.Column("erased_us", sa.BigInteger, nullable=False),
)


@dataclass
class Head:
    """The chain head: next seq (= size), last entry hash, Merkle frontier, last checkpoint."""

    size: int
    last_hash: bytes
    frontier: MerkleFrontier
    checkpoint_size: int
    checkpoint_us: int


def _frontier_bytes(frontier: MerkleFrontier) -> bytes:
    return b"".join(frontier.hashes)


def _frontier_of(size: int, blob: bytes) -> MerkleFrontier:
    return MerkleFrontier(size, [blob[i : i + 32] for i in range(0, len(blob), 32)])


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _driver(session: AsyncSession) -> str:
    return str(session.get_bind().dialect.driver)


async def set_role(session: AsyncSession, role: str | None) -> None:
    """PostgreSQL: act as the application role for the rest of the transaction."""
    if role and _dialect(session) == "postgresql":
        await session.execute(sa.text(f'SET LOCAL ROLE "{role}"'))


async def lock_head(session: AsyncSession) -> Head:
    """Read the chain head, locking its row until commit (PostgreSQL; SQLite has a single writer)."""
    query = sa.select(chain_head).where(chain_head.c.id == 1)
    if _dialect(session) == "postgresql":
        query = query.with_for_update()
    row = (await session.execute(query)).one()
    return Head(
        row.size, bytes(row.last_hash), _frontier_of(row.size, bytes(row.frontier)),
        row.checkpoint_size, row.checkpoint_us,
    )  # fmt: skip


async def read_head(session: AsyncSession) -> Head:
    row = (await session.execute(sa.select(chain_head).where(chain_head.c.id == 1))).one()
    return Head(
        row.size, bytes(row.last_hash), _frontier_of(row.size, bytes(row.frontier)),
        row.checkpoint_size, row.checkpoint_us,
    )  # fmt: skip


async def save_head(session: AsyncSession, head: Head) -> None:
    await session.execute(
        chain_head.update()
        .where(chain_head.c.id == 1)
        .values(
            size=head.size,
            last_hash=head.last_hash,
            frontier=_frontier_bytes(head.frontier),
            checkpoint_size=head.checkpoint_size,
            checkpoint_us=head.checkpoint_us,
        )
    )


async def existing_dedup_keys(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    """The given dedup keys already stored (PostgreSQL: one array parameter instead of N)."""
    if not keys:
        return set()
    if _dialect(session) == "postgresql":
        query = sa.text("SELECT dedup_key FROM audit_entries WHERE dedup_key = ANY(:keys)").bindparams(
            sa.bindparam("keys", type_=sa.dialects.postgresql.ARRAY(sa.String))
        )
        return {r[0] for r in await session.execute(query, {"keys": list(keys)})}
    rows = await session.execute(sa.select(entries.c.dedup_key).where(entries.c.dedup_key.in_(list(keys))))
    return {r[0] for r in rows}


ENTRY_COLUMNS: tuple[str, ...] = tuple(c.name for c in entries.columns)


async def insert_entries(session: AsyncSession, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert rows (tuples in ``ENTRY_COLUMNS`` order) in the session's transaction: binary COPY on
    PostgreSQL (asyncpg), executemany elsewhere."""
    if not rows:
        return
    if _dialect(session) == "postgresql" and _driver(session) == "asyncpg":
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        await driver.copy_records_to_table(entries.name, records=rows, columns=list(ENTRY_COLUMNS))
        return
    await session.execute(entries.insert(), [dict(zip(ENTRY_COLUMNS, row, strict=True)) for row in rows])


def is_unique_violation(exc: BaseException) -> bool:
    """True for a unique-constraint violation from asyncpg (raw COPY) or SQLAlchemy (any driver)."""
    if isinstance(exc, sa.exc.IntegrityError):
        exc = exc.orig or exc
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if sqlstate is not None:
        return bool(sqlstate == "23505")
    return "UNIQUE constraint failed" in str(exc)


async def insert_subtrees(session: AsyncSession, roots: Sequence[tuple[int, int, bytes]]) -> None:
    """Store completed perfect subtree roots ``(level, index, root)`` (see ``subtrees``)."""
    if roots:
        await session.execute(
            subtrees.insert(), [{"level": lv, "idx": i, "root_hash": r} for lv, i, r in roots]
        )


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
    if _dialect(session) == "postgresql":
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


async def entry_hashes(session: AsyncSession, end: int) -> list[bytes]:
    """Entry hashes of seq 0..end-1 in order (the Merkle leaves)."""
    rows = await session.execute(
        sa.select(entries.c.entry_hash).where(entries.c.seq < end).order_by(entries.c.seq)
    )
    return [bytes(r[0]) for r in rows]


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


# checkpoints ----------------------------------------------------------------------------------------------


async def insert_checkpoint(
    session: AsyncSession, head: SignedTreeHead, public_key: bytes, now_us: int
) -> None:
    await session.execute(
        checkpoints.insert().values(
            tree_size=head.tree_size,
            root_hash=head.root_hash,
            timestamp=head.timestamp,
            key_id=head.key_id,
            signature=head.signature,
            public_key=public_key,
            created_us=now_us,
        )
    )


def _tree_head(row: Any) -> SignedTreeHead:
    return SignedTreeHead(
        row.tree_size, bytes(row.root_hash), row.timestamp, row.key_id, bytes(row.signature)
    )


async def all_checkpoints(session: AsyncSession) -> list[SignedTreeHead]:
    rows = await session.execute(sa.select(checkpoints).order_by(checkpoints.c.tree_size))
    return [_tree_head(r) for r in rows]


async def checkpoints_after(session: AsyncSession, after: int | None, limit: int) -> list[SignedTreeHead]:
    """Tree heads with ``tree_size > after`` (all when None), ascending by size, at most ``limit``."""
    query = sa.select(checkpoints).order_by(checkpoints.c.tree_size).limit(limit)
    if after is not None:
        query = query.where(checkpoints.c.tree_size > after)
    return [_tree_head(r) for r in await session.execute(query)]


async def latest_checkpoint(session: AsyncSession) -> SignedTreeHead | None:
    row = (
        await session.execute(sa.select(checkpoints).order_by(checkpoints.c.tree_size.desc()).limit(1))
    ).first()
    return None if row is None else _tree_head(row)


async def checkpoint_of_size(session: AsyncSession, size: int) -> SignedTreeHead | None:
    row = (await session.execute(sa.select(checkpoints).where(checkpoints.c.tree_size == size))).first()
    return None if row is None else _tree_head(row)


async def first_checkpoint_covering(session: AsyncSession, seq: int) -> SignedTreeHead | None:
    """The latest checkpoint (largest tree) that includes ``seq``."""
    row = (
        await session.execute(
            sa.select(checkpoints)
            .where(checkpoints.c.tree_size > seq)
            .order_by(checkpoints.c.tree_size.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else _tree_head(row)


# subject keys and erasure ---------------------------------------------------------------------------------


async def keys_for_subjects(session: AsyncSession, subjects: Iterable[str]) -> dict[str, tuple[str, bytes]]:
    """subject -> (kid, key) of the newest key of each subject that has one."""
    wanted = sorted(set(subjects))
    if not wanted:
        return {}
    rows = await session.execute(
        sa.select(subject_keys)
        .where(subject_keys.c.subject.in_(wanted))
        .order_by(subject_keys.c.created_us, subject_keys.c.kid)
    )
    return {r.subject: (r.kid, bytes(r.key)) for r in rows}


async def keys_by_kid(session: AsyncSession, kids: Iterable[str]) -> dict[str, tuple[str, bytes]]:
    """kid -> (subject, key) for the kids that still exist."""
    wanted = sorted(set(kids))
    if not wanted:
        return {}
    rows = await session.execute(sa.select(subject_keys).where(subject_keys.c.kid.in_(wanted)))
    return {r.kid: (r.subject, bytes(r.key)) for r in rows}


async def insert_subject_key(session: AsyncSession, kid: str, subject: str, key: bytes, now_us: int) -> None:
    await session.execute(subject_keys.insert().values(kid=kid, subject=subject, key=key, created_us=now_us))


async def subject_known(session: AsyncSession, subject: str) -> bool:
    have_key = await session.execute(sa.select(subject_keys.c.kid).where(subject_keys.c.subject == subject))
    if have_key.first() is not None:
        return True
    erased = await session.execute(sa.select(erasures.c.id).where(erasures.c.subject == subject))
    return erased.first() is not None


async def erase_subject(session: AsyncSession, subject: str, requested_by: str, now_us: int) -> int:
    """Delete every key of ``subject`` and log the erasure; returns how many keys were deleted."""
    result = await session.execute(subject_keys.delete().where(subject_keys.c.subject == subject))
    deleted = int(result.rowcount or 0)  # type: ignore[attr-defined]
    await session.execute(
        erasures.insert().values(
            subject=subject, keys_deleted=deleted, requested_by=requested_by, erased_us=now_us
        )
    )
    return deleted


async def erasure_of(session: AsyncSession, subject: str) -> Any | None:
    return (
        await session.execute(
            sa.select(erasures).where(erasures.c.subject == subject).order_by(erasures.c.id.desc()).limit(1)
        )
    ).first()
