"""Backorder processing: each strategy's before/after, the processing order, and determinism."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.allocator.domain.backorder import STRATEGIES, OpenLine, reconfirm

Open = OpenLine


def after_by_id(run: object) -> dict[str, tuple[int, int]]:
    return {c.id: (c.before, c.after) for c in run.lines}  # type: ignore[attr-defined]


def test_each_strategy_after_a_supply_drop() -> None:
    lines = [
        Open("w", 1, 1, 10, 0, "win"),
        Open("g", 2, 1, 10, 5, "gain"),
        Open("f", 2, 2, 10, 5, "fill"),
        Open("r", 2, 3, 10, 5, "redistribute"),
        Open("l", 3, 1, 10, 5, "lose"),
    ]
    run = reconfirm(lines, 22)
    # win takes 10 first; gain and fill keep 5 each (2 left); gain (asks 5) and redistribute (asks 10)
    # share 2: exact 0.67 / 1.33 -> floors 0 / 1, the last unit to gain's larger remainder; lose gets 0.
    assert after_by_id(run) == {"w": (0, 10), "g": (5, 6), "f": (5, 5), "r": (5, 1), "l": (5, 0)}
    assert [c.id for c in run.changed] == ["w", "g", "r", "l"]
    assert {c.id: c.delta for c in run.changed} == {"w": 10, "g": 1, "r": -4, "l": -5}
    assert run.unallocated == 0


def test_ample_supply_fill_never_gains_and_lose_keeps() -> None:
    lines = [
        Open("g", 1, 1, 10, 5, "gain"),
        Open("f", 1, 1, 10, 5, "fill"),
        Open("r", 1, 1, 10, 5, "redistribute"),
        Open("l", 1, 1, 10, 5, "lose"),
    ]
    run = reconfirm(lines, 100)
    assert after_by_id(run) == {"g": (5, 10), "f": (5, 5), "r": (5, 10), "l": (5, 10)}
    assert run.unallocated == 100 - 35


def test_win_takes_from_others_in_priority_order() -> None:
    lines = [Open("keep", 1, 1, 8, 8, "gain"), Open("w2", 2, 5, 6, 0, "win"), Open("w1", 2, 1, 6, 0, "win")]
    run = reconfirm(lines, 10)
    # w1 (earlier due) then w2 are served before the gain line keeps anything
    assert after_by_id(run) == {"keep": (8, 0), "w2": (0, 4), "w1": (0, 6)}


def test_redistribute_follows_tiers() -> None:
    lines = [Open("r2", 2, 1, 10, 10, "redistribute"), Open("r1", 1, 1, 10, 0, "redistribute")]
    assert after_by_id(reconfirm(lines, 12)) == {"r2": (10, 2), "r1": (0, 10)}


def test_validation() -> None:
    with pytest.raises(ValueError):
        reconfirm([Open("a", 1, 1, 5, 6, "gain")], 10)
    with pytest.raises(ValueError):
        reconfirm([Open("a", 1, 1, 5, 1, "gain"), Open("a", 1, 1, 5, 1, "fill")], 10)
    with pytest.raises(ValueError):
        reconfirm([Open("a", 1, 1, 5, 1, "steal")], 10)  # type: ignore[arg-type]


raw_lines = st.lists(
    st.tuples(
        st.integers(1, 3), st.integers(0, 4), st.integers(0, 20), st.floats(0, 1), st.sampled_from(STRATEGIES)
    ),
    max_size=12,
)


@given(raw_lines, st.integers(0, 150))
def test_strategy_invariants(raw: list[tuple[int, int, int, float, str]], supply: int) -> None:
    lines = [
        Open(f"L{i:02d}", tier, due, qty, int(qty * frac), strategy)  # type: ignore[arg-type]
        for i, (tier, due, qty, frac, strategy) in enumerate(raw)
    ]
    run = reconfirm(lines, supply)
    assert sum(c.after for c in run.lines) + run.unallocated == supply and run.unallocated >= 0
    for line, change in zip(lines, run.lines, strict=True):
        assert 0 <= change.after <= line.quantity
        if line.strategy == "fill":
            assert change.after <= line.confirmed
    if sum(ln.quantity for ln in lines if ln.strategy == "win") <= supply:
        assert all(
            c.after == ln.quantity for ln, c in zip(lines, run.lines, strict=True) if ln.strategy == "win"
        )
        kept = sum(ln.confirmed for ln in lines if ln.strategy in ("gain", "fill"))
        if sum(ln.quantity for ln in lines if ln.strategy == "win") + kept <= supply:
            assert all(
                c.after >= ln.confirmed
                for ln, c in zip(lines, run.lines, strict=True)
                if ln.strategy in ("gain", "fill")
            )
    if run.unallocated > 0:  # nobody but fill is left short while supply is unused
        assert all(
            c.after == ln.quantity for ln, c in zip(lines, run.lines, strict=True) if ln.strategy != "fill"
        )
    assert reconfirm(list(reversed(lines)), supply).lines == tuple(reversed(run.lines))
