"""Migration matrix old x new with samples, vs a dictionary count."""

from __future__ import annotations

from collections import Counter

import numpy as np

from services.classifier.domain.migration import migration_matrix


def test_counts_and_samples() -> None:
    ids = ["e5", "e1", "e2", "e3", "e4", "e6"]
    old = ["GOLD", "GOLD", "SILVER", None, "GOLD", "SILVER"]
    new = ["GOLD", "SILVER", "SILVER", "GOLD", "SILVER", None]
    matrix = migration_matrix(ids, old, new, samples_per_cell=1)
    assert matrix.labels == ("(new)", "(retired)", "GOLD", "SILVER")
    index = {label: k for k, label in enumerate(matrix.labels)}
    assert matrix.counts[index["GOLD"], index["SILVER"]] == 2
    assert matrix.counts[index["(new)"], index["GOLD"]] == 1
    assert matrix.counts[index["SILVER"], index["(retired)"]] == 1
    assert matrix.counts.sum() == 6 and matrix.moved == 4
    assert matrix.samples[("GOLD", "SILVER")] == ("e1",)
    assert matrix.as_dict()["samples"]["GOLD->SILVER"] == ["e1"]


def test_matches_a_counter_on_random_data() -> None:
    rng = np.random.default_rng(8)
    segments = ["A", "B", "C", "D"]
    ids = [f"x{i:03d}" for i in rng.permutation(200)]
    old = [segments[k] for k in rng.integers(0, 4, 200)]
    new = [segments[k] for k in rng.integers(0, 4, 200)]
    matrix = migration_matrix(ids, old, new, samples_per_cell=3)
    expected = Counter(zip(old, new, strict=True))
    for (o, n), count in expected.items():
        assert matrix.counts[matrix.labels.index(o), matrix.labels.index(n)] == count
        assert matrix.samples[(o, n)] == tuple(
            sorted(i for i, a, b in zip(ids, old, new, strict=True) if (a, b) == (o, n))[:3]
        )


def test_empty() -> None:
    matrix = migration_matrix([], [], [])
    assert matrix.counts.shape == (0, 0) and matrix.moved == 0 and matrix.samples == {}
