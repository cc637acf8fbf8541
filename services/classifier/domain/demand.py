"""Demand bucketing and the per-entity demand moments shared by XYZ and the demand pattern.

One pass over the entities x buckets matrix yields, per entity, the horizon T, the sum S, the sum of
squares Q and the non-zero count c; XYZ and Syntetos–Boylan are closed forms of (T, S, Q, c).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InvalidInput

BUCKETS: tuple[str, str] = ("week", "month")
_CHUNK_ROWS = 4096


@dataclass(frozen=True)
class DemandMoments:
    """Per-entity moments of bucketed demand: horizon T, sum S, sum of squares Q, non-zero count c."""

    horizon: np.ndarray
    total: np.ndarray
    sum_squares: np.ndarray
    nonzero: np.ndarray


def bucket_index(dates: np.ndarray, bucket: str) -> np.ndarray:
    """Absolute bucket number of each date (numpy datetime64).

    Rule: week = floor((days since 1970-01-01 + 3) / 7), i.e. ISO weeks starting on Monday (1970-01-01
    was a Thursday); month = 12 * (year - 1970) + (month - 1).
    """
    if bucket == "week":
        days = np.asarray(dates).astype("datetime64[D]").astype(np.int64)
        return (days + 3) // 7
    if bucket == "month":
        return np.asarray(dates).astype("datetime64[M]").astype(np.int64)
    raise InvalidInput(f"unknown bucket {bucket!r}; expected one of {', '.join(BUCKETS)}")


def bucket_demand(
    entity_index: np.ndarray,
    period_index: np.ndarray,
    quantity: np.ndarray,
    *,
    n_entities: int,
    n_periods: int,
    dtype: type = np.float64,
) -> np.ndarray:
    """Dense entities x periods demand matrix from (entity, period, quantity) triples.

    Rule: demand[e, p] = sum of quantity over triples with entity e and period p (zero elsewhere),
    computed with one ``np.bincount`` over the flat index e * n_periods + p. Indices outside
    [0, n_entities) x [0, n_periods) are rejected, never silently dropped.
    """
    entities = np.asarray(entity_index, dtype=np.int64)
    periods = np.asarray(period_index, dtype=np.int64)
    weights = np.asarray(quantity, dtype=np.float64)
    if not (entities.shape == periods.shape == weights.shape):
        raise InvalidInput("entity_index, period_index and quantity must have the same length")
    if entities.size and (entities.min() < 0 or entities.max() >= n_entities):
        raise InvalidInput(f"entity index out of range [0, {n_entities})")
    if periods.size and (periods.min() < 0 or periods.max() >= n_periods):
        raise InvalidInput(f"period index out of range [0, {n_periods})")
    flat = entities * n_periods + periods
    dense = np.bincount(flat, weights=weights, minlength=n_entities * n_periods)
    return dense.reshape(n_entities, n_periods).astype(dtype, copy=False)


def demand_moments(demand: np.ndarray, included: np.ndarray | None = None) -> DemandMoments:
    """(T, S, Q, c) per row of ``demand`` accumulated in float64, processed in cache-sized row chunks.

    Rule: with I the included buckets of a row (all buckets when ``included`` is None),
    T = |I|, S = sum_I d, Q = sum_I d^2, c = #{t in I : d_t != 0}.
    """
    matrix = np.asarray(demand)
    if matrix.ndim != 2:
        raise InvalidInput("demand must be a 2-D entities x buckets matrix")
    n, width = matrix.shape
    total = np.empty(n, dtype=np.float64)
    squares = np.empty(n, dtype=np.float64)
    nonzero = np.empty(n, dtype=np.int64)
    if included is None:
        horizon = np.full(n, width, dtype=np.int64)
    else:
        mask = np.asarray(included, dtype=bool)
        if mask.shape != matrix.shape:
            raise InvalidInput("included mask must have the demand matrix's shape")
        horizon = np.count_nonzero(mask, axis=1).astype(np.int64)
    for start in range(0, n, _CHUNK_ROWS):
        stop = min(start + _CHUNK_ROWS, n)
        x = matrix[start:stop].astype(np.float64)
        if included is not None:
            x *= mask[start:stop]
        total[start:stop] = x.sum(axis=1)
        squares[start:stop] = np.einsum("ij,ij->i", x, x)
        nonzero[start:stop] = np.count_nonzero(x, axis=1)
    return DemandMoments(horizon=horizon, total=total, sum_squares=squares, nonzero=nonzero)
