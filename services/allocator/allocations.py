"""Constrained allocation runs over the stored picture: the current free supply of each sku@site
(on hand + open receipts - reservations in force) shared across its open order lines, stored and emitted
as allocation.decided. Modes: ``priority_fair_share`` (``allocate_lines``: tiers, segment quotas, tier
caps, with each tier's cap distortion and each segment's quota distortion reported per sku@site) and
``ranked_shares`` (``allocate_ranked_lines``: segment shares given globally or per sku)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from contracts import topics
from contracts.allocation import AllocationDecided, AllocationExplanation
from services.allocator import store_promises, store_runs, store_supply
from services.allocator.domain.allocate import AllocationLine, allocate_lines
from services.allocator.domain.fair_share import WithinTierMode
from services.allocator.domain.ranked import RankedSegment
from services.allocator.domain.ranked_lines import allocate_ranked_lines
from services.allocator.picture import load_picture, whole_units
from services.allocator.promise_views import SOURCE, segment_bounds
from services.allocator.promising import Promising
from services.allocator.schemas_service import AllocationRunIn
from services.runtime import outbox
from services.runtime.problems import Problem

DEFAULT_TIER = 9
LIMIT_TEXT = {"request": "fully covered", "supply": "supply ran out in its tier", "cap": "tier cap",
              "quota": "segment quota maximum"}  # fmt: skip


@dataclass(frozen=True)
class PointWork:
    sku: str
    site: str
    supply: int
    lines: list[AllocationLine]
    rows: dict[str, Any]
    quotas: dict[str, Any]
    shares: list[RankedSegment]


@dataclass(frozen=True)
class LineOutcome:
    id: str
    requested: int
    allocated: int
    explanation: AllocationExplanation


@dataclass(frozen=True)
class PointOutcome:
    lines: list[LineOutcome]
    summary: dict[str, Any]


def _quota_distortion(allocated: int, minimum: float, maximum: float) -> float:
    """``allocated - maximum`` when above the maximum, ``allocated - minimum`` when below the minimum, else 0."""
    if allocated > maximum:
        return allocated - maximum
    return min(0.0, allocated - minimum)


def _priority(work: PointWork, mode: WithinTierMode, caps: dict[int, float] | None) -> PointOutcome:
    run = allocate_lines(work.lines, work.supply, mode, tier_caps=caps, segment_quotas=work.quotas)
    segment_of = {line.id: line.segment for line in work.lines}
    lines = []
    for line in run.lines:
        why = line.explanation
        explanation = AllocationExplanation(
            tier=why.tier, segment=segment_of[line.id], mode="priority_fair_share", within_tier=why.mode,
            share=why.share, quota=why.quota, limited_by=why.limited_by,
            text=f"tier {why.tier} split {why.pool} units {why.mode}: {LIMIT_TEXT[why.limited_by]}",
        )  # fmt: skip
        lines.append(LineOutcome(line.id, line.requested, line.allocated, explanation))
    tiers = [vars(tier).copy() for tier in run.tiers]
    segments = [
        {"segment": s.segment, "allocated": s.allocated, "minimum": s.minimum, "maximum": s.maximum,
         "distortion": _quota_distortion(s.allocated, s.minimum, s.maximum)}
        for s in run.segments
    ]  # fmt: skip
    summary = {"supply": run.supply, "allocated": run.allocated, "unallocated": run.unallocated,
               "units_moved_by_caps": run.units_moved_by_caps, "tiers": tiers, "segments": segments}  # fmt: skip
    return PointOutcome(lines, summary)


def _ranked(work: PointWork, mode: WithinTierMode) -> PointOutcome:
    run = allocate_ranked_lines(work.lines, work.supply, work.shares, mode)
    lines = []
    for line in run.lines:
        why = line.explanation
        where = (
            f"segment {why.segment} (rank {why.rank}, share {why.share})" if why.rank else "unranked lines"
        )
        explanation = AllocationExplanation(
            tier=why.tier, segment=why.segment, mode="ranked_shares", within_tier=mode, share=why.share,
            quota=why.entitlement, limited_by=why.limited_by,
            text=f"{where} split {why.pool} units: limited by {why.limited_by}",
        )  # fmt: skip
        lines.append(LineOutcome(line.id, line.requested, line.allocated, explanation))
    segments = [
        {"segment": s.segment, "allocated": s.allocated, "rank": s.explanation.rank, "share": s.explanation.share,
         "minimum": float(s.explanation.minimum), "entitlement": s.explanation.entitlement,
         "limited_by": s.explanation.limited_by}
        for s in run.segments.segments
    ]  # fmt: skip
    summary = {"supply": run.supply, "allocated": run.allocated, "unallocated": run.unallocated,
               "units_moved_by_caps": 0, "tiers": [], "segments": segments}  # fmt: skip
    return PointOutcome(lines, summary)


def _compute(work: list[PointWork], request: AllocationRunIn) -> list[PointOutcome]:
    if request.mode == "ranked_shares":
        return [_ranked(w, request.within_tier) for w in work]
    return [_priority(w, request.within_tier, request.tier_caps) for w in work]


def _shares_for(request: AllocationRunIn, sku: str) -> list[RankedSegment]:
    chosen = (request.segments_by_sku or {}).get(sku, request.segments or [])
    return [RankedSegment(s.segment, s.rank, s.share, s.minimum) for s in chosen]


def validate_run(request: AllocationRunIn) -> None:
    """Rules across fields: ranked_shares needs shares; shares sum to at most 1 without duplicates;
    tier caps are shares of supply in [0, 1]."""
    if request.mode == "ranked_shares" and not (request.segments or request.segments_by_sku):
        raise Problem(400, "Invalid request", "ranked_shares needs segments or segments_by_sku",
                      errors=[{"field": "segments", "message": "required for ranked_shares"}])  # fmt: skip
    groups = [("segments", request.segments or [])]
    groups += [(f"segments_by_sku.{sku}", g) for sku, g in (request.segments_by_sku or {}).items()]
    for field, group in groups:
        names = [s.segment for s in group]
        if len(set(names)) != len(names) or sum(s.share for s in group) > 1 + 1e-9:
            raise Problem(400, "Invalid request", f"{field}: duplicate segments or shares summing over 1",
                          errors=[{"field": field, "message": "shares must be distinct and sum to <= 1"}])  # fmt: skip
    for tier, cap in (request.tier_caps or {}).items():
        if not 0 <= cap <= 1:
            raise Problem(400, "Invalid request", f"tier cap of tier {tier} must be in [0, 1]",
                          errors=[{"field": f"tier_caps.{tier}", "message": "must be in [0, 1]"}])  # fmt: skip


async def run_allocation(promising: Promising, request: AllocationRunIn) -> dict[str, Any]:
    """Read each sku@site's picture, allocate in a worker thread, store and emit the decisions."""
    validate_run(request)
    now = promising.clock()
    today = promising.today(now)
    work: list[PointWork] = []
    async with promising.db.read() as session:
        quota_rows = await store_promises.all_quotas(session)
        for point_sku, point_site in await store_supply.stock_points_with_demand(
            session, request.sku, request.site
        ):
            picture = await load_picture(session, point_sku, point_site, today, now)
            supply = whole_units(picture.supply() - float(picture.reservations.sum()))
            rows = {
                f"{r.order_id}/{r.line_id}": r
                for r in await store_supply.open_lines(session, point_sku, point_site)
            }
            lines = [
                AllocationLine(
                    key, r.tier or DEFAULT_TIER, whole_units(r.quantity), r.requested_date, r.segment
                )
                for key, r in rows.items()
            ]
            bounds = segment_bounds(quota_rows, float(supply), today.strftime("%Y-%m"), None, None)
            shares = _shares_for(request, point_sku)
            work.append(PointWork(point_sku, point_site, supply, lines, rows, bounds, shares))
    outcomes = await asyncio.to_thread(_compute, work, request)
    run_id = str(uuid.uuid4())
    decided_at = dt.datetime.fromtimestamp(now, tz=dt.UTC)
    decisions: list[dict[str, Any]] = []
    async with promising.db.unit_of_work() as session:
        for point, outcome in zip(work, outcomes, strict=True):
            for line in outcome.lines:
                row = point.rows[line.id]
                explanation = line.explanation
                decision = {
                    "run_id": run_id, "order_id": row.order_id, "line_id": row.line_id, "sku": point.sku,
                    "site": point.site, "customer_id": row.customer_id, "tier": explanation.tier,
                    "requested": float(line.requested), "allocated": float(line.allocated),
                    "explanation": explanation.model_dump(mode="json"), "decided_at": now,
                }  # fmt: skip
                decisions.append(decision)
                await outbox.add_event(
                    session, topic=topics.ALLOCATION_DECISIONS, key=f"{point.sku}@{point.site}", source=SOURCE,
                    type=AllocationDecided.EVENT_TYPE, id=f"{run_id}:{line.id}",
                    payload=AllocationDecided(
                        run_id=run_id, sku=point.sku, site=point.site, line_id=row.line_id, order_id=row.order_id,
                        customer_id=row.customer_id, tier=explanation.tier, requested=line.requested,
                        allocated=line.allocated, explanation=explanation, decided_at=decided_at,
                    ),
                )  # fmt: skip
        await store_runs.insert_decisions(
            session, [{**d, "explanation": orjson.dumps(d["explanation"]).decode()} for d in decisions]
        )
    promising.wake_relay()
    return {
        "run_id": run_id,
        "mode": request.mode,
        "stock_points": len(work),
        "lines": len(decisions),
        "allocated": float(sum(d["allocated"] for d in decisions)),
        "points": [{"sku": w.sku, "site": w.site, **o.summary} for w, o in zip(work, outcomes, strict=True)],
        "decisions": [{**d, "decided_at": decided_at} for d in decisions],
    }
