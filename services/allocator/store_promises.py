"""Queries of promises (reservations keyed by idempotency key) and quota statements (tables in store.py).
Changes to promises run under their sku@site's lock, whose version the caller bumped."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.allocator.store import ACTIVE, is_postgres, promises, quotas
from services.runtime.upsert import dialect_insert


async def promise_by_key(session: AsyncSession, idempotency_key: str) -> Row[Any] | None:
    return (
        await session.execute(select(promises).where(promises.c.idempotency_key == idempotency_key))
    ).first()


async def promise_by_id(session: AsyncSession, promise_id: str, *, lock: bool = False) -> Row[Any] | None:
    query = select(promises).where(promises.c.promise_id == promise_id)
    if lock and is_postgres(session):
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def active_promises(session: AsyncSession, sku: str, site: str, now: float) -> list[Row[Any]]:
    """Reservations in force at a sku@site: held (not expired) or confirmed, oldest first."""
    alive = or_(promises.c.expires_at.is_(None), promises.c.expires_at > now)
    query = select(promises).where(
        promises.c.sku == sku, promises.c.site == site, promises.c.status.in_(ACTIVE), alive
    )
    return list((await session.execute(query.order_by(promises.c.created_at, promises.c.promise_id))).all())


async def points_with_promises(
    session: AsyncSession, sku: str | None, site: str | None
) -> list[tuple[str, str]]:
    query = select(promises.c.sku, promises.c.site).where(promises.c.status.in_(ACTIVE)).distinct()
    if sku is not None:
        query = query.where(promises.c.sku == sku)
    if site is not None:
        query = query.where(promises.c.site == site)
    return sorted((r.sku, r.site) for r in (await session.execute(query)).all())


async def insert_promise(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Insert a promise unless its idempotency key is stored already (then nothing; returns False).
    On PostgreSQL a concurrent insert of the same key waits for the other transaction to end."""
    statement = dialect_insert(session, promises).values(**values)
    statement = statement.on_conflict_do_nothing(index_elements=["idempotency_key"])
    inserted = (await session.execute(statement.returning(promises.c.promise_id))).first()
    return inserted is not None


async def update_promise(session: AsyncSession, promise_id: str, values: dict[str, Any]) -> None:
    await session.execute(update(promises).where(promises.c.promise_id == promise_id).values(**values))


async def expired_holds(session: AsyncSession, now: float, limit: int = 500) -> list[Row[Any]]:
    query = select(promises).where(
        promises.c.status == "held", promises.c.expires_at.is_not(None), promises.c.expires_at <= now
    )
    return list((await session.execute(query.order_by(promises.c.expires_at).limit(limit))).all())


async def expired_holds_at(session: AsyncSession, sku: str, site: str, now: float) -> list[Row[Any]]:
    """Holds of one sku@site past their expiry that are not released yet (the expiry index finds them)."""
    query = select(promises).where(
        promises.c.status == "held",
        promises.c.expires_at.is_not(None),
        promises.c.expires_at <= now,
        promises.c.sku == sku,
        promises.c.site == site,
    )
    return list((await session.execute(query.order_by(promises.c.expires_at))).all())


async def earliest_hold_expiry(session: AsyncSession, sku: str, site: str) -> float | None:
    """When the first hold of a sku@site expires (``None``: no holds)."""
    query = select(func.min(promises.c.expires_at)).where(
        promises.c.sku == sku, promises.c.site == site, promises.c.status == "held"
    )
    value = (await session.execute(query)).scalar()
    return None if value is None else float(value)


async def insert_quota(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(quotas.insert().values(**values))


async def all_quotas(session: AsyncSession) -> list[Row[Any]]:
    """Every quota statement, oldest first (append-only: rows are never changed or deleted)."""
    return list(
        (await session.execute(select(quotas).order_by(quotas.c.created_at, quotas.c.quota_id))).all()
    )


async def promises_by_keys(session: AsyncSession, keys: list[str]) -> dict[str, Row[Any]]:
    """The stored promises of these idempotency keys, by key."""
    query = select(promises).where(promises.c.idempotency_key.in_(sorted(set(keys))))
    return {row.idempotency_key: row for row in (await session.execute(query)).all()}


async def insert_promises(session: AsyncSession, rows: list[dict[str, Any]]) -> set[str]:
    """Insert promises in one round trip (an executemany of one cached statement), skipping keys stored
    already; returns the keys inserted."""
    if not rows:
        return set()
    statement = dialect_insert(session, promises).on_conflict_do_nothing(index_elements=["idempotency_key"])
    inserted = (await session.execute(statement.returning(promises.c.idempotency_key), rows)).all()
    return {r[0] for r in inserted}
