"""Syntetos–Boylan categories at and around the 1.32 / 0.49 boundaries, vs an exact reference."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from services.classifier.domain.pattern import PATTERN_LABELS, classify_pattern

from .reference import sb_reference


def pattern_of(row: list[float]) -> tuple[str, float, float]:
    result = classify_pattern(np.array([row], dtype=np.float64))
    return PATTERN_LABELS[result.pattern[0]], float(result.adi[0]), float(result.cv2[0])


def test_cv2_exactly_049_is_not_steady() -> None:
    # sizes 2, 13, 15: mean 10, sample variance 49 -> CV2 = 49/100 exactly
    label, adi, cv2 = pattern_of([2, 13, 15])
    assert cv2 == 0.49 and adi == 1.0 and label == "erratic"
    label, adi, _ = pattern_of([2, 0, 13, 15])  # ADI 4/3 >= 1.32
    assert label == "lumpy" and math.isclose(adi, 4 / 3)


def test_adi_exactly_132_is_intermittent() -> None:
    # 33 buckets, 25 of them non-zero and equal: ADI = 33/25 = 1.32, CV2 = 0
    row = [5.0] * 25 + [0.0] * 8
    label, adi, cv2 = pattern_of(row)
    assert adi == 1.32 and cv2 == 0.0 and label == "intermittent"
    label, adi, _ = pattern_of([5.0] * 26 + [0.0] * 7)  # ADI 33/26 < 1.32
    assert label == "smooth"


def test_span_counts_every_bucket_of_the_horizon() -> None:
    # leading and trailing zeros count: 10 buckets, 2 non-zero -> ADI 5
    _, adi, _ = pattern_of([0, 0, 3, 0, 0, 0, 3, 0, 0, 0])
    assert adi == 5.0


def test_single_non_zero_bucket_has_cv2_zero() -> None:
    label, adi, cv2 = pattern_of([0, 0, 0, 9])
    assert cv2 == 0.0 and adi == 4.0 and label == "intermittent"


def test_cv2_uses_the_sample_std_of_non_zero_sizes() -> None:
    # sizes 1 and 3: mean 2, sample std sqrt(2) -> CV2 = 2/4 = 0.5 (population std would give 0.25)
    _, _, cv2 = pattern_of([1, 3])
    assert cv2 == 0.5


def test_no_demand_is_none() -> None:
    result = classify_pattern(np.zeros((2, 5)))
    assert [PATTERN_LABELS[c] for c in result.pattern] == ["none", "none"]
    assert np.isnan(result.adi).all() and np.isnan(result.cv2).all()


def test_custom_cutoffs() -> None:
    result = classify_pattern(np.array([[2.0, 13, 15]]), adi_cutoff=1.5, cv2_cutoff=0.5)
    assert PATTERN_LABELS[result.pattern[0]] == "smooth"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(st.just(0), st.just(0), st.integers(1, 60)), min_size=1, max_size=40),
        min_size=1,
        max_size=6,
    ).filter(lambda rows: len({len(r) for r in rows}) == 1)
)
def test_vectorised_equals_exact_reference(rows: list[list[int]]) -> None:
    result = classify_pattern(np.array(rows, dtype=np.float64))
    for k, row in enumerate(rows):
        label, adi, cv2 = sb_reference([float(x) for x in row])
        assert PATTERN_LABELS[result.pattern[k]] == label
        if adi is None or cv2 is None:
            assert np.isnan(result.adi[k])
        else:
            assert math.isclose(result.adi[k], adi, rel_tol=1e-12)
            assert math.isclose(result.cv2[k], cv2, rel_tol=1e-9, abs_tol=1e-12)
