"""Within-tier splits: proportional with largest remainder, even (water-filling), FIFO."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.allocator.domain.fair_share import split_even, split_fifo, split_pool, split_proportional


def test_largest_remainder_tie_broken_by_due_date_then_id() -> None:
    allocated, exact = split_proportional([5, 5, 5], 10, due=[3, 1, 2], ids=["a", "b", "c"])
    assert allocated == [3, 4, 3]  # b is due first
    assert exact == pytest.approx([10 / 3] * 3)
    allocated, _ = split_proportional([5, 5, 5], 10, due=[1, 1, 1], ids=["c", "b", "a"])
    assert allocated == [3, 3, 4]  # same due date: id "a" wins


def test_largest_remainder_prefers_the_bigger_fraction() -> None:
    # exact shares 7*3/10=2.1, 7*3/10=2.1, 7*4/10=2.8 -> floors 2,2,2 ; 1 unit to the 0.8
    allocated, _ = split_proportional([3, 3, 4], 7, due=[1, 1, 9], ids=["a", "b", "c"])
    assert allocated == [2, 2, 3]


def test_even_water_filling_redistributes_the_excess() -> None:
    assert split_even([2, 6, 6], 10, [1, 1, 1], ["a", "b", "c"]) == ([2, 4, 4], [2.0, 4.0, 4.0])
    allocated, exact = split_even([2, 6, 6], 9, [1, 1, 1], ["a", "b", "c"])
    assert allocated == [2, 4, 3] and exact == [2.0, 3.5, 3.5]
    assert split_even([2, 6, 6], 9, [1, 2, 0], ["a", "b", "c"])[0] == [2, 3, 4]


def test_fifo_by_due_then_id() -> None:
    assert split_fifo([4, 4, 4], 6, [2, 1, 1], ["a", "c", "b"])[0] == [0, 2, 4]


def test_pool_covering_everything_gives_requests() -> None:
    for mode in ("proportional", "even", "fifo"):
        assert split_pool(mode, [1, 0, 3], 10, [1, 2, 3], ["a", "b", "c"])[0] == [1, 0, 3]
    with pytest.raises(ValueError):
        split_pool("proportional", [1], -1, [1], ["a"])
    with pytest.raises(ValueError):
        split_pool("random", [1], 1, [1], ["a"])  # type: ignore[arg-type]


@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=10),
    st.integers(0, 300),
    st.sampled_from(["proportional", "even", "fifo"]),
)
def test_split_properties(requests: list[int], pool: int, mode: str) -> None:
    ids = [f"L{i}" for i in range(len(requests))]
    due = [i % 3 for i in range(len(requests))]
    allocated, _ = split_pool(mode, requests, pool, due, ids)  # type: ignore[arg-type]
    assert sum(allocated) == min(pool, sum(requests))
    assert all(0 <= a <= q for a, q in zip(allocated, requests, strict=True))
    if mode == "proportional" and pool < sum(requests):
        for a, q in zip(allocated, requests, strict=True):  # rounding never moves a line by a whole unit
            assert abs(a - Fraction(pool * q, sum(requests))) < 1
