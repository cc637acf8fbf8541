"""Inbox deduplication: a consumer records each event id in the same transaction as its effects.

Rule: ``claim`` inserts (consumer, event_id); if the row exists the event was already applied and the
caller skips it. Because the insert commits or rolls back with the effects, a redelivery after a crash
between the database commit and the offset commit is a no-op.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.runtime.tables import INBOX


async def claim(session: AsyncSession, consumer: str, event_id: str) -> bool:
    """True when this consumer has not seen the event before (and now has, if the transaction commits)."""
    seen = (
        await session.execute(
            select(INBOX.c.event_id).where(INBOX.c.consumer == consumer, INBOX.c.event_id == event_id)
        )
    ).first()
    if seen is not None:
        return False
    await session.execute(
        INBOX.insert().values(consumer=consumer, event_id=event_id, processed_at=datetime.now(UTC))
    )
    return True


async def claim_many(session: AsyncSession, consumer: str, event_ids: list[str]) -> set[str]:
    """The subset of ``event_ids`` not seen before by this consumer, now claimed (two statements per batch).

    Duplicates inside the batch itself are claimed once: the first occurrence wins.
    """
    if not event_ids:
        return set()
    unique = list(dict.fromkeys(event_ids))
    seen: set[str] = set()
    for i in range(0, len(unique), 500):
        chunk = unique[i : i + 500]
        rows = await session.execute(
            select(INBOX.c.event_id).where(INBOX.c.consumer == consumer, INBOX.c.event_id.in_(chunk))
        )
        seen.update(r[0] for r in rows)
    fresh = [e for e in unique if e not in seen]
    if fresh:
        now = datetime.now(UTC)
        await session.execute(
            INBOX.insert(), [{"consumer": consumer, "event_id": e, "processed_at": now} for e in fresh]
        )
    return set(fresh)
