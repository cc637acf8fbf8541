"""Assignments (current segment per entity), their history, searches, and compacted-topic tombstones."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.runtime.upsert import upsert_statement

from .tables import assignment_history, assignments


async def assignment_rows(session: AsyncSession, dimension: str) -> dict[str, Any]:
    query = select(assignments).where(assignments.c.dimension == dimension)
    return {row.entity_id: row for row in (await session.execute(query)).all()}


async def save_assignments(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    values = [c.name for c in assignments.columns if c.name not in ("dimension", "entity_id")]
    for start in range(0, len(rows), 500):
        chunk = list(rows[start : start + 500])
        await session.execute(
            upsert_statement(session, assignments, ["dimension", "entity_id"], values), chunk
        )


async def delete_assignments(session: AsyncSession, dimension: str, entity_ids: Sequence[str]) -> None:
    for start in range(0, len(entity_ids), 500):
        chunk = list(entity_ids[start : start + 500])
        await session.execute(
            delete(assignments).where(
                assignments.c.dimension == dimension, assignments.c.entity_id.in_(chunk)
            )
        )


async def add_history(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        await session.execute(assignment_history.insert(), list(rows))


async def assignment(session: AsyncSession, dimension: str, entity_id: str) -> Any:
    query = select(assignments).where(
        assignments.c.dimension == dimension, assignments.c.entity_id == entity_id
    )
    return (await session.execute(query)).first()


async def history(session: AsyncSession, dimension: str, entity_id: str) -> list[Any]:
    h = assignment_history.c
    query = (
        select(assignment_history).where(h.dimension == dimension, h.entity_id == entity_id).order_by(h.seq)
    )
    return list((await session.execute(query)).all())


async def search_assignments(
    session: AsyncSession,
    *,
    dimension: str | None,
    segment: str | None,
    abc: str | None,
    xyz: str | None,
    region: str | None,
    text: str | None,
    after: tuple[str, str] | None,
    limit: int,
    entity_ids: Sequence[str] | None = None,
) -> list[Any]:
    """Filtered assignments in (dimension, entity_id) order, keyset-paged after ``after``."""
    a = assignments.c
    conditions: list[Any] = []
    for column, value in (
        (a.dimension, dimension),
        (a.segment, segment),
        (a.abc, abc),
        (a.xyz, xyz),
        (a.region, region),
    ):
        if value is not None:
            conditions.append(column == value)
    if text:
        pattern = f"%{text.lower()}%"
        conditions.append(or_(func.lower(a.entity_id).like(pattern), func.lower(a.name).like(pattern)))
    if after is not None:
        conditions.append(tuple_(a.dimension, a.entity_id) > tuple_(*after))
    if entity_ids is not None:
        conditions.append(a.entity_id.in_(list(entity_ids)))
    query = select(assignments).where(*conditions).order_by(a.dimension, a.entity_id).limit(limit)
    return list((await session.execute(query)).all())


async def abc_xyz_counts(session: AsyncSession, dimension: str) -> list[Any]:
    a = assignments.c
    query = (
        select(a.abc, a.xyz, func.count().label("count"))
        .where(a.dimension == dimension)
        .group_by(a.abc, a.xyz)
        .order_by(a.abc, a.xyz)
    )
    return list((await session.execute(query)).all())
