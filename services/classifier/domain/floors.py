"""Contract floors (minimum tier / service level / segment) and regulated-region policy pinning.

The segment ladder orders segments by service: a lower tier is better, then (same tier) a higher
service-level target. Segment X is *below* segment S when tier(X) > tier(S), or the tiers are equal and
target(X) < target(S); segments with the same tier and target are on the same rung (neither is below).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .ruleset import SegmentPolicy


def _lift_target_for_tier(
    policies: Sequence[SegmentPolicy], ladder: Sequence[int], min_tier: float
) -> int | None:
    """Lowest segment still meeting the floor: tier <= min_tier, largest tier, then lowest target, name."""
    candidates = [i for i in ladder if policies[i].tier <= min_tier]
    if not candidates:
        return None
    return min(
        candidates, key=lambda i: (-policies[i].tier, policies[i].service_level_target, policies[i].name)
    )


def _lift_target_for_level(
    policies: Sequence[SegmentPolicy], ladder: Sequence[int], min_level: float
) -> int | None:
    """Cheapest segment meeting the floor: target >= min_level, lowest target, then largest tier, name."""
    candidates = [i for i in ladder if policies[i].service_level_target >= min_level]
    if not candidates:
        return None
    return min(
        candidates, key=lambda i: (policies[i].service_level_target, -policies[i].tier, policies[i].name)
    )


def _below(policies: Sequence[SegmentPolicy], segment: int, floor: int) -> bool:
    """Rule: ``segment`` is below ``floor`` on the ladder (module docstring)."""
    low, high = policies[segment], policies[floor]
    return low.tier > high.tier or (
        low.tier == high.tier and low.service_level_target < high.service_level_target
    )


def _lift_target_for_segment(
    policies: Sequence[SegmentPolicy], ladder: Sequence[int], floor: int
) -> int | None:
    """The floor segment itself when the ladder has it; else the lowest ladder segment not below it (largest
    tier, then lowest target, then name: the tier floor's order); None when every ladder segment is below."""
    if floor in ladder:
        return floor
    candidates = [i for i in ladder if not _below(policies, i, floor)]
    if not candidates:
        return None
    return min(
        candidates, key=lambda i: (-policies[i].tier, policies[i].service_level_target, policies[i].name)
    )


def apply_contract_floors(
    segment: np.ndarray,
    policies: Sequence[SegmentPolicy],
    min_tier: np.ndarray,
    min_service_level: np.ndarray,
    ladder: Sequence[int],
    min_segment: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lift segments that fall below a customer's contract floor; returns (segment, lifted, unmet).

    Rule (tier 1 = best service): an entity with tier(segment) > min_tier moves to the segment with
    tier <= min_tier closest to the floor (largest tier, then lowest service-level target, then name);
    then one with target(segment) < min_service_level moves to the segment with the lowest target
    >= min_service_level (then largest tier, then name); then one whose segment is below its
    ``min_segment`` on the ladder (module docstring) moves to that segment, or, when the rules never
    assign it, to the lowest ladder segment not below it (largest tier, lowest target, name).
    Each floor lifts only an entity still below it, so the strictest floor wins: on a ladder where a
    better tier never has a lower target (every shipped template) the result is the highest of the
    computed segment and the floors' targets. A floor no segment meets sets ``unmet``.
    Lift targets come from ``ladder``: the segments the rules and the default assign (never an
    exception-only segment such as NPI). NaN floors and ``min_segment`` -1 (a code into ``policies``
    otherwise) are absent. Loops only over the distinct floor values, never over entities.
    """
    tiers = np.array([p.tier for p in policies], dtype=np.float64)
    targets = np.array([p.service_level_target for p in policies], dtype=np.float64)
    result = segment.copy()
    lifted = np.zeros(segment.shape[0], dtype=bool)
    unmet = np.zeros(segment.shape[0], dtype=bool)

    def lift(below: np.ndarray, target: int | None) -> None:
        if target is None:
            unmet[below] = True
        else:
            result[below] = target
            lifted[below] = True

    for floor in np.unique(min_tier[~np.isnan(min_tier)]):
        below = (min_tier == floor) & (tiers[result] > floor)
        lift(below, _lift_target_for_tier(policies, ladder, float(floor)))
    for floor in np.unique(min_service_level[~np.isnan(min_service_level)]):
        below = (min_service_level == floor) & (targets[result] < floor)
        lift(below, _lift_target_for_level(policies, ladder, float(floor)))
    codes = np.full(segment.shape[0], -1) if min_segment is None else min_segment
    for floor in np.unique(codes[codes >= 0]).tolist():
        same_tier = tiers[result] == tiers[floor]
        worse = (tiers[result] > tiers[floor]) | (same_tier & (targets[result] < targets[floor]))
        lift((codes == floor) & worse, _lift_target_for_segment(policies, ladder, int(floor)))
    return result, lifted, unmet


def pin_regulated_policies(
    segment: np.ndarray,
    region: np.ndarray,
    region_missing: np.ndarray,
    regulated_regions: Mapping[str, Mapping[str, str]],
    code_of: Mapping[str, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Service policy per entity: its segment's, except in regulated regions; returns (policy, regulated).

    Rule: for region R in ``regulated_regions``, policy(entity) = segment_policy(R) whatever the computed
    segment (one policy across segments there); elsewhere policy = segment.
    """
    policy = segment.copy()
    regulated = np.zeros(segment.shape[0], dtype=bool)
    for name, spec in regulated_regions.items():
        here = (region == name) & ~region_missing
        policy[here] = code_of[spec["segment_policy"]]
        regulated |= here
    return policy, regulated
