"""Cost-to-serve, inventory turns and cohort analysis against plain loops."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.policy.domain.cost import cohort_analysis, cost_to_serve, inventory_turns


def test_cost_to_serve_per_segment() -> None:
    seg = [0, 0, 1, 2, 1]
    units = [10, 5, 20, 1, 4]
    freight = [30.0, 12.0, 50.0, 9.0, 6.0]
    result = cost_to_serve(seg, units, freight, handling_per_unit=0.5, handling_per_line=2.0, segments=4)
    for s in range(3):
        lines = [i for i in range(5) if seg[i] == s]
        total = sum(freight[i] + 0.5 * units[i] + 2.0 for i in lines)
        assert result.total[s] == pytest.approx(total)
        assert result.per_unit[s] == pytest.approx(total / sum(units[i] for i in lines))
        assert result.per_line[s] == pytest.approx(total / len(lines))
    assert result.total[3] == 0.0 and math.isnan(result.per_unit[3])


def test_inventory_turns_is_cogs_over_average_inventory_value() -> None:
    seg = [0, 0, 1]
    cogs = [1200.0, 600.0, 100.0]
    snapshots = np.array([[100.0, 300.0], [50.0, 50.0], [0.0, 0.0]])
    turns = inventory_turns(seg, cogs, snapshots, segments=2)
    assert turns[0] == pytest.approx(1800.0 / (200.0 + 50.0))
    assert math.isnan(turns[1])


def test_cohort_before_after_per_migration_cell() -> None:
    rng = np.random.default_rng(9)
    entities, segments, orders, r, n = 30, 3, 600, 10, 4
    old = rng.integers(0, segments, entities)
    new = rng.integers(0, segments, entities)
    who = rng.integers(0, entities, orders)
    week = rng.integers(0, 20, orders)
    ordered = rng.integers(1, 10, orders).astype(float)
    shipped = ordered - rng.integers(0, 2, orders)
    before, after = cohort_analysis(old, new, who, week, ordered, shipped, r, n, segments)
    for window, (lo, hi) in ((before, (r - n, r)), (after, (r, r + n))):
        for a in range(segments):
            for b in range(segments):
                members = [e for e in range(entities) if old[e] == a and new[e] == b]
                picked = [i for i in range(orders) if who[i] in members and lo <= week[i] < hi]
                volume = sum(ordered[i] for i in picked)
                assert window.entities[a, b] == len(members)
                assert window.volume[a, b] == pytest.approx(volume)
                if members:
                    assert window.frequency[a, b] == pytest.approx(len(picked) / (len(members) * n))
                if volume:
                    assert window.fill_rate[a, b] == pytest.approx(
                        sum(min(shipped[i], ordered[i]) for i in picked) / volume
                    )
                else:
                    assert math.isnan(window.fill_rate[a, b])
