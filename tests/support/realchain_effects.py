"""What the real services did, read from their own tables (asyncpg; on PostgreSQL a service's schema is its name).

``Effects.seen(service, ids)``: event id -> wall time (epoch seconds) the classifier or policy applied it
(its inbox row's ``processed_at``, stamped when the record is claimed inside the applying transaction) or
the audit log captured it (``audit_entries.captured_us``). ``segment_events(since)``: the segment.assigned /
segment.changed events the classifier queued in its outbox for the segments topics since a time.
"""

from __future__ import annotations

import asyncpg

from contracts.topics import SEGMENTS_ASSIGNMENTS, SEGMENTS_CHANGES

INBOX_CONSUMER = {"classifier": "classifier", "policy": "policy"}
SEGMENT_TYPES = ("segflow.segment.assigned", "segflow.segment.changed")


class Effects:
    """Read-only views of each service's tables (asyncpg, schema = the service's name)."""

    def __init__(self, conns: dict[str, asyncpg.Connection]) -> None:
        self.conns = conns

    async def seen(self, service: str, ids: list[str]) -> dict[str, float]:
        """Event id -> wall time (epoch seconds) the service applied (inbox) or captured (audit) it."""
        if service == "audit":
            rows = await self.conns["audit"].fetch(
                "SELECT event_id, captured_us FROM audit.audit_entries WHERE event_id = ANY($1::text[])", ids
            )
            return {r[0]: r[1] / 1e6 for r in rows}
        rows = await self.conns[service].fetch(
            f"SELECT event_id, processed_at FROM {service}.inbox WHERE consumer = $1 AND event_id = ANY($2::text[])",
            INBOX_CONSUMER[service],
            ids,
        )
        return {r[0]: r[1].timestamp() for r in rows}

    async def count(self, service: str, ids: list[str]) -> int:
        return len(await self.seen(service, ids))

    async def segment_events(self, since: float) -> list[tuple[str, str]]:
        """(event id, type) of the segment events the classifier queued for the segments topics since ``since``."""
        rows = await self.conns["classifier"].fetch(
            "SELECT id, type, aggregatetype FROM classifier.outbox WHERE type = ANY($1::text[]) "
            "AND created_at >= to_timestamp($2)",
            list(SEGMENT_TYPES),
            since,
        )
        return [(r[0], r[1]) for r in rows if r[2].endswith((SEGMENTS_ASSIGNMENTS, SEGMENTS_CHANGES))]
