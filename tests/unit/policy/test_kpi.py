"""Line KPIs and rolling aggregation against plain loops."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.policy.domain import DomainError
from services.policy.domain.kpi import kpis_by_group, line_outcomes, rolling_rate


def test_otif_uses_promised_date_then_requested_date() -> None:
    ordered = [10, 10, 10, 10, 10, 10]
    shipped = [10, 9, 12, 10, 10, 10]
    delivered = [5, 5, 5, 8, np.nan, 7]
    promised = [6, 6, 4, np.nan, 9, np.nan]
    requested = [1, 1, 9, 7, 9, 7]
    damaged = [False, False, False, False, False, True]
    out = line_outcomes(ordered, shipped, delivered, promised, requested, damaged)
    assert out.in_full.tolist() == [True, False, True, True, True, True]
    # line 2: promised 4 beats requested 9 -> late; line 3: no promise, requested 7 < 8 -> late;
    # line 4: never delivered -> not on time; line 5: on time by requested date
    assert out.on_time.tolist() == [True, True, False, False, False, True]
    assert out.otif.tolist() == [True, False, False, False, False, True]
    assert out.perfect.tolist() == [True, False, False, False, False, False]


def test_rolling_kpis_match_a_plain_loop() -> None:
    rng = np.random.default_rng(4)
    n, groups, periods, window = 400, 3, 12, 4
    ordered = rng.integers(1, 20, n).astype(float)
    shipped = np.where(rng.random(n) < 0.8, ordered, ordered - rng.integers(1, 3, n))
    delivered = rng.integers(0, 10, n).astype(float)
    promised = np.where(rng.random(n) < 0.7, rng.integers(0, 10, n), np.nan)
    requested = rng.integers(0, 10, n).astype(float)
    group = rng.integers(0, groups, n)
    period = rng.integers(0, periods, n)
    out = line_outcomes(ordered, shipped, delivered, promised, requested)
    kpis = kpis_by_group(out, ordered, shipped, group, period, groups, periods, window)
    for g in range(groups):
        for e in range(periods):
            lines = [i for i in range(n) if group[i] == g and e - window < period[i] <= e]
            if not lines:
                assert math.isnan(kpis.otif.rate[g, e])
                continue
            full = sum(shipped[i] >= ordered[i] for i in lines)
            units = sum(min(shipped[i], ordered[i]) for i in lines) / sum(ordered[i] for i in lines)
            due = [promised[i] if not math.isnan(promised[i]) else requested[i] for i in lines]
            otif = sum(
                delivered[i] <= d and shipped[i] >= ordered[i] for i, d in zip(lines, due, strict=True)
            )
            assert kpis.line_fill_rate.rate[g, e] == pytest.approx(full / len(lines))
            assert kpis.unit_fill_rate.rate[g, e] == pytest.approx(units)
            assert kpis.otif.rate[g, e] == pytest.approx(otif / len(lines))
            assert kpis.perfect_order.denominator[g, e] == len(lines)


def test_rolling_rate_rejects_bad_indices() -> None:
    with pytest.raises(DomainError) as caught:
        rolling_rate([1.0], 1.0, [5], [0], groups=2, periods=3, window=2)
    assert caught.value.field == "group"
    with pytest.raises(DomainError) as caught:
        rolling_rate([1.0], 1.0, [0], [0], groups=2, periods=3, window=0)
    assert caught.value.field == "window"
