"""Segment events -> the gateway's read model, the partner feed and pending webhook deliveries.

- segment.assigned: upsert the current assignment; append one feed entry per partner linked now
  (op "upsert", no financials, no other partners' ids) or linked before but not any more (op "removed");
  each feed entry enqueues one delivery per active webhook of that partner.
- a tombstone on segments.assignments deletes the assignment (op "deleted" for its partners).
- segment.changed and override.* events append to the entity's change history with their reasons.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import Envelope
from contracts.segments import (
    OverrideApproved,
    OverrideExpired,
    OverrideRejected,
    OverrideRequested,
    SegmentAssigned,
    SegmentChanged,
)
from services.gateway import store
from services.runtime.auth import FINANCIAL_FIELDS
from services.runtime.bus.base import Record


def partner_view(payload: dict[str, Any]) -> dict[str, Any]:
    """The assignment as a partner may see it: no financial fields and no partner list."""
    return {k: v for k, v in payload.items() if k not in FINANCIAL_FIELDS and k != "partner_ids"}


async def _publish_to_partners(
    session: AsyncSession, key: str, partners: dict[str, str], body: dict[str, Any]
) -> None:
    for partner_id, op in sorted(partners.items()):
        entry = {"key": key, "op": op, "assignment": body}
        seq = await store.append_feed(session, partner_id, key, op, body)
        await store.enqueue_deliveries(session, partner_id, seq, {"seq": seq, **entry})


async def on_assigned(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
    assert isinstance(event, SegmentAssigned)
    key = f"{event.dimension}:{event.entity_id}"
    previous = await store.current_assignment(session, key)
    payload = event.model_dump(mode="json")
    await store.upsert_assignment(session, key, payload)
    now_linked = set(event.partner_ids)
    was_linked = set(previous["partner_ids"]) if previous else set()
    partners = {p: "upsert" for p in now_linked} | {p: "removed" for p in was_linked - now_linked}
    await _publish_to_partners(session, key, partners, partner_view(payload))


async def on_tombstone(session: AsyncSession, rec: Record) -> None:
    key = rec.key.decode() if rec.key else ""
    if not key:
        return
    previous = await store.delete_assignment(session, key)
    if previous:
        partners = {p: "deleted" for p in previous["partner_ids"]}
        await _publish_to_partners(session, key, partners, partner_view(previous))


async def on_changed(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
    assert isinstance(event, SegmentChanged)
    await store.add_change(
        session,
        event_id=env.id,
        key=f"{event.dimension}:{event.entity_id}",
        kind="segment.changed",
        old_segment=event.old_segment,
        new_segment=event.new_segment,
        reasons=list(event.reasons),
        at=event.changed_at.isoformat(),
    )


async def on_override(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
    assert isinstance(event, OverrideRequested | OverrideApproved | OverrideRejected | OverrideExpired)
    kind = env.type.removeprefix("segflow.")
    reason = event.reason
    if isinstance(event, OverrideRejected) and event.decision_reason:
        reason = f"{reason} (rejected: {event.decision_reason})"
    await store.add_change(
        session,
        event_id=env.id,
        key=f"{event.dimension}:{event.entity_id}",
        kind=kind,
        old_segment=None,
        new_segment=event.segment,
        reasons=[reason],
        at=env.time.isoformat(),
    )


HANDLERS = {
    "segflow.segment.assigned": on_assigned,
    "segflow.segment.changed": on_changed,
    "segflow.override.requested": on_override,
    "segflow.override.approved": on_override,
    "segflow.override.rejected": on_override,
    "segflow.override.expired": on_override,
}
