"""Cohort analysis after a reclassification run: per migration cell (old segment -> new segment), order
volume, order frequency and fill rate in the N weeks before vs the N weeks after the change."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.policy.domain.errors import DomainError
from services.policy.domain.validate import FloatArray

BEFORE, AFTER = 0, 1


@dataclass(frozen=True)
class CohortMetrics:
    """Per cell x side ([cells, 2], side 0 = before, 1 = after): volume, lines, frequency, fill rate."""

    volume: FloatArray
    lines: npt.NDArray[np.int64]
    frequency: FloatArray
    fill_rate: FloatArray


def cohort_side(offset_days: npt.ArrayLike, weeks: int) -> npt.NDArray[np.int64]:
    """Side of a line ordered ``offset_days`` after its entity's change: before (0) when
    -7N <= offset < 0, after (1) when 0 <= offset < 7N, else -1 (outside both windows)."""
    if weeks < 1:
        raise DomainError("weeks", "must be >= 1")
    offset = np.asarray(offset_days, dtype=np.float64)
    span = 7.0 * weeks
    side = np.where(
        (offset >= -span) & (offset < 0), BEFORE, np.where((offset >= 0) & (offset < span), AFTER, -1)
    )
    return side.astype(np.int64)


def cohort_metrics(
    cell: npt.ArrayLike,
    side: npt.ArrayLike,
    ordered: npt.ArrayLike,
    shipped: npt.ArrayLike,
    cells: int,
    weeks: int,
) -> CohortMetrics:
    """Per (cell, side), over the lines on that side: volume = sum ordered; lines = count;
    frequency = lines / N (order lines per week); fill rate = sum min(shipped, ordered) / sum ordered
    (NaN without ordered quantity). Lines with side -1 are ignored."""
    c = np.asarray(cell, dtype=np.int64)
    s = np.asarray(side, dtype=np.int64)
    q = np.asarray(ordered, dtype=np.float64)
    served = np.minimum(np.maximum(np.asarray(shipped, dtype=np.float64), 0.0), q)
    keep = s >= 0
    slot = c[keep] * 2 + s[keep]
    size = 2 * cells
    volume: FloatArray = (
        np.bincount(slot, weights=q[keep], minlength=size).reshape(cells, 2).astype(np.float64)
    )
    lines = np.bincount(slot, minlength=size).reshape(cells, 2).astype(np.int64)
    filled = np.bincount(slot, weights=served[keep], minlength=size).reshape(cells, 2).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        fill = np.where(volume > 0, filled / volume, np.nan)
    frequency: FloatArray = lines.astype(np.float64) / float(weeks)
    return CohortMetrics(volume, lines, frequency, fill)
