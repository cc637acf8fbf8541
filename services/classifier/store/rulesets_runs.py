"""Rule-set versions with their audit history, and classification run records."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .tables import ruleset_history, rulesets, runs


async def ruleset_rows(session: AsyncSession) -> list[Any]:
    return list((await session.execute(select(rulesets).order_by(rulesets.c.version))).all())


async def ruleset_row(session: AsyncSession, version: int) -> Any:
    return (await session.execute(select(rulesets).where(rulesets.c.version == version))).first()


async def active_ruleset(session: AsyncSession) -> Any:
    return (await session.execute(select(rulesets).where(rulesets.c.active.is_(True)))).first()


async def ruleset_by_hash(session: AsyncSession, content_hash: str) -> Any:
    return (await session.execute(select(rulesets).where(rulesets.c.hash == content_hash))).first()


async def next_ruleset_version(session: AsyncSession) -> int:
    current = (await session.execute(select(func.max(rulesets.c.version)))).scalar()
    return int(current or 0) + 1


async def insert_ruleset(session: AsyncSession, row: Mapping[str, Any]) -> None:
    await session.execute(rulesets.insert().values(**row))


async def activate_ruleset(session: AsyncSession, version: int) -> None:
    await session.execute(update(rulesets).values(active=False).where(rulesets.c.version != version))
    await session.execute(update(rulesets).values(active=True).where(rulesets.c.version == version))


async def record_ruleset_action(
    session: AsyncSession, version: int, action: str, actor: str, at: datetime, detail: Mapping[str, Any]
) -> None:
    await session.execute(
        ruleset_history.insert().values(
            version=version, action=action, actor=actor, at=at, detail=dict(detail)
        )
    )


async def ruleset_actions(session: AsyncSession, version: int) -> list[Any]:
    query = (
        select(ruleset_history).where(ruleset_history.c.version == version).order_by(ruleset_history.c.seq)
    )
    return list((await session.execute(query)).all())


async def insert_run(session: AsyncSession, row: Mapping[str, Any]) -> None:
    await session.execute(runs.insert().values(**row))


async def update_run(session: AsyncSession, run_id: str, **values: Any) -> None:
    await session.execute(update(runs).where(runs.c.run_id == run_id).values(**values))


async def run_row(session: AsyncSession, run_id: str) -> Any:
    return (await session.execute(select(runs).where(runs.c.run_id == run_id))).first()


async def latest_run(session: AsyncSession, dimension: str | None = None, trigger: str | None = None) -> Any:
    query = select(runs).order_by(runs.c.created_at.desc(), runs.c.run_id.desc()).limit(1)
    if dimension is not None:
        query = query.where(runs.c.dimension == dimension)
    if trigger is not None:
        query = query.where(runs.c.trigger == trigger)
    return (await session.execute(query)).first()


async def unfinished_runs(session: AsyncSession) -> list[Any]:
    return list((await session.execute(select(runs).where(runs.c.status.in_(["queued", "running"])))).all())
