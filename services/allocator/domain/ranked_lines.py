"""Ranked shares over order lines: the segments' ranked shares of a sku@site's supply (``ranked``), then
each segment's units split over its own lines by strict tier priority with fair share (``allocate``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from services.allocator.domain.allocate import AllocationLine, allocate_lines
from services.allocator.domain.fair_share import WithinTierMode
from services.allocator.domain.ranked import RankedRun, RankedSegment, ranked_shares


@dataclass(frozen=True)
class RankedLineExplanation:
    """A line's segment, that segment's rank, share and entitlement (``None`` for lines of a segment
    without a share), the units its group split (``pool``) and what limited the line."""

    tier: int
    segment: str | None
    rank: int | None
    share: float | None
    entitlement: int | None
    pool: int
    limited_by: str


@dataclass(frozen=True)
class RankedLineAllocation:
    id: str
    requested: int
    allocated: int
    explanation: RankedLineExplanation


@dataclass(frozen=True)
class RankedLinesRun:
    lines: tuple[RankedLineAllocation, ...]
    segments: RankedRun
    supply: int
    allocated: int
    unallocated: int


def _split(lines: Sequence[AllocationLine], pool: int, mode: WithinTierMode) -> dict[str, int]:
    run = allocate_lines(lines, pool, mode)
    return {line.id: line.allocated for line in run.lines}


def allocate_ranked_lines(
    lines: Iterable[AllocationLine],
    supply: int,
    shares: Iterable[RankedSegment],
    mode: WithinTierMode = "proportional",
) -> RankedLinesRun:
    """Allocate ``supply`` to ``lines`` by ranked segment shares.

    ``demand_s = sum(quantity of the lines of segment s)``; ``allocated_s`` = ``ranked_shares(supply,
    shares with demand_s)``; segment ``s``'s lines split ``allocated_s`` by strict tier priority with fair
    share by ``mode``. Lines whose segment has no share split what the ranked segments left
    (``supply - sum(allocated_s)``) the same way, after them. ``limited_by`` of a line: ``request`` when
    fully served, else its segment's limit (``share``, ``minimum`` or ``supply``), or ``unranked`` for a
    line of a segment without a share.
    """
    line_list = list(lines)
    configured = {spec.segment: spec for spec in shares}
    demand: dict[str, int] = dict.fromkeys(configured, 0)
    for line in line_list:
        if line.segment in configured:
            demand[line.segment] += line.quantity
    specs = [
        RankedSegment(s.segment, s.rank, s.share, s.minimum, demand[s.segment]) for s in configured.values()
    ]
    run = ranked_shares(supply, specs)
    results: dict[str, RankedLineAllocation] = {}
    for segment_result in run.segments:
        group = [line for line in line_list if line.segment == segment_result.segment]
        got = _split(group, segment_result.allocated, mode) if group else {}
        why = segment_result.explanation
        for line in group:
            limit: str = "request" if got[line.id] >= line.quantity else why.limited_by
            explanation = RankedLineExplanation(
                line.tier, line.segment, why.rank, why.share, why.entitlement, segment_result.allocated, limit
            )
            results[line.id] = RankedLineAllocation(line.id, line.quantity, got[line.id], explanation)
    others = [line for line in line_list if line.segment not in configured]
    got = _split(others, run.unallocated, mode) if others else {}
    for line in others:
        limit = "request" if got[line.id] >= line.quantity else "unranked"
        explanation = RankedLineExplanation(line.tier, line.segment, None, None, None, run.unallocated, limit)
        results[line.id] = RankedLineAllocation(line.id, line.quantity, got[line.id], explanation)
    ordered = tuple(results[line.id] for line in line_list)
    total = sum(result.allocated for result in ordered)
    return RankedLinesRun(ordered, run, supply, total, supply - total)
