"""XYZ classification by the coefficient of variation of bucketed demand (DESIGN.md section 6)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .demand import DemandMoments, demand_moments

XYZ_LABELS: tuple[str, str, str] = ("X", "Y", "Z")
NO_CLASS = -1


@dataclass(frozen=True)
class XyzResult:
    """Per-entity XYZ outcome: codes into ``XYZ_LABELS`` (-1 = no demand), CV (NaN without demand)."""

    xyz: np.ndarray
    cv: np.ndarray
    no_demand: np.ndarray


def coefficient_of_variation(moments: DemandMoments) -> np.ndarray:
    """CV = population std / mean over all buckets of the horizon, zero buckets included.

    Rule: with T buckets, sum S and sum of squares Q, mean = S/T and population variance
    Q/T - (S/T)^2, hence CV = sqrt(T*Q - S^2) / S (exact for integer quantities); NaN when mean <= 0.
    Accumulated in float64: relative error ~1e-16 near the X/Y/Z cutoffs; only for a CV close to 0
    can cancellation leave an absolute error of ~1e-8 (sqrt of machine epsilon), far from any cutoff.
    """
    t = moments.horizon.astype(np.float64)
    s = moments.total
    spread = np.maximum(t * moments.sum_squares - s * s, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s > 0, np.sqrt(spread) / np.where(s > 0, s, 1.0), np.nan)


def xyz_from_moments(moments: DemandMoments, cutoffs: tuple[float, float] = (0.5, 1.0)) -> XyzResult:
    """XYZ from precomputed moments: X if CV <= x, Y if CV <= y, else Z; mean <= 0 -> no demand.

    No demand (a zero or net-negative mean) gives class -1 (shown as "-") and ``no_demand`` True.
    """
    x, y = cutoffs
    cv = coefficient_of_variation(moments)
    no_demand = np.isnan(cv)
    codes = np.where(cv <= x, 0, np.where(cv <= y, 1, 2)).astype(np.int8)
    codes[no_demand] = NO_CLASS
    return XyzResult(xyz=codes, cv=cv, no_demand=no_demand)


def classify_xyz(demand: np.ndarray, cutoffs: tuple[float, float] = (0.5, 1.0)) -> XyzResult:
    """XYZ of each row of an entities x buckets demand matrix (see ``xyz_from_moments``)."""
    return xyz_from_moments(demand_moments(demand), cutoffs)
