"""Ranked shares: each segment is promised a percentage of the pool (with a minimum quantity), served in
rank order; what a segment does not use flows to the next rank."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

RankedLimit = Literal["share", "minimum", "demand", "supply"]


@dataclass(frozen=True)
class RankedSegment:
    """A segment's claim: ``share`` in [0, 1] of the pool, at least ``minimum`` units, ``demand`` if known."""

    segment: str
    rank: int
    share: float
    minimum: int = 0
    demand: int | None = None


@dataclass(frozen=True)
class RankedExplanation:
    rank: int
    share: float
    minimum: int
    entitlement: int
    carried_in: int
    limited_by: RankedLimit


@dataclass(frozen=True)
class SegmentAllocation:
    segment: str
    allocated: int
    explanation: RankedExplanation


@dataclass(frozen=True)
class RankedRun:
    segments: tuple[SegmentAllocation, ...]
    pool: int
    allocated: int
    unallocated: int


def share_units(pool: int, shares: list[float]) -> list[int]:
    """Integer shares of ``pool`` by largest remainder: ``floor(share_i * pool)`` each, then the units up to
    ``floor(sum(shares) * pool)`` one each to the largest fractional parts (ties: the earlier position)."""
    exact = [share * pool for share in shares]
    units = [math.floor(value + 1e-9) for value in exact]
    target = math.floor(sum(exact) + 1e-9)
    ranked = sorted(range(len(shares)), key=lambda i: (-(exact[i] - units[i]), i))
    for position in ranked[: max(0, target - sum(units))]:
        units[position] += 1
    return units


def ranked_shares(pool: int, segments: Iterable[RankedSegment]) -> RankedRun:
    """Serve segments in (rank, name) order from ``pool``.

    ``entitlement_i = max(share_units_i, minimum_i) + carried_in_i``;
    ``allocated_i = min(entitlement_i, demand_i, remaining pool)``;
    ``carried_in_{i+1} = entitlement_i - allocated_i`` (unused share flows down one rank). What is left
    after the last rank stays unallocated. Shares must sum to at most 1.
    ``limited_by``: ``demand`` when the segment wanted less, ``supply`` when the pool ran out, ``minimum``
    when the minimum lifted it above its share, else ``share``.
    """
    ordered = sorted(segments, key=lambda s: (s.rank, s.segment))
    if pool < 0:
        raise ValueError("pool must be >= 0")
    if any(s.share < 0 or s.minimum < 0 or (s.demand is not None and s.demand < 0) for s in ordered):
        raise ValueError("shares, minimums and demands must be >= 0")
    if sum(s.share for s in ordered) > 1 + 1e-9:
        raise ValueError("shares sum to more than 1")
    if len({s.segment for s in ordered}) != len(ordered):
        raise ValueError("duplicate segment")
    base = share_units(pool, [s.share for s in ordered])
    remaining, carry = pool, 0
    results = []
    for spec, units in zip(ordered, base, strict=True):
        entitlement = max(units, spec.minimum) + carry
        demand = entitlement if spec.demand is None else spec.demand
        allocated = min(entitlement, demand, remaining)
        if allocated < entitlement and allocated == demand and demand <= remaining:
            limit: RankedLimit = "demand"
        elif allocated < entitlement:
            limit = "supply"
        elif spec.minimum > units:
            limit = "minimum"
        else:
            limit = "share"
        explanation = RankedExplanation(spec.rank, spec.share, spec.minimum, entitlement, carry, limit)
        results.append(SegmentAllocation(spec.segment, allocated, explanation))
        carry = entitlement - allocated if limit == "demand" else 0
        remaining -= allocated
    return RankedRun(tuple(results), pool, pool - remaining, remaining)
