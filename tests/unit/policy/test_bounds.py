"""Period-of-cover and quantity bounds, and uplift factors over period ranges, against plain loops."""

from __future__ import annotations

import numpy as np
import pytest

from services.policy.domain import DomainError
from services.policy.domain.bounds import apply_bounds
from services.policy.domain.uplift import apply_uplifts


def test_each_bound_binds_and_is_reported() -> None:
    ss = np.array([10.0, 500.0, 10.0, 500.0, 150.0])
    d = np.array([100.0, 100.0, 100.0, 100.0, 100.0])
    result = apply_bounds(
        ss,
        d,
        min_cover=0.5,
        max_cover=3.0,
        min_quantity=[0, 0, 80, 0, 0],
        max_quantity=[1e9, 1e9, 1e9, 250, 1e9],
    )
    # item 0: floor 0.5 * 100 = 50 (cover); item 1: ceiling 300 (cover); item 2: floor max(50, 80) = 80 (quantity)
    # item 3: ceiling min(300, 250) = 250 (quantity); item 4 inside
    assert result.safety_stock.tolist() == [50.0, 300.0, 80.0, 250.0, 150.0]
    assert result.binding.tolist() == ["min_cover", "max_cover", "min_quantity", "max_quantity", "none"]


def test_conflicting_bounds_let_the_ceiling_win() -> None:
    result = apply_bounds(10.0, 100.0, min_cover=2.0, max_quantity=120.0)
    assert result.safety_stock[0] == 120.0 and result.binding[0] == "max_quantity"


def test_zero_demand_cover_bounds_collapse_to_zero() -> None:
    result = apply_bounds([5.0], [0.0], min_cover=1.0, max_cover=2.0)
    assert result.safety_stock[0] == 0.0 and result.binding[0] == "max_cover"


def test_uplifts_multiply_inside_inclusive_ranges_only() -> None:
    mean = np.full((3, 10), 20.0)
    items, starts, ends, factors = [0, 0, 2], [2, 4, 8], [5, 6, 20], [1.5, 2.0, 0.5]
    result = apply_uplifts(mean, items, starts, ends, factors)
    expected = mean.copy()
    for i, first, last, factor in zip(items, starts, ends, factors, strict=True):
        for t in range(10):
            if first <= t <= last:
                expected[i, t] *= factor
    assert np.array_equal(result, expected)
    assert result[0, 4] == 20.0 * 1.5 * 2.0  # overlap multiplies


def test_uplift_inputs_are_checked() -> None:
    with pytest.raises(DomainError) as caught:
        apply_uplifts(np.ones((2, 4)), [0], [3], [1], [1.2])
    assert caught.value.field == "end"
    with pytest.raises(DomainError) as caught:
        apply_uplifts(np.ones((2, 4)), [5], [0], [1], [1.2])
    assert caught.value.field == "item"
