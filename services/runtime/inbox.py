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
