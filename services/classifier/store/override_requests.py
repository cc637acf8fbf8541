"""Override requests and decisions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .tables import overrides


async def insert_override(session: AsyncSession, row: Mapping[str, Any]) -> None:
    await session.execute(overrides.insert().values(**row))


async def override_row(session: AsyncSession, override_id: str) -> Any:
    return (await session.execute(select(overrides).where(overrides.c.override_id == override_id))).first()


async def save_override(session: AsyncSession, override_id: str, **values: Any) -> None:
    await session.execute(update(overrides).where(overrides.c.override_id == override_id).values(**values))


async def override_rows(
    session: AsyncSession, *, status: str | None = None, dimension: str | None = None
) -> list[Any]:
    query = select(overrides).order_by(overrides.c.requested_at, overrides.c.override_id)
    if status is not None:
        query = query.where(overrides.c.status == status)
    if dimension is not None:
        query = query.where(overrides.c.dimension == dimension)
    return list((await session.execute(query)).all())
