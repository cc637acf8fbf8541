"""How much of a sku@site one segment may still be promised, given resolved quotas and current use.

Maximum (product allocation): a segment never holds more than its maximum. Minimum (supply
protection): what other segments are still owed of their minimums is held back from this segment.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.allocator.domain.quotas import QuotaBounds


def quota_remaining(
    segment: str | None,
    bounds: Mapping[str, QuotaBounds],
    used: Mapping[str, float],
    promisable_total: float,
) -> float | None:
    """Units ``segment`` may still be promised, or ``None`` when no quota applies to it.

    ``headroom = maximum_s - used_s`` when the segment has a quota, else unbounded;
    ``protected_for_others = sum over other segments o of max(0, minimum_o - used_o)``;
    ``remaining = max(0, min(headroom, promisable_total - protected_for_others))``.
    Returns ``None`` when neither a maximum of its own nor another segment's minimum applies.
    """
    protected = sum(
        max(0.0, b.minimum - float(used.get(name, 0.0))) for name, b in bounds.items() if name != segment
    )
    own = bounds.get(segment) if segment is not None else None
    if own is None and protected <= 0:
        return None
    headroom = own.maximum - float(used.get(segment or "", 0.0)) if own is not None else float("inf")
    return max(0.0, min(headroom, promisable_total - protected))
