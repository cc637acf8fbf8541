"""Daily buckets (domain/buckets.py): horizon, day index, quantities per bucket, bucket dates."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.allocator.domain.buckets import (
    DEFAULT_HORIZON_DAYS,
    MAX_HORIZON_DAYS,
    bucket_date,
    bucket_quantities,
    day_index,
    horizon_days,
)

TODAY = dt.date(2030, 3, 10)


def d(offset: int) -> dt.date:
    return TODAY + dt.timedelta(days=offset)


def test_horizon_is_at_least_the_default_and_reaches_the_latest_date() -> None:
    assert horizon_days(TODAY, []) == DEFAULT_HORIZON_DAYS
    assert horizon_days(TODAY, [d(5), d(-3)]) == DEFAULT_HORIZON_DAYS
    assert horizon_days(TODAY, [d(99)]) == 100  # day 99 needs buckets 0..99
    assert horizon_days(TODAY, [d(10_000)]) == MAX_HORIZON_DAYS
    assert horizon_days(TODAY, [d(3)], minimum_days=0) == 4
    assert horizon_days(TODAY, [d(-7)], minimum_days=0) == 1  # never fewer than one bucket


def test_day_index_clamps_the_past_to_today_and_drops_past_the_horizon() -> None:
    assert day_index(TODAY, d(-30), 10) == 0
    assert day_index(TODAY, TODAY, 10) == 0
    assert day_index(TODAY, d(9), 10) == 9
    assert day_index(TODAY, d(10), 10) is None


def test_bucket_date_is_the_inverse_of_day_index_inside_the_horizon() -> None:
    for offset in (0, 1, 31, 365):
        assert day_index(TODAY, bucket_date(TODAY, offset), 366) == offset
    assert bucket_date(TODAY, 21) == dt.date(2030, 3, 31)
    assert bucket_date(dt.date(2030, 12, 31), 1) == dt.date(2031, 1, 1)


def test_bucket_quantities_worked_example() -> None:
    dated = [(d(-2), 3.0), (d(0), 1.5), (d(2), 4.0), (d(2), 1.0), (d(5), 7.0)]
    out = bucket_quantities(TODAY, 5, dated)  # d(5) is past a 5-bucket horizon: dropped
    assert out.tolist() == [4.5, 0.0, 5.0, 0.0, 0.0]
    assert bucket_quantities(TODAY, 3, []).tolist() == [0.0, 0.0, 0.0]


@given(
    st.lists(st.tuples(st.integers(-20, 80), st.floats(0, 1e6, allow_nan=False)), max_size=40),
    st.integers(1, 60),
)
def test_bucket_quantities_equal_a_plain_loop(items: list[tuple[int, float]], days: int) -> None:
    expected = [0.0] * days
    for offset, quantity in items:
        index = 0 if offset < 0 else offset
        if index < days:
            expected[index] += quantity
    got = bucket_quantities(TODAY, days, [(d(o), q) for o, q in items])
    assert got.dtype == np.float64 and got.shape == (days,)
    assert got.tolist() == pytest.approx(expected)
