"""Weekly demand statistics and lead-time statistics against plain-Python computations."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from services.policy.domain.demand_stats import (
    ERRATIC,
    INTERMITTENT,
    LUMPY,
    NO_DEMAND,
    SMOOTH,
    demand_statistics,
    lead_time_statistics,
)
from services.policy.domain.errors import DomainError


def plain(observations: list[tuple[int, int, float]], items: int, last: int) -> list[dict[str, object]]:
    """Independent loop: buckets from the item's first period to ``last``, zeros included."""
    out = []
    for i in range(items):
        mine = [(p, q) for item, p, q in observations if item == i]
        first = min((p for p, _ in mine), default=last)
        buckets = [sum(q for p, q in mine if p == week) for week in range(first, last + 1)]
        nonzero = [b for b in buckets if b > 0]
        mean = sum(buckets) / len(buckets)
        std = statistics.stdev(buckets) if len(buckets) > 1 else 0.0
        if not nonzero:
            pattern = NO_DEMAND
        else:
            adi = len(buckets) / len(nonzero)
            cv2 = (statistics.stdev(nonzero) / statistics.mean(nonzero)) ** 2 if len(nonzero) > 1 else 0.0
            pattern = (
                (SMOOTH if cv2 < 0.49 else ERRATIC) if adi < 1.32 else (INTERMITTENT if cv2 < 0.49 else LUMPY)
            )
        out.append(
            {"mean": mean, "std": std, "buckets": len(buckets), "pattern": pattern, "history": buckets}
        )
    return out


def test_random_orders_match_the_plain_loop() -> None:
    rng = np.random.default_rng(3)
    items, last = 6, 30
    observations = [
        (int(rng.integers(0, items - 1)), int(rng.integers(0, last + 1)), float(rng.integers(1, 50)))
        for _ in range(150)
    ]
    observations += [(2, 5, 500.0), (2, 25, 3.0)]  # a spiky item
    got = demand_statistics(
        [o[0] for o in observations], [o[1] for o in observations], [o[2] for o in observations], items, last
    )
    for i, want in enumerate(plain(observations, items, last)):
        assert got.mean[i] == pytest.approx(want["mean"])
        assert got.std[i] == pytest.approx(want["std"])
        assert got.buckets[i] == want["buckets"]
        assert got.pattern[i] == want["pattern"]
        history = got.history[i]
        assert list(history[: got.buckets[i]]) == pytest.approx(want["history"])
        assert np.all(np.isnan(history[got.buckets[i] :]))


def test_patterns_of_textbook_series() -> None:
    series = {
        SMOOTH: [10, 11, 9, 10, 12, 10, 9, 11],
        ERRATIC: [1, 30, 2, 40, 1, 25, 3, 50],
        INTERMITTENT: [10, 0, 0, 11, 0, 0, 9, 0],
        LUMPY: [1, 0, 0, 50, 0, 0, 2, 0],
    }
    observations = [(i, w, float(q)) for i, s in enumerate(series.values()) for w, q in enumerate(s) if q > 0]
    got = demand_statistics(
        [o[0] for o in observations], [o[1] for o in observations], [o[2] for o in observations], 4, 7
    )
    assert list(got.pattern) == list(series)


def test_edge_cases_single_bucket_no_demand_and_duplicates() -> None:
    # item 0: one order in the last week (1 bucket, std 0); item 1: never ordered; item 2: two orders a week
    got = demand_statistics([0, 2, 2], [9, 3, 3], [5.0, 2.0, 3.0], 3, 9)
    assert got.mean[0] == 5.0 and got.std[0] == 0.0 and got.buckets[0] == 1
    assert got.pattern[1] == NO_DEMAND and got.mean[1] == 0.0
    assert got.history[2, 0] == 5.0 and got.buckets[2] == 7


def test_invalid_input_is_a_domain_error_naming_the_field() -> None:
    with pytest.raises(DomainError) as late:
        demand_statistics([0], [11], [1.0], 1, 10)
    assert late.value.field == "period"
    with pytest.raises(DomainError) as item:
        demand_statistics([3], [1], [1.0], 2, 10)
    assert item.value.field == "item"
    with pytest.raises(DomainError):
        demand_statistics([0, 1], [1], [1.0], 2, 10)


def test_lead_time_statistics_match_the_statistics_module() -> None:
    observed = {0: [10.0, 14.0, 12.0, 9.0], 1: [7.0], 3: [21.0, 28.0]}
    codes = [i for i, v in observed.items() for _ in v]
    values = [x for v in observed.values() for x in v]
    got = lead_time_statistics(codes, values, 4)
    assert got.mean[0] == pytest.approx(statistics.mean(observed[0]))
    assert got.std[0] == pytest.approx(statistics.stdev(observed[0]))
    assert got.mean[1] == 7.0 and got.std[1] == 0.0 and got.count[1] == 1
    assert np.isnan(got.mean[2]) and got.count[2] == 0
    assert got.std[3] == pytest.approx(statistics.stdev(observed[3]))
    with pytest.raises(DomainError):
        lead_time_statistics([0], [-1.0], 1)
