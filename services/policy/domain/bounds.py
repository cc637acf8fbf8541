"""Safety-stock bounds (period of cover and absolute quantity), reporting which bound binds per item."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.policy.domain.validate import FloatArray, as_float_array, non_negative

UNBOUNDED = "none"
MIN_COVER = "min_cover"
MAX_COVER = "max_cover"
MIN_QUANTITY = "min_quantity"
MAX_QUANTITY = "max_quantity"


@dataclass(frozen=True)
class BoundedStock:
    """Safety stock after bounds, and per item the bound that changed it (``none`` when none did)."""

    safety_stock: FloatArray
    binding: npt.NDArray[np.str_]


def apply_bounds(
    safety_stock: npt.ArrayLike,
    demand_mean: npt.ArrayLike,
    min_cover: npt.ArrayLike = 0.0,
    max_cover: npt.ArrayLike = np.inf,
    min_quantity: npt.ArrayLike = -np.inf,
    max_quantity: npt.ArrayLike = np.inf,
) -> BoundedStock:
    """Clip SS to [lower, upper] with lower = max(min_cover * d, min_quantity) and
    upper = min(max_cover * d, max_quantity); covers are in periods of mean demand d.

    When lower > upper the upper bound wins (a ceiling is a physical or financial limit). ``binding`` names
    the bound that set the value: the tighter of the two on the side that was hit.
    """
    ss = as_float_array("safety_stock", safety_stock)
    d = non_negative("demand_mean", demand_mean)
    lo_cover = non_negative("min_cover", min_cover)
    hi_cover = np.asarray(max_cover, dtype=np.float64)
    lo_qty = np.asarray(min_quantity, dtype=np.float64)
    hi_qty = np.asarray(max_quantity, dtype=np.float64)
    ss, d, lo_cover, hi_cover, lo_qty, hi_qty = np.broadcast_arrays(ss, d, lo_cover, hi_cover, lo_qty, hi_qty)
    with np.errstate(invalid="ignore"):
        cover_floor = lo_cover * d
        cover_ceiling = np.where(np.isinf(hi_cover), np.inf, hi_cover * d)
    lower = np.maximum(cover_floor, lo_qty)
    upper = np.minimum(cover_ceiling, hi_qty)
    bounded = np.minimum(np.maximum(ss, lower), upper)
    binding = np.full(ss.shape, UNBOUNDED, dtype="<U12")
    capped = (bounded < ss) | (lower > upper)  # the ceiling set the value (it wins a conflict)
    raised = (bounded > ss) & ~capped
    binding[raised] = np.where(cover_floor >= lo_qty, MIN_COVER, MIN_QUANTITY)[raised]
    binding[capped] = np.where(cover_ceiling <= hi_qty, MAX_COVER, MAX_QUANTITY)[capped]
    return BoundedStock(bounded, binding)
