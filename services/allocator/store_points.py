"""Queries of the ``stock_points`` rows (one per sku@site; table in store.py): the lock promises take,
the ``version`` that validates a cached picture, and the "needs backorder processing" flag.

Version rule: every transaction that changes what a sku@site's picture is made of (position, receipts,
order lines, reservations, holds) sets ``version = (version + 1) mod 2**31`` on its row, in the same
transaction. A reader holding the row lock that sees ``version == cached + 1`` therefore knows nothing
but itself changed the sku@site since the cached picture was read.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.allocator.store import insert_for, quotas, stock_points

VERSION_MODULUS = 2**31 - 1


def next_version(version: int) -> int:
    """The version after one bump: ``(version + 1) mod (2**31 - 1)`` (fits PostgreSQL's integer)."""
    return (version + 1) % VERSION_MODULUS


def _bump(session: AsyncSession, *, dirty: bool) -> Any:
    """Create the sku@site row or bump its version (parameters ``p_sku``, ``p_site``); with ``dirty`` also
    set its backorder flag."""
    statement = insert_for(session, stock_points).values(
        sku=bindparam("p_sku"), site=bindparam("p_site"), version=1, dirty=dirty
    )
    changes: dict[str, Any] = {"version": (stock_points.c.version + 1) % VERSION_MODULUS}
    if dirty:
        changes["dirty"] = True
    return statement.on_conflict_do_update(index_elements=["sku", "site"], set_=changes)


def _with_versions(session: AsyncSession) -> Any:
    quota_count = select(func.count()).select_from(quotas).scalar_subquery()
    return _bump(session, dirty=False).returning(
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


async def touch_point(session: AsyncSession, sku: str, site: str, *, dirty: bool = False) -> None:
    """Bump the sku@site's version (its picture changed); with ``dirty`` also flag it for backorder
    processing (its supply dropped or its demand rose)."""
    await session.execute(_bump(session, dirty=dirty), {"p_sku": sku, "p_site": site})


async def mark_dirty(session: AsyncSession, sku: str, site: str) -> None:
    """Flag a sku@site for backorder processing (and bump its version)."""
    await touch_point(session, sku, site, dirty=True)


async def dirty_points(session: AsyncSession, limit: int = 100) -> list[tuple[str, str]]:
    rows = (await session.execute(select(stock_points.c.sku, stock_points.c.site).where(
        stock_points.c.dirty.is_(True)).limit(limit))).all()  # fmt: skip
    return [(r.sku, r.site) for r in rows]


async def clear_dirty(session: AsyncSession, sku: str, site: str) -> None:
    await session.execute(
        update(stock_points).where(stock_points.c.sku == sku, stock_points.c.site == site).values(dirty=False)
    )
