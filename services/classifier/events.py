"""Outbound segmentation events and the assignment rows they describe.

segment.assigned -> segflow.segments.assignments.v1 (key dimension:entity; only when the assignment
changed, so the compacted topic holds the current state; a tombstone when an entity retires);
segment.changed -> segflow.segments.changes.v1 with reasons and the account owner; per-partner
projections -> segflow.segments.partner.{partner_id}.v1 with revenue and margin removed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts import topics
from contracts.envelope import deterministic_id
from contracts.identity import dimension_key
from contracts.segments import SegmentAssigned, SegmentChanged, ServicePolicy
from services.runtime import outbox
from services.runtime.bus.base import Bus
from services.runtime.logging import get_logger

from . import store
from .local_segments import local_names_of

log = get_logger(__name__)
SOURCE = "segflow/classifier"
PATTERNS = ("smooth", "erratic", "intermittent", "lumpy")


def event_id(name: str) -> str:
    """A deterministic event id (uuid5) from a readable derivation such as "run:dim:entity:assigned"."""
    return deterministic_id(SOURCE, name)


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def service_policy(ruleset: Mapping[str, Any], segment: str) -> dict[str, Any]:
    """The contract's ServicePolicy of a rule-set segment (missing optional targets filled sensibly)."""
    spec = ruleset["segments"][segment]
    level = spec["service_level"]
    return {
        "service_level_type": level["type"],
        "service_level_target": float(level["target"]),
        "otif_target": float(spec.get("otif_target") or level["target"]),
        "promise_lead_time_days": int(spec.get("promise_lead_time_days") or 0),
        "backorder_strategy": spec.get("backorder_strategy") or "fill",
        "delivery_window_days": (
            int(spec["delivery_window_days"]) if spec.get("delivery_window_days") is not None else None
        ),
    }


def assigned_event(row: Mapping[str, Any], valid_from: datetime) -> SegmentAssigned:
    return SegmentAssigned(
        dimension=row["dimension"],
        entity_id=row["entity_id"],
        segment=row["segment"],
        tier=row["tier"],
        abc=row["abc"],
        xyz=row["xyz"],
        pattern=row["pattern"] if row["pattern"] in PATTERNS else None,
        service_policy=ServicePolicy(**row["service_policy"]),
        ruleset_version=str(row["ruleset_version"]),
        ruleset_hash=row["ruleset_hash"],
        reasons=list(row["explanation"].get("reasons", []))[:20],
        partner_ids=list(row["partner_ids"]),
        region=row["region"],
        valid_from=valid_from,
        run_id=row["run_id"],
        revenue=_finite(row["revenue"]),
        margin=_finite(row["margin"]),
    )


def _same(old: Any, row: Mapping[str, Any]) -> bool:
    if old is None:
        return False
    return all(
        getattr(old, name) == row[name]
        for name in ("segment", "tier", "abc", "xyz", "pattern", "ruleset_hash", "partner_ids", "region")
    )


async def emit_assigned(
    session: AsyncSession, bus: Bus, row: Mapping[str, Any], *, name: str, at: datetime, ensured: set[str]
) -> None:
    """segment.assigned on the internal topic plus one financial-free copy per partner."""
    key = dimension_key(row["dimension"], row["entity_id"])
    payload = assigned_event(row, at)
    await outbox.add_event(
        session,
        topic=topics.SEGMENTS_ASSIGNMENTS,
        key=key,
        source=SOURCE,
        type=SegmentAssigned.EVENT_TYPE,
        payload=payload,
        id=event_id(name),
        time=at,
    )
    for partner in row["partner_ids"]:
        if not topics.PARTNER_ID_RE.match(partner):
            log.warning("partner id cannot name a topic; projection skipped", partner_id=partner)
            continue
        if partner not in ensured:
            await bus.ensure_topics([topics.partner_topic_spec(partner)])
            ensured.add(partner)
        await outbox.add_event(
            session,
            topic=topics.partner_topic(partner),
            key=key,
            source=SOURCE,
            type=SegmentAssigned.EVENT_TYPE,
            payload=payload.without_financials(),
            id=event_id(f"{name}:{partner}"),
            time=at,
        )


async def emit_changed(
    session: AsyncSession,
    *,
    dimension: str,
    entity_id: str,
    old: str | None,
    new: str,
    old_tier: int | None,
    new_tier: int | None,
    reasons: list[str],
    owner: str | None,
    run_id: str | None,
    name: str,
    at: datetime,
) -> None:
    payload = SegmentChanged(
        dimension=dimension,  # type: ignore[arg-type]
        entity_id=entity_id,
        old_segment=old,
        new_segment=new,
        old_tier=old_tier,
        new_tier=new_tier,
        reasons=reasons or ["changed"],
        account_owner=owner,
        run_id=run_id,
        changed_at=at,
    )
    await outbox.add_event(
        session,
        topic=topics.SEGMENTS_CHANGES,
        key=dimension_key(dimension, entity_id),
        source=SOURCE,
        type=SegmentChanged.EVENT_TYPE,
        payload=payload,
        id=event_id(name),
        time=at,
    )


async def write_outcome(
    session: AsyncSession,
    bus: Bus,
    *,
    run_id: str,
    ruleset_version: int,
    ruleset: Mapping[str, Any],
    inputs: Any,
    outcome: Any,
    previous_rows: Mapping[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """Store the run's assignments and history, queue its events; returns the run's counts."""
    result = outcome.result
    dimension = inputs.dimension
    tiers = {name: int(spec["tier"]) for name, spec in ruleset["segments"].items()}
    deferred = {d.entity_id: d for d in outcome.deferred}
    changes = {c.entity_id: c for c in outcome.changes}
    rows: list[dict[str, Any]] = []
    ensured: set[str] = set()
    emitted = 0
    for i in range(result.size):
        record = result.record(i)
        entity = record["id"]
        state = outcome.state[entity]
        applied = state.segment
        policy_segment = record["policy_segment"] if applied == record["segment"] else applied
        explanation = {**record, "applied_segment": applied}
        sources = inputs.sources.get(entity, [])
        if sources:
            explanation["source_systems"] = sources
            explanation["local_names"] = local_names_of(ruleset, sources, applied)
        if entity in deferred:
            explanation["deferred"] = deferred[entity].reason
        if state.overridden:
            explanation["override"] = "an approved override pins this segment"
        row = {
            "dimension": dimension,
            "entity_id": entity,
            "segment": applied,
            "computed_segment": record["segment"],
            "tier": tiers[policy_segment],
            "abc": record["abc"],
            "xyz": record["xyz"],
            "pattern": record["pattern"],
            "region": _text(inputs.attributes.get("region"), i),
            "name": inputs.names.get(entity),
            "pending_segment": state.pending_segment,
            "pending_runs": state.pending_runs,
            "overridden": state.overridden,
            "revenue": _finite(inputs.measures["revenue"][i]),
            "margin": _finite(inputs.measures["margin"][i]),
            "explanation": explanation,
            "service_policy": service_policy(ruleset, policy_segment),
            "partner_ids": inputs.partners.get(entity, []),
            "ruleset_version": ruleset_version,
            "ruleset_hash": result.ruleset_hash,
            "run_id": run_id,
            "updated_at": now,
        }
        rows.append(row)
        if not _same(previous_rows.get(entity), row):
            await emit_assigned(
                session, bus, row, name=f"{run_id}:{dimension}:{entity}:assigned", at=now, ensured=ensured
            )
            emitted += 1
    await store.save_assignments(session, rows)
    history = []
    for entity, change in changes.items():
        previous = previous_rows.get(entity)
        history.append(
            {
                "dimension": dimension,
                "entity_id": entity,
                "at": now,
                "old_segment": change.old_segment,
                "new_segment": change.new_segment,
                "reasons": list(change.reasons),
                "run_id": run_id,
            }
        )
        await emit_changed(
            session,
            dimension=dimension,
            entity_id=entity,
            old=change.old_segment,
            new=change.new_segment,
            old_tier=previous.tier if previous is not None else None,
            new_tier=tiers.get(change.new_segment),
            reasons=list(change.reasons),
            owner=inputs.owners.get(entity),
            run_id=run_id,
            name=f"{run_id}:{dimension}:{entity}:changed",
            at=now,
        )
    retired = sorted(set(previous_rows) - {row["entity_id"] for row in rows})
    for entity in retired:
        old = previous_rows[entity]
        key = dimension_key(dimension, entity)
        await outbox.add_tombstone(
            session,
            topic=topics.SEGMENTS_ASSIGNMENTS,
            key=key,
            event_id=event_id(f"{run_id}:{key}:tombstone"),
        )
        for partner in old.partner_ids or []:
            if topics.PARTNER_ID_RE.match(partner):
                await outbox.add_tombstone(
                    session,
                    topic=topics.partner_topic(partner),
                    key=key,
                    event_id=event_id(f"{run_id}:{key}:tombstone:{partner}"),
                )
        history.append(
            {
                "dimension": dimension,
                "entity_id": entity,
                "at": now,
                "old_segment": old.segment,
                "new_segment": None,
                "reasons": ["entity retired"],
                "run_id": run_id,
            }
        )
    await store.delete_assignments(session, dimension, retired)
    await store.add_history(session, history)
    segments: dict[str, int] = {}
    abc: dict[str, int] = {}
    xyz: dict[str, int] = {}
    for row in rows:
        segments[row["segment"]] = segments.get(row["segment"], 0) + 1
        abc[row["abc"]] = abc.get(row["abc"], 0) + 1
        xyz[row["xyz"] or "-"] = xyz.get(row["xyz"] or "-", 0) + 1
    return {
        "entities": len(rows),
        "changed": len(changes),
        "deferred": len(outcome.deferred),
        "retired": len(retired),
        "assigned_events": emitted,
        "segments": dict(sorted(segments.items())),
        "abc": dict(sorted(abc.items())),
        "xyz": dict(sorted(xyz.items())),
    }


def _text(column: Any, i: int) -> str | None:
    if column is None:
        return None
    value = column[i]
    return None if value is None else str(value)
