"""Dialect-neutral INSERT ... ON CONFLICT for the two databases segflow runs on (PostgreSQL, SQLite).

Rules:
- ``dialect_insert`` is the dialect's own INSERT (``sqlalchemy.dialects.postgresql.insert`` on PostgreSQL,
  ``sqlalchemy.dialects.sqlite.insert`` otherwise); both offer ``on_conflict_do_update`` /
  ``on_conflict_do_nothing`` / ``excluded`` / ``returning``, for statements with their own SET clause.
- ``upsert_statement`` is ``INSERT INTO table ... ON CONFLICT (keys) DO UPDATE SET c = excluded.c`` for
  each column of ``update`` that is not a key (``merge``: ``c = COALESCE(excluded.c, table.c)``, so a NULL
  never overwrites a stored value); ``DO NOTHING`` when no such column is left. Key columns are never
  updated, and columns outside ``update`` keep their stored value on a conflict. The statement carries no
  values: execute it with one row (a dict) or many (a list of dicts, an executemany). It is built once per
  shape (dialect, table, keys, update columns, merge) and reused.
- ``upsert`` writes one row: on a key conflict every other column of ``values`` is updated.
- ``keys`` must name a primary key or a unique constraint of the table (both databases require it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

DialectInsert = postgresql.Insert | sqlite.Insert
DialectOrSession = str | AsyncSession | Session
"""A dialect name (``"postgresql"``, ``"sqlite"``) or a session bound to the database."""

_STATEMENTS: dict[tuple[str, Table, tuple[str, ...], tuple[str, ...], bool], DialectInsert] = {}


def dialect_name(db: DialectOrSession) -> str:
    """``"postgresql"`` or ``"sqlite"``: the name itself, or the dialect of the session's bind."""
    return db if isinstance(db, str) else db.get_bind().dialect.name


def dialect_insert(db: DialectOrSession, table: Table) -> DialectInsert:
    """The dialect's INSERT into ``table``: PostgreSQL's on PostgreSQL, SQLite's on anything else."""
    return postgresql.insert(table) if dialect_name(db) == "postgresql" else sqlite.insert(table)


def upsert_statement(
    db: DialectOrSession, table: Table, keys: Sequence[str], update: Sequence[str], *, merge: bool = False
) -> DialectInsert:
    """INSERT ... ON CONFLICT (``keys``) DO UPDATE SET every column of ``update`` but the keys to the
    inserted value (``COALESCE(excluded.c, table.c)`` when ``merge``); DO NOTHING when ``update`` names
    no other column. Execute it with the row or rows as parameters."""
    dialect = dialect_name(db)
    changes = tuple(c for c in update if c not in keys)
    cache_key = (dialect, table, tuple(keys), changes, merge)
    statement = _STATEMENTS.get(cache_key)
    if statement is None:
        insert = dialect_insert(dialect, table)
        excluded = insert.excluded
        if changes:
            set_ = {c: func.coalesce(excluded[c], table.c[c]) if merge else excluded[c] for c in changes}
            statement = insert.on_conflict_do_update(index_elements=list(keys), set_=set_)
        else:
            statement = insert.on_conflict_do_nothing(index_elements=list(keys))
        _STATEMENTS[cache_key] = statement
    return statement


async def upsert(session: AsyncSession, table: Table, values: Mapping[str, Any], keys: Sequence[str]) -> None:
    """Insert the row ``values``; on a conflict of ``keys`` update every other column it gives."""
    await session.execute(upsert_statement(session, table, keys, list(values)), dict(values))
