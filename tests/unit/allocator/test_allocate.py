"""Constrained allocation runs: priority across tiers, modes, caps and distortion, quotas, explanations."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.allocator.domain.allocate import AllocationLine, allocate_lines
from services.allocator.domain.quotas import QuotaBounds

from .reference import reference_allocation

L = AllocationLine
EXAMPLE = [L("big", 1, 20, 1), L("c", 2, 5, 3), L("a", 2, 5, 1), L("b", 2, 5, 2), L("late", 3, 9, 0)]


def by_id(run_lines: tuple) -> dict:  # type: ignore[type-arg]
    return {line.id: line for line in run_lines}


def test_design_example_four_three_three() -> None:
    """Supply 30: tier 1 takes its 20; 10 left for three equal tier-2 lines -> 4/3/3, the 4 to the
    earliest due date; tier 3 gets nothing."""
    run = allocate_lines(EXAMPLE, 30)
    got = by_id(run.lines)
    assert {k: v.allocated for k, v in got.items()} == {"big": 20, "a": 4, "b": 3, "c": 3, "late": 0}
    assert got["big"].explanation.limited_by == "request"
    assert got["a"].explanation.limited_by == "supply"
    assert got["a"].explanation.pool == 10
    assert got["a"].explanation.share == pytest.approx(10 / 3)
    assert got["late"].explanation.limited_by == "supply" and got["late"].explanation.pool == 0
    assert run.allocated == 30 and run.unallocated == 0


def test_first_uncovered_tier_stops_later_tiers() -> None:
    run = allocate_lines(EXAMPLE, 12)
    got = {line.id: line.allocated for line in run.lines}
    assert got == {"big": 12, "a": 0, "b": 0, "c": 0, "late": 0}


def test_surplus_serves_everyone_and_is_reported() -> None:
    run = allocate_lines(EXAMPLE, 100)
    assert all(line.allocated == line.requested for line in run.lines)
    assert run.unallocated == 100 - 44


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        # 10 * (2, 8, 6) / 16 = 1.25, 5, 3.75 -> floors 1, 5, 3; the last unit to the largest remainder (z)
        ("proportional", {"x": 1, "y": 5, "z": 4}),
        # water level L with 2 + 2L = 10 -> L = 4
        ("even", {"x": 2, "y": 4, "z": 4}),
        # due order x, y, z
        ("fifo", {"x": 2, "y": 8, "z": 0}),
    ],
)
def test_within_tier_modes(mode: str, expected: dict[str, int]) -> None:
    lines = [L("x", 1, 2, 1), L("y", 1, 8, 2), L("z", 1, 6, 3)]
    run = allocate_lines(lines, 10, mode)  # type: ignore[arg-type]
    assert {line.id: line.allocated for line in run.lines} == expected
    assert all(line.explanation.mode == mode for line in run.lines)


def test_caps_stop_hoarding_and_report_distortion() -> None:
    run = allocate_lines(EXAMPLE, 30, tier_caps={1: 0.5})
    got = by_id(run.lines)
    assert got["big"].allocated == 15 and got["big"].explanation.limited_by == "cap"
    assert [got[i].allocated for i in ("a", "b", "c")] == [5, 5, 5]
    assert got["late"].allocated == 0  # 30 - 15 - 15 = 0 left
    tiers = {t.tier: t for t in run.tiers}
    assert (tiers[1].cap, tiers[1].uncapped_allocated, tiers[1].allocated, tiers[1].distortion) == (
        15,
        20,
        15,
        -5,
    )
    assert tiers[2].distortion == 5 and tiers[3].distortion == 0
    assert run.units_moved_by_caps == 5


def test_segment_maximum_limits_by_quota() -> None:
    lines = [L("g1", 1, 10, 1, "GOLD"), L("g2", 1, 10, 2, "GOLD"), L("s1", 2, 10, 1, "SILVER")]
    run = allocate_lines(lines, 30, segment_quotas={"GOLD": QuotaBounds(0, 12, 1)})
    got = by_id(run.lines)
    assert got["g1"].allocated + got["g2"].allocated == 12
    assert {got["g1"].allocated, got["g2"].allocated} == {6}
    assert got["g1"].explanation.limited_by == "quota" and got["g1"].explanation.quota == 12
    assert got["s1"].allocated == 10
    assert [(s.segment, s.allocated) for s in run.segments] == [("GOLD", 12)]


def test_segment_minimum_protects_a_lower_tier() -> None:
    lines = [L("p1", 1, 30, 1, "PLATINUM"), L("b1", 3, 8, 1, "BRONZE"), L("s1", 2, 5, 1, "SILVER")]
    run = allocate_lines(lines, 30, segment_quotas={"BRONZE": QuotaBounds(6, 30, 3)})
    got = {line.id: line.allocated for line in run.lines}
    assert got == {"p1": 24, "s1": 0, "b1": 6}


def test_invalid_lines() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        allocate_lines([L("a", 1, 1, 1), L("a", 1, 1, 1)], 3)
    with pytest.raises(ValueError, match="quantity"):
        allocate_lines([L("a", 1, -1, 1)], 3)
    with pytest.raises(ValueError):
        allocate_lines([L("a", 1, 1, 1)], 3, tier_caps={1: 1.5})


line_lists = st.lists(
    st.tuples(st.integers(1, 4), st.integers(0, 30), st.integers(0, 5)), min_size=0, max_size=15
)


@given(line_lists, st.integers(0, 200), st.sampled_from(["proportional", "even", "fifo"]))
def test_properties_and_reference(raw: list[tuple[int, int, int]], supply: int, mode: str) -> None:
    lines = [L(f"L{i:02d}", tier, qty, due) for i, (tier, qty, due) in enumerate(raw)]
    run = allocate_lines(lines, supply, mode)  # type: ignore[arg-type]
    requested = sum(qty for _, qty, _ in raw)
    assert run.allocated == min(supply, requested) <= supply
    assert all(0 <= line.allocated <= line.requested for line in run.lines)
    expected = reference_allocation([(ln.id, ln.tier, ln.quantity, ln.due) for ln in lines], supply, mode)
    assert {line.id: line.allocated for line in run.lines} == expected


@given(line_lists, st.integers(0, 200), st.floats(0, 1))
def test_caps_never_oversell(raw: list[tuple[int, int, int]], supply: int, cap: float) -> None:
    lines = [L(f"L{i:02d}", tier, qty, due) for i, (tier, qty, due) in enumerate(raw)]
    run = allocate_lines(lines, supply, tier_caps={1: cap})
    assert run.allocated <= supply
    assert all(0 <= line.allocated <= line.requested for line in run.lines)
    tier1 = [t for t in run.tiers if t.tier == 1]
    if tier1:
        assert tier1[0].allocated <= tier1[0].cap  # type: ignore[operator]
    assert sum(t.distortion for t in run.tiers) == run.allocated - sum(
        t.uncapped_allocated for t in run.tiers
    )
