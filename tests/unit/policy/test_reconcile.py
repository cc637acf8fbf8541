"""Computed vs ERP values: delta, relative delta, direction and the threshold flag."""

from __future__ import annotations

import math

import pytest

from services.policy.domain import DomainError
from services.policy.domain.reconcile import reconcile


def test_delta_relative_direction_and_flag_against_a_loop() -> None:
    computed = [120.0, 90.0, 100.0, 5.0, 0.0, 101.0]
    erp = [100.0, 100.0, 100.0, 0.0, 0.0, 100.0]
    result = reconcile(computed, erp, absolute_threshold=2.0, relative_threshold=0.05)
    for i, (new, old) in enumerate(zip(computed, erp, strict=True)):
        delta = new - old
        rel = delta / abs(old) if old else (0.0 if delta == 0 else math.copysign(math.inf, delta))
        assert result.delta[i] == delta
        assert result.relative_delta[i] == rel
        assert result.direction[i] == (delta > 0) - (delta < 0)
        assert result.flagged[i] == (abs(delta) > 2.0 and abs(rel) > 0.05)
    assert result.flagged.tolist() == [True, True, False, True, False, False]


def test_shapes_must_match() -> None:
    with pytest.raises(DomainError) as caught:
        reconcile([1.0, 2.0], [1.0])
    assert caught.value.field == "erp"
