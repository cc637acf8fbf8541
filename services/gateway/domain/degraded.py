"""The degraded promise: a confirmation computed from the last known ATP snapshot, never reserving.

Pure: buckets are (day ordinal, available quantity) pairs; no dates, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence


def confirm_from_snapshot(
    buckets: Sequence[tuple[int, float]], quantity: float, requested_day: int
) -> tuple[list[tuple[int, float]], float]:
    """Greedy confirmation against a stale ATP snapshot: (confirmations, unconfirmed).

    Rule: walk the buckets in day order; a bucket's quantity confirmed is
    c_i = min(max(atp_i, 0), remaining) on day max(day_i, requested_day); remaining -= c_i until it is 0.
    Confirmations on the same day are merged. unconfirmed = quantity - sum(c_i) >= 0.
    """
    if quantity < 0:
        raise ValueError("quantity must be >= 0")
    remaining = float(quantity)
    by_day: dict[int, float] = {}
    for day, available in sorted(buckets):
        if remaining <= 0:
            break
        take = min(max(float(available), 0.0), remaining)
        if take <= 0:
            continue
        when = max(day, requested_day)
        by_day[when] = by_day.get(when, 0.0) + take
        remaining -= take
    return sorted(by_day.items()), max(remaining, 0.0)
