"""XYZ by CV of bucketed demand (population std, zero buckets included) and the bucketing helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.classifier.domain.demand import bucket_demand, bucket_index, demand_moments
from services.classifier.domain.errors import InvalidInput
from services.classifier.domain.xyz import XYZ_LABELS, classify_xyz

from .reference import population_cv, xyz_reference


def xyz_labels(demand: list[list[float]], cutoffs: tuple[float, float] = (0.5, 1.0)) -> list[str | None]:
    result = classify_xyz(np.array(demand, dtype=np.float64), cutoffs)
    return [XYZ_LABELS[c] if c >= 0 else None for c in result.xyz]


def test_boundaries_are_inclusive() -> None:
    # [1, 3]: mean 2, population std 1 -> CV 0.5 -> X ; [0, 2]: mean 1, std 1 -> CV 1.0 -> Y
    result = classify_xyz(np.array([[1.0, 3.0], [0.0, 2.0], [0.0, 3.0]]))
    assert result.cv[0] == 0.5 and result.cv[1] == 1.0
    assert xyz_labels([[1, 3], [0, 2], [0, 3]]) == ["X", "Y", "Y"]
    # [0, 0, 3]: mean 1, population variance 2 -> CV sqrt(2) -> Z
    assert xyz_labels([[0, 0, 3]]) == ["Z"]


def test_zero_buckets_count_in_the_population_std() -> None:
    # [4, 0, 4, 0]: mean 2, std 2 -> CV 1.0 (Y); ignoring zeros would give CV 0 (X)
    result = classify_xyz(np.array([[4.0, 0.0, 4.0, 0.0]]))
    assert result.cv[0] == 1.0


def test_constant_demand_is_x_with_cv_zero() -> None:
    result = classify_xyz(np.full((1, 52), 7.0))
    assert result.cv[0] == 0.0 and XYZ_LABELS[result.xyz[0]] == "X"


def test_all_zero_demand_is_flagged_no_demand() -> None:
    result = classify_xyz(np.zeros((2, 12)))
    assert result.xyz.tolist() == [-1, -1]
    assert result.no_demand.all()
    assert np.isnan(result.cv).all()


def test_empty_horizon_is_no_demand() -> None:
    result = classify_xyz(np.zeros((3, 0)))
    assert result.no_demand.all()


def test_custom_cutoffs() -> None:
    assert xyz_labels([[1, 3], [0, 2]], cutoffs=(0.25, 0.5)) == ["Y", "Z"]


def test_float32_demand_gives_the_float64_result() -> None:
    rng = np.random.default_rng(3)
    demand = rng.poisson(2.0, (50, 30)).astype(np.float64)
    a = classify_xyz(demand)
    b = classify_xyz(demand.astype(np.float32))
    assert np.allclose(a.cv, b.cv, equal_nan=True) and (a.xyz == b.xyz).all()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(st.just(0.0), st.floats(0.001, 1000.0, allow_nan=False)), min_size=1, max_size=20),
        min_size=1,
        max_size=8,
    ).filter(lambda rows: len({len(r) for r in rows}) == 1)
)
def test_cv_equals_plain_population_std_loop(rows: list[list[float]]) -> None:
    result = classify_xyz(np.array(rows))
    for k, row in enumerate(rows):
        expected = population_cv(row)
        if expected is None:
            assert result.no_demand[k]
            continue
        # closed form sqrt(T*Q - S^2) / S: ~1e-8 absolute error only where the true CV is ~0
        assert math.isclose(result.cv[k], expected, rel_tol=1e-9, abs_tol=1e-7)
        label = xyz_reference(row)
        # away from the boundaries the class must agree exactly
        if min(abs(expected - 0.5), abs(expected - 1.0)) > 1e-9:
            assert XYZ_LABELS[result.xyz[k]] == label


def test_bucket_demand_sums_triples_like_a_loop() -> None:
    rng = np.random.default_rng(11)
    entities = rng.integers(0, 5, 300)
    periods = rng.integers(0, 8, 300)
    quantity = rng.integers(1, 10, 300).astype(float)
    dense = bucket_demand(entities, periods, quantity, n_entities=5, n_periods=8)
    expected = [[0.0] * 8 for _ in range(5)]
    for e, p, q in zip(entities.tolist(), periods.tolist(), quantity.tolist(), strict=True):
        expected[e][p] += q
    assert dense.tolist() == expected


def test_bucket_demand_rejects_out_of_range_indices() -> None:
    with pytest.raises(InvalidInput, match="period index"):
        bucket_demand(np.array([0]), np.array([8]), np.array([1.0]), n_entities=1, n_periods=8)
    with pytest.raises(InvalidInput, match="entity index"):
        bucket_demand(np.array([-1]), np.array([0]), np.array([1.0]), n_entities=1, n_periods=8)


def test_bucket_index_weeks_start_monday_and_months_count_from_1970() -> None:
    dates = np.array(
        ["1970-01-01", "1970-01-04", "1970-01-05", "2024-01-01", "2024-02-29"], dtype="datetime64[D]"
    )
    # 1970-01-01 was a Thursday: Thu..Sun are week 0, Monday 1970-01-05 starts week 1
    assert bucket_index(dates, "week")[:3].tolist() == [0, 0, 1]
    assert bucket_index(dates, "month").tolist() == [0, 0, 0, 54 * 12, 54 * 12 + 1]
    # 2024-01-01 is a Monday: it starts a new week
    assert bucket_index(np.array(["2023-12-31", "2024-01-01"], dtype="datetime64[D]"), "week").tolist() == [
        int(bucket_index(dates[3:4], "week")[0]) - 1,
        int(bucket_index(dates[3:4], "week")[0]),
    ]
    with pytest.raises(InvalidInput):
        bucket_index(dates, "quarter")


def test_moments_with_excluded_buckets() -> None:
    demand = np.array([[2.0, 100.0, 2.0, 0.0]])
    included = np.array([[True, False, True, True]])
    moments = demand_moments(demand, included)
    assert moments.horizon.tolist() == [3]
    assert moments.total.tolist() == [4.0]
    assert moments.sum_squares.tolist() == [8.0]
    assert moments.nonzero.tolist() == [2]


def test_moments_across_chunk_boundaries_match_numpy() -> None:
    rng = np.random.default_rng(5)
    demand = rng.poisson(1.0, (10_000, 7)).astype(np.float32)
    moments = demand_moments(demand)
    assert np.array_equal(moments.total, demand.astype(np.float64).sum(axis=1))
    assert np.array_equal(moments.nonzero, np.count_nonzero(demand, axis=1))
