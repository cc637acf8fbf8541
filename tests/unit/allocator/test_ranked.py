"""Ranked shares: percentages of the pool with minimums, rank order, unused share flowing down."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.allocator.domain.ranked import RankedSegment, ranked_shares, share_units

R = RankedSegment


def test_shares_with_unused_share_flowing_to_next_rank() -> None:
    run = ranked_shares(100, [R("GOLD", 1, 0.5, demand=30), R("SILVER", 2, 0.3), R("BRONZE", 3, 0.2)])
    got = {s.segment: s for s in run.segments}
    assert got["GOLD"].allocated == 30 and got["GOLD"].explanation.limited_by == "demand"
    # GOLD's unused 20 flows to SILVER: 30 + 20
    assert got["SILVER"].allocated == 50 and got["SILVER"].explanation.carried_in == 20
    assert got["BRONZE"].allocated == 20 and got["BRONZE"].explanation.limited_by == "share"
    assert run.unallocated == 0


def test_minimum_lifts_a_segment_and_rank_order_decides_who_runs_short() -> None:
    run = ranked_shares(100, [R("BRONZE", 3, 0.2, minimum=25), R("SILVER", 2, 0.3), R("GOLD", 1, 0.5)])
    got = {s.segment: s for s in run.segments}
    assert [s.segment for s in run.segments] == ["GOLD", "SILVER", "BRONZE"]
    assert (got["GOLD"].allocated, got["SILVER"].allocated) == (50, 30)
    assert got["BRONZE"].explanation.entitlement == 25
    assert got["BRONZE"].allocated == 20 and got["BRONZE"].explanation.limited_by == "supply"

    run = ranked_shares(100, [R("BRONZE", 1, 0.2, minimum=25), R("GOLD", 2, 0.8)])
    got = {s.segment: s for s in run.segments}
    assert got["BRONZE"].allocated == 25 and got["BRONZE"].explanation.limited_by == "minimum"
    assert got["GOLD"].allocated == 75 and got["GOLD"].explanation.limited_by == "supply"


def test_shares_below_one_leave_supply_unallocated() -> None:
    run = ranked_shares(10, [R("A", 1, 0.25), R("B", 2, 0.25)])
    # 2.5 and 2.5 -> floors 2, 2; floor(5.0) = 5 -> one unit by largest remainder, tie to the first rank
    assert [s.allocated for s in run.segments] == [3, 2]
    assert run.unallocated == 5


def test_invalid() -> None:
    with pytest.raises(ValueError, match="more than 1"):
        ranked_shares(10, [R("A", 1, 0.7), R("B", 2, 0.4)])
    with pytest.raises(ValueError):
        ranked_shares(10, [R("A", 1, 0.5), R("A", 2, 0.4)])
    with pytest.raises(ValueError):
        ranked_shares(-1, [])


@given(
    st.integers(0, 500),
    st.lists(st.tuples(st.integers(0, 100), st.integers(0, 50), st.none() | st.integers(0, 300)), max_size=6),
)
def test_never_more_than_pool_or_demand(pool: int, raw: list[tuple[int, int, int | None]]) -> None:
    total_weight = sum(w for w, _, _ in raw) or 1
    segments = [R(f"S{i}", i + 1, w / total_weight, m, d) for i, (w, m, d) in enumerate(raw)]
    run = ranked_shares(pool, segments)
    assert run.allocated + run.unallocated == pool and run.unallocated >= 0
    for spec, result in zip(segments, run.segments, strict=True):
        assert result.allocated >= 0
        if spec.demand is not None:
            assert result.allocated <= spec.demand


@given(st.integers(0, 1000), st.lists(st.integers(0, 10), min_size=1, max_size=8))
def test_share_units_sum(pool: int, weights: list[int]) -> None:
    total = sum(weights) or 1
    units = share_units(pool, [w / total for w in weights])
    assert sum(units) == (pool if sum(weights) else 0)
    assert all(abs(u - pool * w / total) < 1 for u, w in zip(units, weights, strict=True))
