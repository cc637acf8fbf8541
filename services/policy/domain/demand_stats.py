"""Demand and lead-time statistics per item from raw observations: weekly buckets, mean, std, pattern.

Buckets run from each item's first observed period to the horizon's last period, zero buckets included
(an item ordered once in week 3 of a 10-week horizon has 8 buckets: one non-zero, seven zero).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.policy.domain.errors import DomainError
from services.policy.domain.validate import FloatArray

IntArray = npt.NDArray[np.int64]
SMOOTH, ERRATIC, INTERMITTENT, LUMPY, NO_DEMAND = "smooth", "erratic", "intermittent", "lumpy", "no_demand"
ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49


@dataclass(frozen=True)
class DemandStatistics:
    """Per item: mean and sample std of demand per bucket, bucket count, pattern, and the bucket history
    (``history[item, k]`` = demand in the item's k-th bucket, NaN past its last bucket)."""

    mean: FloatArray
    std: FloatArray
    buckets: IntArray
    pattern: npt.NDArray[np.str_]
    history: FloatArray


def demand_statistics(
    item: npt.ArrayLike, period: npt.ArrayLike, quantity: npt.ArrayLike, items: int, last_period: int
) -> DemandStatistics:
    """Bucket quantities by (item, period) and summarise each item over [first_i, last_period].

    n_i = last_period - first_i + 1; mean = sum / n_i; std = sample std over the n_i buckets (ddof 1, 0 when
    n_i = 1). Pattern (Syntetos-Boylan) on non-zero buckets: ADI = n_i / non-zero count,
    CV2 = (sample std / mean of the non-zero buckets)^2; smooth ADI < 1.32 and CV2 < 0.49, erratic
    ADI < 1.32, intermittent CV2 < 0.49, else lumpy; an item without demand is ``no_demand``.
    """
    codes = np.asarray(item, dtype=np.int64)
    weeks = np.asarray(period, dtype=np.int64)
    qty = np.asarray(quantity, dtype=np.float64)
    if codes.shape != weeks.shape or codes.shape != qty.shape:
        raise DomainError("quantity", "item, period and quantity must have the same length")
    if np.any((codes < 0) | (codes >= items)):
        raise DomainError("item", "index out of range")
    if np.any(weeks > last_period):
        raise DomainError("period", "must not be after last_period")
    first = np.full(items, last_period, dtype=np.int64)
    np.minimum.at(first, codes, weeks)
    span = last_period - first + 1
    width = int(span.max()) if items else 1
    history = np.zeros((items, max(width, 1)))
    np.add.at(history, (codes, weeks - first[codes]), qty)
    inside = np.arange(history.shape[1])[None, :] < span[:, None]
    history = np.where(inside, history, np.nan)
    n = span.astype(np.float64)
    mean = np.nansum(history, axis=1) / n
    squares = np.nansum((history - mean[:, None]) ** 2, axis=1)
    std = np.sqrt(np.where(n > 1, squares / np.maximum(n - 1, 1), 0.0))
    return DemandStatistics(mean, std, span, _pattern(history, n), history)


def _pattern(history: FloatArray, n: FloatArray) -> npt.NDArray[np.str_]:
    nonzero = np.where(np.isfinite(history) & (history > 0), history, np.nan)
    count = np.sum(np.isfinite(nonzero), axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        nz_mean = np.nansum(nonzero, axis=1) / count
        nz_var = np.nansum((nonzero - nz_mean[:, None]) ** 2, axis=1) / np.maximum(count - 1, 1)
        cv2 = np.where(count > 1, nz_var / (nz_mean * nz_mean), 0.0)
        adi = n / count
    pattern = np.where(
        adi < ADI_CUTOFF,
        np.where(cv2 < CV2_CUTOFF, SMOOTH, ERRATIC),
        np.where(cv2 < CV2_CUTOFF, INTERMITTENT, LUMPY),
    )
    return np.where(count > 0, pattern, NO_DEMAND)


@dataclass(frozen=True)
class LeadTimeStatistics:
    """Per item: mean and sample std of observed lead times, and how many observations there were."""

    mean: FloatArray
    std: FloatArray
    count: IntArray


def lead_time_statistics(item: npt.ArrayLike, lead_time: npt.ArrayLike, items: int) -> LeadTimeStatistics:
    """mean = sum / count; std = sample std (ddof 1; 0 with one observation); NaN mean where none."""
    codes = np.asarray(item, dtype=np.int64)
    values = np.asarray(lead_time, dtype=np.float64)
    if np.any(values < 0) or not np.all(np.isfinite(values)):
        raise DomainError("lead_time", "must be finite values >= 0")
    count = np.bincount(codes, minlength=items).astype(np.int64)
    total = np.bincount(codes, weights=values, minlength=items)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    squares = np.bincount(codes, weights=(values - mean[codes]) ** 2, minlength=items)
    std = np.where(count > 1, np.sqrt(squares / np.maximum(count - 1, 1)), 0.0)
    return LeadTimeStatistics(mean, std, count)
