"""allocate_batch (vectorised, many SKUs) against the plain-Python per-SKU reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.allocator.domain.batch import allocate_batch

from .reference import reference_allocation


def per_sku_reference(sku, tier, qty, due, ids, supply, mode):  # type: ignore[no-untyped-def]
    out = np.zeros(len(sku), dtype=np.int64)
    for s in range(len(supply)):
        rows = [i for i in range(len(sku)) if sku[i] == s]
        lines = [(str(ids[i]).zfill(6), int(tier[i]), int(qty[i]), int(due[i])) for i in rows]
        got = reference_allocation(lines, int(supply[s]), mode)
        for i in rows:
            out[i] = got[str(ids[i]).zfill(6)]
    return out


def test_design_example_across_two_skus() -> None:
    # SKU 0: the 4/3/3 example; SKU 1: one tier-1 line short of supply
    sku = [0, 0, 0, 0, 0, 1]
    tier = [1, 2, 2, 2, 3, 1]
    qty = [20, 5, 5, 5, 9, 7]
    due = [1, 3, 1, 2, 0, 1]
    ids = [1, 2, 3, 4, 5, 6]
    result = allocate_batch(sku, tier, qty, due, ids, [30, 4])
    assert result.allocated.tolist() == [20, 3, 4, 3, 0, 4]
    assert result.tier_pool.tolist() == [20, 10, 10, 10, 0, 4]


def test_ties_by_id_when_due_dates_equal() -> None:
    result = allocate_batch([0, 0, 0], [1, 1, 1], [5, 5, 5], [1, 1, 1], [30, 10, 20], [10])
    assert result.allocated.tolist() == [3, 4, 3]


def test_empty_and_invalid() -> None:
    assert allocate_batch([], [], [], [], [], [5]).allocated.size == 0
    with pytest.raises(ValueError):
        allocate_batch([2], [1], [1], [1], [1], [5])
    with pytest.raises(ValueError):
        allocate_batch([0], [1], [-1], [1], [1], [5])
    with pytest.raises(ValueError):
        allocate_batch([0], [1], [1], [1], [1], [5], mode="random")  # type: ignore[arg-type]


@settings(max_examples=150)
@given(st.integers(1, 5), st.integers(0, 40), st.sampled_from(["proportional", "even", "fifo"]), st.data())
def test_batch_equals_per_sku_reference(n_sku: int, n_lines: int, mode: str, data: st.DataObject) -> None:
    def column(lo: int, hi: int) -> list[int]:
        return data.draw(st.lists(st.integers(lo, hi), min_size=n_lines, max_size=n_lines))

    sku, tier, qty, due = column(0, n_sku - 1), column(1, 4), column(0, 25), column(0, 5)
    ids = data.draw(st.permutations(list(range(n_lines))))
    supply = data.draw(st.lists(st.integers(0, 120), min_size=n_sku, max_size=n_sku))
    result = allocate_batch(sku, tier, qty, due, ids, supply, mode)  # type: ignore[arg-type]
    expected = per_sku_reference(sku, tier, qty, due, ids, supply, mode)
    np.testing.assert_array_equal(result.allocated, expected)
    for s in range(n_sku):
        rows = [i for i in range(n_lines) if sku[i] == s]
        assert result.allocated[rows].sum() == min(supply[s], sum(qty[i] for i in rows))
    assert (result.allocated <= np.asarray(qty, dtype=np.int64)).all()


def test_string_ids_and_date_dues() -> None:
    due = np.array(["2026-12-03", "2026-12-01", "2026-12-02"], dtype="datetime64[D]")
    result = allocate_batch([0, 0, 0], [2, 2, 2], [5, 5, 5], due, np.array(["c", "a", "b"]), [10])
    assert result.allocated.tolist() == [3, 4, 3]


@given(
    st.lists(
        st.tuples(st.integers(-3, 3), st.sampled_from(["b", "a", "c"]), st.integers(0, 2**40)), max_size=30
    )
)
def test_sort_order_matches_lexsort(rows: list[tuple[int, str, int]]) -> None:
    from services.allocator.domain.batch import sort_order

    first = np.array([r[0] for r in rows], dtype=np.int64)
    second = np.array([r[1] for r in rows], dtype="<U1")
    third = np.array([r[2] for r in rows], dtype=np.int64)
    if not rows:
        assert sort_order(first).size == 0
        return
    expected = np.lexsort((np.arange(len(rows)), third, second, first))
    np.testing.assert_array_equal(sort_order(first, second, third), expected)
    # huge ranges overflow the composite key and take the lexsort path: same answer
    huge = third * (2**20) + 2**61
    np.testing.assert_array_equal(sort_order(first, huge), np.lexsort((np.arange(len(rows)), huge, first)))


def test_huge_line_ids_take_the_fallback_path() -> None:
    ids = np.array([3, 1, 2], dtype=np.int64) * 10**17
    result = allocate_batch([0, 0, 0], [1, 1, 1], [5, 5, 5], [1, 1, 1], ids, [10])
    assert result.allocated.tolist() == [3, 4, 3]
