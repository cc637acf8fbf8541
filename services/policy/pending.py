"""The policy handlers' per-transaction write buffer (its statements come from services.runtime.upsert).

Upserts of rows that nothing reads back inside the consumer's transaction (order lines, inventory
positions, shipment merges, KPI dirty marks) are collected in the transaction's deferred state
(services.runtime.commit_hooks) and written just before it commits, one multi-row statement per table,
instead of one round trip per record.

Rules:
- A row buffered again under the same key keeps the later values (what two sequential upserts leave);
  a merge buffer (shipments) keeps the earlier value of a column where the later one is None, and its
  statement does the same against the stored row: ``SET c = COALESCE(excluded.c, stored.c)``.
- Reads of a buffered table inside the transaction call ``flush`` first (read your own writes).
- Rows are written in key order, so concurrent transactions lock shared rows in the same order.
- A rolled-back transaction discards its buffer; nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from services.runtime.commit_hooks import deferred, flush_now
from services.runtime.upsert import upsert_statement

PENDING = "segflow.policy.pending"


@dataclass
class _Buffer:
    table: Table
    keys: tuple[str, ...]
    merge: bool
    rows: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)


def _buffers(session: AsyncSession) -> dict[str, _Buffer]:
    """The transaction's buffers by table name (written by ``_write`` just before it commits)."""
    return deferred(session, PENDING, dict, _write)


def add(
    session: AsyncSession, table: Table, values: dict[str, Any], keys: Sequence[str], merge: bool = False
) -> None:
    """Buffer an upsert of ``values`` (keyed by ``keys``) until the transaction commits."""
    buffers = _buffers(session)
    buffer = buffers.get(table.name)
    if buffer is None:
        buffer = buffers[table.name] = _Buffer(table, tuple(keys), merge)
    key = tuple(values[k] for k in buffer.keys)
    earlier = buffer.rows.get(key)
    if merge and earlier is not None:
        values = {k: earlier.get(k) if v is None else v for k, v in values.items()}
    buffer.rows[key] = dict(values)


def pending_rows(session: AsyncSession, table: Table) -> int:
    """How many rows of ``table`` are buffered in this transaction (not written yet)."""
    buffer = _buffers(session).get(table.name)
    return 0 if buffer is None else len(buffer.rows)


def _write(session: Session, buffers: dict[str, _Buffer]) -> None:
    """Write every buffered row: one statement per table, rows in key order."""
    dialect = session.get_bind().dialect.name
    for buffer in buffers.values():
        rows = [buffer.rows[key] for key in sorted(buffer.rows)]
        if not rows:
            continue
        statement = upsert_statement(dialect, buffer.table, buffer.keys, list(rows[0]), merge=buffer.merge)
        session.execute(statement, rows)


async def flush(session: AsyncSession) -> None:
    """Write the buffered rows now (a read of a buffered table follows) and empty the buffer."""
    await flush_now(session, PENDING)
