"""Per-data-subject keys (crypto-shredding) and the erasure log."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.store.tables import erasures, subject_keys


async def keys_for_subjects(session: AsyncSession, subjects: Iterable[str]) -> dict[str, tuple[str, bytes]]:
    """subject -> (kid, key) of the newest key of each subject that has one."""
    wanted = sorted(set(subjects))
    if not wanted:
        return {}
    rows = await session.execute(
        sa.select(subject_keys)
        .where(subject_keys.c.subject.in_(wanted))
        .order_by(subject_keys.c.created_us, subject_keys.c.kid)
    )
    return {r.subject: (r.kid, bytes(r.key)) for r in rows}


async def keys_by_kid(session: AsyncSession, kids: Iterable[str]) -> dict[str, tuple[str, bytes]]:
    """kid -> (subject, key) for the kids that still exist."""
    wanted = sorted(set(kids))
    if not wanted:
        return {}
    rows = await session.execute(sa.select(subject_keys).where(subject_keys.c.kid.in_(wanted)))
    return {r.kid: (r.subject, bytes(r.key)) for r in rows}


async def insert_subject_key(session: AsyncSession, kid: str, subject: str, key: bytes, now_us: int) -> None:
    await session.execute(subject_keys.insert().values(kid=kid, subject=subject, key=key, created_us=now_us))


async def subject_known(session: AsyncSession, subject: str) -> bool:
    have_key = await session.execute(sa.select(subject_keys.c.kid).where(subject_keys.c.subject == subject))
    if have_key.first() is not None:
        return True
    erased = await session.execute(sa.select(erasures.c.id).where(erasures.c.subject == subject))
    return erased.first() is not None


async def erase_subject(session: AsyncSession, subject: str, requested_by: str, now_us: int) -> int:
    """Delete every key of ``subject`` and log the erasure; returns how many keys were deleted."""
    result = await session.execute(subject_keys.delete().where(subject_keys.c.subject == subject))
    deleted = int(result.rowcount or 0)  # type: ignore[attr-defined]
    await session.execute(
        erasures.insert().values(
            subject=subject, keys_deleted=deleted, requested_by=requested_by, erased_us=now_us
        )
    )
    return deleted


async def erasure_of(session: AsyncSession, subject: str) -> Any | None:
    return (
        await session.execute(
            sa.select(erasures).where(erasures.c.subject == subject).order_by(erasures.c.id.desc()).limit(1)
        )
    ).first()
