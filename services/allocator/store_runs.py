"""Queries of allocation decisions and backorder runs (tables in store.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.allocator.store import allocation_decisions, backorder_runs


async def insert_decisions(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(allocation_decisions.insert(), rows)


async def recent_decisions(
    session: AsyncSession, sku: str | None, site: str | None, limit: int
) -> list[Row[Any]]:
    query = select(allocation_decisions)
    if sku is not None:
        query = query.where(allocation_decisions.c.sku == sku)
    if site is not None:
        query = query.where(allocation_decisions.c.site == site)
    order = (allocation_decisions.c.decided_at.desc(), allocation_decisions.c.run_id, allocation_decisions.c.order_id,
             allocation_decisions.c.line_id)  # fmt: skip
    return list((await session.execute(query.order_by(*order).limit(limit))).all())


async def delete_decisions_before(session: AsyncSession, before: float) -> None:
    await session.execute(delete(allocation_decisions).where(allocation_decisions.c.decided_at < before))


async def insert_backorder_run(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(backorder_runs.insert().values(**values))


async def update_backorder_run(session: AsyncSession, run_id: str, values: dict[str, Any]) -> None:
    await session.execute(update(backorder_runs).where(backorder_runs.c.run_id == run_id).values(**values))


async def backorder_run(session: AsyncSession, run_id: str) -> Row[Any] | None:
    return (await session.execute(select(backorder_runs).where(backorder_runs.c.run_id == run_id))).first()
