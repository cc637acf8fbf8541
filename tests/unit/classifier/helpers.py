"""Builders shared by the classifier tests."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from services.classifier.domain.batch import EntityBatch
from services.classifier.domain.ruleset import DEFAULT_RULESET


def ruleset(**changes: Any) -> dict[str, Any]:
    """A deep copy of DEFAULT_RULESET with top-level keys replaced."""
    result = copy.deepcopy(DEFAULT_RULESET)
    result.update(copy.deepcopy(changes))
    return result


def batch(
    ids: list[str],
    *,
    revenue: Sequence[float] | None = None,
    margin: Sequence[float] | None = None,
    demand: Sequence[Sequence[float]] | None = None,
    dimension: str | list[str] = "product",
    **kwargs: Any,
) -> EntityBatch:
    n = len(ids)
    measures: dict[str, np.ndarray] = {}
    if revenue is not None:
        measures["revenue"] = np.array(revenue, dtype=np.float64)
    if margin is not None:
        measures["margin"] = np.array(margin, dtype=np.float64)
    matrix = np.array(demand, dtype=np.float64) if demand is not None else np.ones((n, 4))
    dim: str | np.ndarray = dimension if isinstance(dimension, str) else np.array(dimension)
    attributes = kwargs.pop("attributes", {})
    return EntityBatch(
        ids=np.array(ids),
        dimension=dim,
        measures=measures,
        demand=matrix,
        attributes={k: np.array(v, dtype=object) for k, v in attributes.items()},
        **kwargs,
    )
