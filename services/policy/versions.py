"""Change counters of the tables the KPI reads depend on (order lines, shipments, promises, assignments,
products, positions): one row per table in ``policy_data_versions``, incremented by every committed
transaction that wrote the table, in that transaction. A cached result stored with the counters read
before its data was loaded is current while the counters still read the same, whichever replica wrote.

Rules:
- Every store function that writes a counted table calls ``written(session, table)`` (the handler tests
  check each event type against the tables it actually touches). The mark is a deferred state of the
  transaction (services.runtime.commit_hooks): a transaction that rolls back bumps nothing.
- At the commit, after every other deferred write (the write buffer's rows included: ``last=True``), each
  marked table's counter is incremented once (an upsert from 0), in one executemany in table-name order:
  concurrent writers take the counter rows' locks in one order, as their transactions' last statements,
  so the locks are held only for the commit and can never deadlock.
- Readers read the counters first and the data after (services.policy.store.data_versions_of).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from services.policy.tables import (
    assignments,
    data_versions,
    order_lines,
    positions,
    products,
    promises,
    shipments,
)
from services.runtime.commit_hooks import deferred
from services.runtime.upsert import dialect_insert

COUNTED: tuple[Table, ...] = (order_lines, shipments, promises, assignments, products, positions)
COUNTED_NAMES = frozenset(t.name for t in COUNTED)
VERSIONS = "segflow.policy.versions"

_BUMPS: dict[str, Any] = {}


def written(session: AsyncSession, table: Table) -> None:
    """Mark ``table`` (a counted one) as written by the session's transaction: its counter is bumped once
    when the transaction commits."""
    if table.name not in COUNTED_NAMES:
        raise ValueError(f"{table.name} has no change counter")
    names: set[str] = deferred(session, VERSIONS, set, _bump, last=True)
    names.add(table.name)


def _bump_statement(session: Session) -> Any:
    """INSERT (name, 1) ON CONFLICT (name) DO UPDATE SET version = version + 1, built once per dialect."""
    dialect = session.get_bind().dialect.name
    if dialect not in _BUMPS:
        insert = dialect_insert(dialect, data_versions).values(name=bindparam("name"), version=1)
        _BUMPS[dialect] = insert.on_conflict_do_update(
            index_elements=["name"], set_={"version": data_versions.c.version + 1}
        )
    return _BUMPS[dialect]


def _bump(session: Session, names: set[str]) -> None:
    """One executemany (a single round trip), rows in name order (the lock order)."""
    session.execute(_bump_statement(session), [{"name": name} for name in sorted(names)])
