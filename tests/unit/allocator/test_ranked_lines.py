"""Ranked shares over order lines (domain/ranked_lines.py): segment shares, then tier priority inside."""

from __future__ import annotations

import pytest

from services.allocator.domain.allocate import AllocationLine
from services.allocator.domain.ranked import RankedSegment
from services.allocator.domain.ranked_lines import allocate_ranked_lines


def line(id_: str, segment: str | None, quantity: int, tier: int = 1, due: int = 0) -> AllocationLine:
    return AllocationLine(id_, tier, quantity, due, segment)


def test_worked_example_with_flow_down_and_unranked_rest() -> None:
    # pool 100: GOLD 50% (60 wanted), SILVER 30% (20 wanted, its unused 10 flows down), BRONZE 10% + 10
    lines = [
        line("g1", "GOLD", 40, tier=1), line("g2", "GOLD", 20, tier=2),
        line("s1", "SILVER", 20),
        line("b1", "BRONZE", 30),
        line("x1", None, 50),
    ]  # fmt: skip
    shares = [RankedSegment("GOLD", 1, 0.5), RankedSegment("SILVER", 2, 0.3), RankedSegment("BRONZE", 3, 0.1)]
    run = allocate_ranked_lines(lines, 100, shares)
    got = {r.id: r.allocated for r in run.lines}
    # GOLD 50 -> tier 1 line takes 40, tier 2 gets 10; SILVER 30 entitlement, uses 20 -> 10 carried to BRONZE
    # BRONZE 10 + 10 = 20 of its 30; the unranked line shares what is left: 100 - 50 - 20 - 20 = 10
    assert got == {"g1": 40, "g2": 10, "s1": 20, "b1": 20, "x1": 10}
    assert run.allocated == 100 and run.unallocated == 0
    why = {r.id: r.explanation for r in run.lines}
    assert why["g1"].limited_by == "request" and why["g2"].limited_by == "share"
    assert why["s1"].limited_by == "request" and why["b1"].entitlement == 20
    assert why["x1"].rank is None and why["x1"].limited_by == "unranked" and why["x1"].pool == 10


def test_minimum_lifts_a_segment_above_its_share() -> None:
    lines = [line("a", "A", 100), line("b", "B", 100)]
    run = allocate_ranked_lines(
        lines, 10, [RankedSegment("A", 1, 0.9), RankedSegment("B", 2, 0.1, minimum=4)]
    )
    got = {r.id: r.allocated for r in run.lines}
    # A: floor(9) = 9 units of 10; B is entitled to max(1, 4) = 4 but only 1 is left
    assert got == {"a": 9, "b": 1}
    assert {r.id: r.explanation.limited_by for r in run.lines} == {"a": "share", "b": "supply"}


def test_within_a_segment_the_short_tier_is_split_by_mode() -> None:
    lines = [line("p", "A", 6, due=1), line("q", "A", 3, due=0)]
    even = allocate_ranked_lines(lines, 10, [RankedSegment("A", 1, 0.5)], "even")
    assert {r.id: r.allocated for r in even.lines} == {
        "p": 2,
        "q": 3,
    }  # 5 units: 2.5 each, the odd unit to q (due first)
    fifo = allocate_ranked_lines(lines, 10, [RankedSegment("A", 1, 0.5)], "fifo")
    assert {r.id: r.allocated for r in fifo.lines} == {"p": 2, "q": 3}  # q is due first


@pytest.mark.parametrize("pool", [0, 1, 7, 55])
def test_never_more_than_supply_or_requests(pool: int) -> None:
    lines = [line(f"l{i}", ["A", "B", None][i % 3], 1 + i) for i in range(9)]
    run = allocate_ranked_lines(lines, pool, [RankedSegment("A", 1, 0.6), RankedSegment("B", 2, 0.4)])
    assert sum(r.allocated for r in run.lines) == run.allocated <= pool
    assert all(0 <= r.allocated <= r.requested for r in run.lines)
    by_segment = {s.segment: s.allocated for s in run.segments.segments}
    for segment in ("A", "B"):  # each segment's lines share exactly what its rank gave it
        assert (
            sum(r.allocated for r, ln in zip(run.lines, lines, strict=True) if ln.segment == segment)
            == (by_segment[segment])
        )
    unranked_demand = sum(ln.quantity for ln in lines if ln.segment is None)
    unranked = sum(r.allocated for r, ln in zip(run.lines, lines, strict=True) if ln.segment is None)
    assert unranked == min(pool - sum(by_segment.values()), unranked_demand)
