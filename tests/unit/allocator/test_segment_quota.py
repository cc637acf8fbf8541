"""quota_remaining (domain/segment_quota.py): maximum headroom and other segments' minimum protection."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from services.allocator.domain.quotas import QuotaBounds
from services.allocator.domain.segment_quota import quota_remaining

INF = math.inf


def bounds(minimum: float = 0.0, maximum: float = INF) -> QuotaBounds:
    return QuotaBounds(minimum=minimum, maximum=maximum, tier=1)


def test_no_quota_anywhere_means_unbounded() -> None:
    assert quota_remaining("GOLD", {}, {}, 100) is None
    assert quota_remaining(None, {}, {"GOLD": 5}, 100) is None
    # another segment's maximum alone does not bound this one
    assert quota_remaining("SILVER", {"GOLD": bounds(maximum=10)}, {}, 100) is None


def test_own_maximum_leaves_its_headroom() -> None:
    quotas = {"SILVER": bounds(maximum=30)}
    assert quota_remaining("SILVER", quotas, {"SILVER": 12}, 100) == 18
    assert quota_remaining("SILVER", quotas, {"SILVER": 12}, 10) == 10  # ATP is the tighter bound
    assert quota_remaining("SILVER", quotas, {"SILVER": 40}, 100) == 0  # over its maximum: never negative


def test_other_segments_minimums_are_held_back() -> None:
    quotas = {"GOLD": bounds(minimum=20), "PLATINUM": bounds(minimum=5)}
    # GOLD is still owed 20 - 8 = 12, PLATINUM 5 - 9 < 0 -> 0: 50 - 12 = 38 for BRONZE (no quota of its own)
    assert quota_remaining("BRONZE", quotas, {"GOLD": 8, "PLATINUM": 9}, 50) == 38
    assert quota_remaining(None, quotas, {}, 10) == 0  # protection exceeds what is promisable
    # a segment's own minimum is not held back from itself
    assert quota_remaining("GOLD", quotas, {}, 50) == 45


def test_maximum_and_protection_combine() -> None:
    quotas = {"SILVER": bounds(maximum=30), "GOLD": bounds(minimum=25)}
    assert quota_remaining("SILVER", quotas, {"SILVER": 10, "GOLD": 5}, 40) == min(30 - 10, 40 - 20)


@given(
    st.floats(0, 1000),
    st.floats(0, 1000),
    st.floats(0, 1000),
    st.floats(0, 1000),
    st.floats(0, 2000),
)
def test_formula(own_max: float, own_used: float, other_min: float, other_used: float, total: float) -> None:
    quotas = {"A": bounds(maximum=own_max), "B": bounds(minimum=other_min)}
    got = quota_remaining("A", quotas, {"A": own_used, "B": other_used}, total)
    protected = other_min - other_used if other_min > other_used else 0.0
    expected = min(own_max - own_used, total - protected)
    assert got == (expected if expected > 0 else 0.0)
