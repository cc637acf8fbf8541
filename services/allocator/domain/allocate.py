"""Constrained allocation runs: strict priority across tiers, fair share inside the first short tier.

Owns the line-level run with explanations: segment quotas (maximum = product allocation, minimum =
supply protection), per-tier caps against hoarding, and the distortion those caps cause versus the plain
priority run. The vectorised many-SKU variant is ``batch.allocate_batch``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from services.allocator.domain.fair_share import WithinTierMode, split_pool
from services.allocator.domain.quotas import QuotaBounds

LineLimit = Literal["request", "supply", "cap", "quota"]


@dataclass(frozen=True)
class AllocationLine:
    """An order line competing for supply: tier 1 is served first; ``due`` is a day index or a date."""

    id: str
    tier: int
    quantity: int
    due: Any
    segment: str | None = None


@dataclass(frozen=True)
class LineExplanation:
    """Why a line got what it got: its tier, the pool its tier split, its exact share, quota and limit."""

    tier: int
    mode: WithinTierMode
    pool: int
    share: float
    quota: float | None
    limited_by: LineLimit


@dataclass(frozen=True)
class LineAllocation:
    id: str
    requested: int
    allocated: int
    explanation: LineExplanation


@dataclass(frozen=True)
class TierSummary:
    """Per tier: demand, allocation, the cap (units) and the distortion the cap caused.

    ``distortion = allocated - uncapped_allocated`` (negative for a capped tier, positive for the tiers
    that received what the cap released).
    """

    tier: int
    requested: int
    allocated: int
    cap: int | None
    uncapped_allocated: int
    distortion: int


@dataclass(frozen=True)
class SegmentSummary:
    """Per segment with a quota: allocated against its (minimum, maximum)."""

    segment: str
    minimum: float
    maximum: float
    allocated: int


@dataclass(frozen=True)
class AllocationRun:
    lines: tuple[LineAllocation, ...]
    tiers: tuple[TierSummary, ...]
    segments: tuple[SegmentSummary, ...]
    supply: int
    allocated: int
    unallocated: int
    units_moved_by_caps: int


def validate_lines(lines: Sequence[AllocationLine], supply: int) -> None:
    """Reject negative supply or quantities and duplicate ids (``ValueError`` naming the line)."""
    if supply < 0:
        raise ValueError("supply must be >= 0")
    seen: set[str] = set()
    for line in lines:
        if line.quantity < 0:
            raise ValueError(f"line {line.id}: quantity must be >= 0")
        if line.id in seen:
            raise ValueError(f"line {line.id}: duplicate id")
        seen.add(line.id)


def _split(
    lines: Sequence[AllocationLine], requests: Sequence[int], pool: int, mode: WithinTierMode
) -> tuple[list[int], list[float]]:
    return split_pool(mode, list(requests), pool, [ln.due for ln in lines], [ln.id for ln in lines])


def priority_fair_share(
    lines: Sequence[AllocationLine], supply: int, mode: WithinTierMode = "proportional"
) -> dict[str, int]:
    """The plain rule: tiers in order get their full demand while supply covers it; the first tier that
    cannot be covered splits what is left by ``mode``; later tiers get 0. Returns allocated per line id."""
    run = allocate_lines(lines, supply, mode)
    return {line.id: line.allocated for line in run.lines}


def _effective_requests(
    lines: Sequence[AllocationLine], quotas: Mapping[str, QuotaBounds], mode: WithinTierMode
) -> dict[str, int]:
    """Requests after segment maximums: a segment's lines share ``floor(maximum)`` by the priority rule."""
    effective = {line.id: line.quantity for line in lines}
    by_segment: dict[str, list[AllocationLine]] = defaultdict(list)
    for line in lines:
        if line.segment is not None and line.segment in quotas:
            by_segment[line.segment].append(line)
    for segment, members in by_segment.items():
        effective.update(priority_fair_share(members, math.floor(quotas[segment].maximum), mode))
    return effective


def _run(
    lines: Sequence[AllocationLine],
    supply: int,
    mode: WithinTierMode,
    caps: Mapping[int, int],
    quotas: Mapping[str, QuotaBounds],
) -> tuple[dict[str, int], dict[str, tuple[int, float, bool]], dict[str, int]]:
    """Core loop; returns allocated per id, (pool, exact share, cap-bound) per id and effective requests."""
    effective = _effective_requests(lines, quotas, mode)
    reserved: dict[str, int] = {}
    unreserved = supply
    for segment, bounds in sorted(quotas.items(), key=lambda item: (item[1].tier, item[0])):
        demand = sum(effective[ln.id] for ln in lines if ln.segment == segment)
        reserved[segment] = min(math.floor(bounds.minimum), demand, unreserved)
        unreserved -= reserved[segment]
    free = unreserved
    allocated = {line.id: 0 for line in lines}
    detail: dict[str, tuple[int, float, bool]] = {}
    for tier in sorted({line.tier for line in lines}):
        members = sorted((ln for ln in lines if ln.tier == tier), key=lambda ln: (ln.due, ln.id))
        protected_total = 0
        protected = {ln.segment for ln in members if ln.segment is not None and reserved.get(ln.segment)}
        for segment in sorted(protected):
            group = [ln for ln in members if ln.segment == segment]
            grant, _ = _split(group, [effective[ln.id] for ln in group], reserved[segment], mode)
            for ln, units in zip(group, grant, strict=True):
                allocated[ln.id] += units
            reserved[segment] -= sum(grant)
            protected_total += sum(grant)
        open_requests = [effective[ln.id] - allocated[ln.id] for ln in members]
        cap_left = max(0, caps[tier] - protected_total) if tier in caps else free
        pool = min(free, cap_left)
        grant, exact = _split(members, open_requests, pool, mode)
        for ln, units, share in zip(members, grant, exact, strict=True):
            allocated[ln.id] += units
            detail[ln.id] = (pool, share + allocated[ln.id] - units, cap_left < free)
        free -= sum(grant)
    return allocated, detail, effective


def _limit(line: AllocationLine, allocated: int, effective: int, cap_bound: bool) -> LineLimit:
    if allocated >= line.quantity:
        return "request"
    if allocated >= effective:
        return "quota"
    return "cap" if cap_bound else "supply"


def allocate_lines(
    lines: Iterable[AllocationLine],
    supply: int,
    mode: WithinTierMode = "proportional",
    tier_caps: Mapping[int, float] | None = None,
    segment_quotas: Mapping[str, QuotaBounds] | None = None,
) -> AllocationRun:
    """Allocate ``supply`` units to ``lines`` by strict tier priority with fair share in the short tier.

    Order of work: (1) a segment maximum turns its lines' requests into ``effective`` requests (the
    segment's ``floor(maximum)`` split among them by this same rule); (2) a segment minimum reserves
    ``min(floor(minimum), segment demand)`` units (while supply lasts, by quota tier) that higher tiers
    cannot take; (3) tiers ascending: the
    tier's protected segments first take their reservation, then the tier's open pool
    ``min(free supply, cap_units - protected)`` with ``cap_units = floor(cap_share * supply)`` covers
    every open request if it can, else is split by ``mode`` (``fair_share`` module) and the next tiers
    get only what a cap left free. ``sum(allocated) = min(supply, sum(effective))`` when no cap binds.
    With caps the run is repeated without them and ``distortion = allocated - uncapped`` is reported.
    """
    line_list = list(lines)
    validate_lines(line_list, supply)
    quotas = dict(segment_quotas or {})
    caps = {tier: math.floor(share * supply) for tier, share in (tier_caps or {}).items()}
    if any(share < 0 or share > 1 for share in (tier_caps or {}).values()):
        raise ValueError("a tier cap is a share of supply in [0, 1]")
    allocated, detail, effective = _run(line_list, supply, mode, caps, quotas)
    uncapped = _run(line_list, supply, mode, {}, quotas)[0] if caps else allocated
    results = []
    for line in line_list:
        pool, share, cap_bound = detail[line.id]
        quota = quotas[line.segment].maximum if line.segment in quotas else None
        limit = _limit(line, allocated[line.id], effective[line.id], cap_bound)
        explanation = LineExplanation(line.tier, mode, pool, share, quota, limit)
        results.append(LineAllocation(line.id, line.quantity, allocated[line.id], explanation))
    tiers = []
    for tier in sorted({line.tier for line in line_list}):
        ids = [line.id for line in line_list if line.tier == tier]
        got, would = sum(allocated[i] for i in ids), sum(uncapped[i] for i in ids)
        requested = sum(line.quantity for line in line_list if line.tier == tier)
        tiers.append(TierSummary(tier, requested, got, caps.get(tier), would, got - would))
    segments = tuple(
        SegmentSummary(
            segment,
            bounds.minimum,
            bounds.maximum,
            sum(allocated[ln.id] for ln in line_list if ln.segment == segment),
        )
        for segment, bounds in sorted(quotas.items())
    )
    total = sum(allocated.values())
    moved = sum(abs(allocated[i] - uncapped[i]) for i in allocated) // 2
    return AllocationRun(tuple(results), tuple(tiers), segments, supply, total, supply - total, moved)
