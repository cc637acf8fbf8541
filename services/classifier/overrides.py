"""Override workflow around the pure lifecycle (domain.overrides): persistence, events, immediate apply.

request -> override.requested; approve / reject by a different user holding the approver role
(four-eyes) -> override.approved / rejected; an approved override applies at once (assignment pinned,
segment.assigned + segment.changed emitted); at expiry -> override.expired and the entity reverts at
the next run.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts import topics
from contracts.identity import dimension_key
from contracts.segments import OverrideApproved, OverrideExpired, OverrideRejected, OverrideRequested
from services.runtime import outbox
from services.runtime.bus.base import Bus

from . import events, store
from .domain import overrides as lifecycle
from .local_segments import local_names_of

SOURCE = events.SOURCE


def to_domain(row: Any) -> lifecycle.Override:
    return lifecycle.Override(
        override_id=row.override_id,
        entity_id=row.entity_id,
        segment=row.segment,
        reason=row.reason,
        requested_by=row.requested_by,
        requested_at=store.aware(row.requested_at),  # type: ignore[arg-type]
        expires_at=store.aware(row.expires_at),  # type: ignore[arg-type]
        status=lifecycle.OverrideStatus(row.status),
        decided_by=row.decided_by,
        decided_at=store.aware(row.decided_at),
        decision_note=row.decision_note,
    )


def as_json(row: Any) -> dict[str, Any]:
    o = to_domain(row)
    return {
        "override_id": o.override_id,
        "dimension": row.dimension,
        "entity_id": o.entity_id,
        "segment": o.segment,
        "reason": o.reason,
        "requested_by": o.requested_by,
        "requested_at": o.requested_at.isoformat(),
        "expires_at": o.expires_at.isoformat(),
        "status": o.status.value,
        "decided_by": o.decided_by,
        "decided_at": o.decided_at.isoformat() if o.decided_at else None,
        "decision_note": o.decision_note,
    }


async def _emit(
    session: AsyncSession,
    model: Any,
    dimension: str,
    o: lifecycle.Override,
    name: str,
    at: datetime,
    **extra: Any,
) -> None:
    payload = model(
        override_id=o.override_id,
        dimension=dimension,
        entity_id=o.entity_id,
        segment=o.segment,
        reason=o.reason,
        requested_by=o.requested_by,
        decided_by=o.decided_by,
        expires_at=o.expires_at,
        **extra,
    )
    await outbox.add_event(
        session,
        topic=topics.SEGMENTS_CHANGES,
        key=dimension_key(dimension, o.entity_id),
        source=SOURCE,
        type=model.EVENT_TYPE,
        payload=payload,
        id=events.event_id(name),
        time=at,
    )


async def request(
    session: AsyncSession,
    *,
    dimension: str,
    entity_id: str,
    segment: str,
    reason: str,
    expires_at: datetime | None,
    requested_by: str,
    now: datetime,
) -> Any:
    o = lifecycle.request_override(
        override_id=str(uuid.uuid4()),
        entity_id=entity_id,
        segment=segment,
        reason=reason,
        requested_by=requested_by,
        now=now,
        expires_at=expires_at,
    )
    await store.insert_override(
        session,
        {
            "override_id": o.override_id,
            "dimension": dimension,
            "entity_id": o.entity_id,
            "segment": o.segment,
            "reason": o.reason,
            "requested_by": o.requested_by,
            "requested_at": o.requested_at,
            "expires_at": o.expires_at,
            "status": o.status.value,
        },
    )
    await _emit(session, OverrideRequested, dimension, o, f"override:{o.override_id}:requested", now)
    return await store.override_row(session, o.override_id)


async def decide(
    session: AsyncSession,
    bus: Bus,
    row: Any,
    *,
    approve: bool,
    user: str,
    roles: frozenset[str],
    note: str | None,
    now: datetime,
    ruleset: Mapping[str, Any],
    ruleset_version: int,
) -> Any:
    """Approve or reject (domain rules raise FourEyesViolation / NotAnApprover / InvalidTransition)."""
    current = to_domain(row)
    decided = (lifecycle.approve if approve else lifecycle.reject)(
        current, approver=user, roles=roles, now=now, note=note
    )
    await store.save_override(
        session,
        decided.override_id,
        status=decided.status.value,
        decided_by=decided.decided_by,
        decided_at=decided.decided_at,
        decision_note=decided.decision_note,
    )
    if approve:
        await _emit(
            session, OverrideApproved, row.dimension, decided, f"override:{decided.override_id}:approved", now
        )
        await _apply_now(session, bus, row.dimension, decided, now, ruleset, ruleset_version)
    else:
        await _emit(
            session,
            OverrideRejected,
            row.dimension,
            decided,
            f"override:{decided.override_id}:rejected",
            now,
            decision_reason=note,
        )
    return await store.override_row(session, decided.override_id)


async def _apply_now(
    session: AsyncSession,
    bus: Bus,
    dimension: str,
    o: lifecycle.Override,
    now: datetime,
    ruleset: Mapping[str, Any],
    ruleset_version: int,
) -> None:
    """Pin the entity's current assignment to the override segment and announce it."""
    current = await store.assignment(session, dimension, o.entity_id)
    if current is None or o.segment not in ruleset["segments"]:
        return  # the next run applies the lock (the entity has no assignment yet)
    row = {column: getattr(current, column) for column in current._fields}
    old_segment, old_tier = row["segment"], row["tier"]
    reasons = [f"override {o.override_id} approved by {o.decided_by}: {o.reason}"]
    row.update(
        segment=o.segment,
        overridden=True,
        pending_segment=None,
        pending_runs=0,
        tier=int(ruleset["segments"][o.segment]["tier"]),
        service_policy=events.service_policy(ruleset, o.segment),
        updated_at=now,
        explanation={
            **row["explanation"],
            "applied_segment": o.segment,
            "local_names": local_names_of(ruleset, row["explanation"].get("source_systems", []), o.segment),
            "override": reasons[0],
            "reasons": reasons + list(row["explanation"].get("reasons", [])),
        },
    )
    await store.save_assignments(session, [row])
    await store.add_history(
        session,
        [
            {
                "dimension": dimension,
                "entity_id": o.entity_id,
                "at": now,
                "old_segment": old_segment,
                "new_segment": o.segment,
                "reasons": reasons,
                "run_id": None,
            }
        ],
    )
    await events.emit_assigned(
        session, bus, row, name=f"override:{o.override_id}:assigned", at=now, ensured=set()
    )
    if old_segment != o.segment:
        await events.emit_changed(
            session,
            dimension=dimension,
            entity_id=o.entity_id,
            old=old_segment,
            new=o.segment,
            old_tier=old_tier,
            new_tier=row["tier"],
            reasons=reasons,
            owner=row["explanation"].get("account_owner"),
            run_id=None,
            name=f"override:{o.override_id}:changed",
            at=now,
        )


async def expire_due(session: AsyncSession, now: datetime) -> int:
    """Every pending or approved override past its expiry becomes expired (override.expired emitted)."""
    count = 0
    for status in ("pending", "approved"):
        for row in await store.override_rows(session, status=status):
            o = to_domain(row)
            if now < o.expires_at:
                continue
            expired = lifecycle.expire(o, now=now)
            await store.save_override(session, o.override_id, status=expired.status.value)
            await _emit(
                session, OverrideExpired, row.dimension, expired, f"override:{o.override_id}:expired", now
            )
            count += 1
    return count


async def active_locks_for(session: AsyncSession, dimension: str, now: datetime) -> dict[str, str]:
    rows = await store.override_rows(session, status="approved", dimension=dimension)
    return lifecycle.active_locks([to_domain(r) for r in rows], now)
