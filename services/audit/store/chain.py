"""Writing the chain: the head row (``SELECT ... FOR UPDATE`` on PostgreSQL so sequence numbers stay
gap-free with several writers; it persists the Merkle frontier so the root updates incrementally), the
application role, dedup lookups and the entry / subtree inserts (binary COPY on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import sqlalchemy.dialects.postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.domain.frontier import MerkleFrontier
from services.audit.store.tables import ENTRY_COLUMNS, chain_head, entries, subtrees


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


def dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _driver(session: AsyncSession) -> str:
    return str(session.get_bind().dialect.driver)


async def set_role(session: AsyncSession, role: str | None) -> None:
    """PostgreSQL: act as the application role for the rest of the transaction."""
    if role and dialect(session) == "postgresql":
        await session.execute(sa.text(f'SET LOCAL ROLE "{role}"'))


async def lock_head(session: AsyncSession) -> Head:
    """Read the chain head, locking its row until commit (PostgreSQL; SQLite has a single writer)."""
    query = sa.select(chain_head).where(chain_head.c.id == 1)
    if dialect(session) == "postgresql":
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


async def existing_dedup_keys(session: AsyncSession, keys: Sequence[bytes]) -> set[bytes]:
    """The given (binary) dedup keys already stored (PostgreSQL: one array parameter instead of N)."""
    if not keys:
        return set()
    if dialect(session) == "postgresql":
        query = sa.text("SELECT dedup_key FROM audit_entries WHERE dedup_key = ANY(:keys)").bindparams(
            sa.bindparam("keys", type_=sa.dialects.postgresql.ARRAY(sa.LargeBinary))
        )
        return {bytes(r[0]) for r in await session.execute(query, {"keys": list(keys)})}
    rows = await session.execute(sa.select(entries.c.dedup_key).where(entries.c.dedup_key.in_(list(keys))))
    return {bytes(r[0]) for r in rows}


async def insert_entries(session: AsyncSession, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert rows (tuples in ``ENTRY_COLUMNS`` order) in the session's transaction: binary COPY on
    PostgreSQL (asyncpg), executemany elsewhere."""
    if not rows:
        return
    if dialect(session) == "postgresql" and _driver(session) == "asyncpg":
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
