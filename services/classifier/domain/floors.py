"""Contract floors (minimum tier / service level) and regulated-region policy pinning."""

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


def apply_contract_floors(
    segment: np.ndarray,
    policies: Sequence[SegmentPolicy],
    min_tier: np.ndarray,
    min_service_level: np.ndarray,
    ladder: Sequence[int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lift segments that fall below a customer's contract floor; returns (segment, lifted, unmet).

    Rule (tier 1 = best service): an entity with tier(segment) > min_tier moves to the segment with
    tier <= min_tier closest to the floor (largest tier, then lowest service-level target, then name);
    then one with target(segment) < min_service_level moves to the segment with the lowest target
    >= min_service_level (then largest tier, then name). A floor no segment meets sets ``unmet``.
    Lift targets come from ``ladder``: the segments the rules and the default assign (never an
    exception-only segment such as NPI). NaN floors are absent. Loops only over the distinct floor
    values, never over entities.
    """
    tiers = np.array([p.tier for p in policies], dtype=np.float64)
    targets = np.array([p.service_level_target for p in policies], dtype=np.float64)
    result = segment.copy()
    lifted = np.zeros(segment.shape[0], dtype=bool)
    unmet = np.zeros(segment.shape[0], dtype=bool)
    for floor in np.unique(min_tier[~np.isnan(min_tier)]):
        below = (min_tier == floor) & (tiers[result] > floor)
        target = _lift_target_for_tier(policies, ladder, float(floor))
        if target is None:
            unmet |= below
            continue
        result[below] = target
        lifted |= below
    for floor in np.unique(min_service_level[~np.isnan(min_service_level)]):
        below = (min_service_level == floor) & (targets[result] < floor)
        target = _lift_target_for_level(policies, ladder, float(floor))
        if target is None:
            unmet |= below
            continue
        result[below] = target
        lifted |= below
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
