"""Seasonal and promotional uplift: multiplicative factors on the demand mean over a period range."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from services.policy.domain.errors import DomainError
from services.policy.domain.validate import FloatArray, non_negative


def apply_uplifts(
    demand_mean: npt.ArrayLike,
    item: npt.ArrayLike,
    start: npt.ArrayLike,
    end: npt.ArrayLike,
    factor: npt.ArrayLike,
) -> FloatArray:
    """Uplifted demand mean[items, periods]: mean[i, t] * prod of factor_u over uplifts u with
    item_u = i and start_u <= t <= end_u (period indices, both ends inclusive; overlaps multiply).

    Factors are >= 0 (0.5 is a dip, 1.3 a +30 % promotion). Ranges may extend beyond the horizon.
    """
    mean = non_negative("demand_mean", demand_mean)
    if mean.ndim != 2:
        raise DomainError("demand_mean", "must be a 2-D array [items, periods]")
    items, periods = mean.shape
    idx = np.atleast_1d(np.asarray(item, dtype=np.int64))
    first = np.atleast_1d(np.asarray(start, dtype=np.int64))
    last = np.atleast_1d(np.asarray(end, dtype=np.int64))
    mult = non_negative("factor", factor)
    idx, first, last, mult = np.broadcast_arrays(idx, first, last, mult)
    if np.any((idx < 0) | (idx >= items)):
        raise DomainError("item", "index out of range")
    if np.any(last < first):
        raise DomainError("end", "must be >= start")
    period = np.arange(periods)
    in_range = (period[None, :] >= first[:, None]) & (period[None, :] <= last[:, None])
    factors = np.ones((items, periods))
    np.multiply.at(factors, idx, np.where(in_range, mult[:, None], 1.0))
    result: FloatArray = mean * factors
    return result
