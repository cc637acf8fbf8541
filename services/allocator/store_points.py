"""Queries of the ``stock_points`` rows (one per sku@site; table in store.py): the lock promises take,
the ``version`` that validates a cached picture, and the "needs backorder processing" flag.

Version rule: every transaction that changes what a sku@site's picture is made of (position, receipts,
order lines, reservations, holds) sets ``version = (version + 1) mod 2**31`` on its row, in the same
transaction. A reader holding the row lock that sees ``version == cached + 1`` therefore knows nothing
but itself changed the sku@site since the cached picture was read.

Lock order rule: a transaction locks several rows in sorted (sku, site) order, so two transactions
never wait for each other in a cycle (PostgreSQL would abort one as a deadlock). Promises lock their
rows up front (``lock_points``, sorted). The consumers' writes (``touch_point``) are collected in the
transaction's deferred state (services.runtime.commit_hooks), once per sku@site, and bumped just before
the transaction commits, in key order, in one executemany; a rolled-back transaction discards them.
Nothing reads a ``stock_points`` row inside a transaction that touches it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from services.allocator.store import quotas, stock_points
from services.runtime.commit_hooks import deferred
from services.runtime.upsert import dialect_insert

VERSION_MODULUS = 2**31 - 1
TOUCHED = "segflow.allocator.touched"


def next_version(version: int) -> int:
    """The version after one bump: ``(version + 1) mod (2**31 - 1)`` (fits PostgreSQL's integer)."""
    return (version + 1) % VERSION_MODULUS


def _bump(session: AsyncSession | Session) -> Any:
    """Create the sku@site row or bump its version (parameters ``p_sku``, ``p_site``); where ``p_dirty``
    (default false) is true also set its backorder flag."""
    statement = dialect_insert(session, stock_points).values(
        sku=bindparam("p_sku"), site=bindparam("p_site"), version=1, dirty=bindparam("p_dirty", False)
    )
    changes = {
        "version": (stock_points.c.version + 1) % VERSION_MODULUS,
        "dirty": or_(stock_points.c.dirty, statement.excluded.dirty),
    }
    return statement.on_conflict_do_update(index_elements=["sku", "site"], set_=changes)


def _with_versions(session: AsyncSession) -> Any:
    quota_count = select(func.count()).select_from(quotas).scalar_subquery()
    return _bump(session).returning(
        stock_points.c.sku, stock_points.c.site, stock_points.c.version, quota_count
    )


async def lock_point(session: AsyncSession, sku: str, site: str) -> tuple[int, int]:
    """Create or bump the sku@site row in one statement (PostgreSQL holds its row lock to the end of the
    transaction; on SQLite the first statement makes the transaction the writer) and return
    ``(new version, number of quota statements)`` (quotas are append-only: the count is their generation)."""
    row = (await session.execute(_with_versions(session), {"p_sku": sku, "p_site": site})).one()
    return int(row[2]), int(row[3])


async def lock_points(
    session: AsyncSession, points: list[tuple[str, str]]
) -> tuple[dict[tuple[str, str], int], int]:
    """``lock_point`` for several sku@sites in one round trip (an executemany of one cached statement),
    locked in sorted order (so two such transactions never wait for each other in a cycle):
    ``({(sku, site): new version}, quota count)``."""
    params = [{"p_sku": sku, "p_site": site} for sku, site in sorted(set(points))]
    rows = (await session.execute(_with_versions(session), params)).all()
    return {(r[0], r[1]): int(r[2]) for r in rows}, int(rows[0][3]) if rows else 0


def touch_point(session: AsyncSession, sku: str, site: str, *, dirty: bool = False) -> None:
    """Bump the sku@site's version at commit (its picture changed); with ``dirty`` also flag it for
    backorder processing (its supply dropped or its demand rose)."""
    touched: dict[tuple[str, str], bool] = deferred(session, TOUCHED, dict, _bump_touched)
    touched[(sku, site)] = touched.get((sku, site), False) or dirty


def mark_dirty(session: AsyncSession, sku: str, site: str) -> None:
    """Flag a sku@site for backorder processing (and bump its version) at commit."""
    touch_point(session, sku, site, dirty=True)


def _bump_touched(session: Session, touched: dict[tuple[str, str], bool]) -> None:
    """Bump every sku@site the transaction touched, in key order (one executemany)."""
    if touched:
        params = [
            {"p_sku": sku, "p_site": site, "p_dirty": touched[(sku, site)]} for sku, site in sorted(touched)
        ]
        session.execute(_bump(session), params)


async def dirty_points(session: AsyncSession, limit: int = 100) -> list[tuple[str, str]]:
    rows = (await session.execute(select(stock_points.c.sku, stock_points.c.site).where(
        stock_points.c.dirty.is_(True)).limit(limit))).all()  # fmt: skip
    return [(r.sku, r.site) for r in rows]


async def clear_dirty(session: AsyncSession, sku: str, site: str) -> None:
    await session.execute(
        update(stock_points).where(stock_points.c.sku == sku, stock_points.c.site == site).values(dirty=False)
    )
