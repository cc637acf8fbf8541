"""Delivery KPIs per order line and their aggregation per group (segment, region, product line) over
rolling windows of periods, with bincount over (group, period) cells.

Per line: in full = shipped >= ordered; on time = delivered <= promised date, or <= requested date when
no promise exists (NaN promised); an undelivered line (NaN delivered) is not on time.
OTIF = on time and in full; perfect order = OTIF and no damage and no documentation error.
Line fill rate = lines shipped in full / lines; unit fill rate = sum min(shipped, ordered) / sum ordered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.policy.domain.errors import DomainError
from services.policy.domain.validate import FloatArray

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class LineOutcomes:
    """Per-line booleans: in full, on time, OTIF, perfect."""

    in_full: BoolArray
    on_time: BoolArray
    otif: BoolArray
    perfect: BoolArray


def line_outcomes(
    ordered: npt.ArrayLike,
    shipped: npt.ArrayLike,
    delivered_day: npt.ArrayLike,
    promised_day: npt.ArrayLike,
    requested_day: npt.ArrayLike,
    damaged: npt.ArrayLike = False,
    document_error: npt.ArrayLike = False,
) -> LineOutcomes:
    """in_full = shipped >= ordered; due = promised if known else requested; on_time = delivered <= due;
    otif = on_time & in_full; perfect = otif & ~damaged & ~document_error. Days are numbers (NaN = unknown)."""
    qty_ordered = np.asarray(ordered, dtype=np.float64)
    qty_shipped = np.asarray(shipped, dtype=np.float64)
    delivered = np.asarray(delivered_day, dtype=np.float64)
    promised = np.asarray(promised_day, dtype=np.float64)
    requested = np.asarray(requested_day, dtype=np.float64)
    due = np.where(np.isnan(promised), requested, promised)
    with np.errstate(invalid="ignore"):
        on_time = np.isfinite(delivered) & np.isfinite(due) & (delivered <= due)
        in_full = qty_shipped >= qty_ordered
    otif = on_time & in_full
    clean = ~np.asarray(damaged, dtype=bool) & ~np.asarray(document_error, dtype=bool)
    return LineOutcomes(in_full, on_time, otif, otif & clean)


@dataclass(frozen=True)
class WindowedRate:
    """numerator / denominator per [group, period] summed over the window ending at that period."""

    numerator: FloatArray
    denominator: FloatArray

    @property
    def rate(self) -> FloatArray:
        """numerator / denominator, NaN where the window holds nothing."""
        with np.errstate(invalid="ignore", divide="ignore"):
            result: FloatArray = np.where(self.denominator > 0, self.numerator / self.denominator, np.nan)
        return result


def rolling_rate(
    numerator: npt.ArrayLike,
    denominator: npt.ArrayLike,
    group: npt.ArrayLike,
    period: npt.ArrayLike,
    groups: int,
    periods: int,
    window: int,
) -> WindowedRate:
    """Per (g, e): sum of numerator and denominator over lines with group g and period in
    [e - window + 1, e] (cells by bincount on g * periods + p, then a cumulative-sum difference)."""
    if window < 1:
        raise DomainError("window", "must be >= 1")
    g = np.asarray(group, dtype=np.int64)
    p = np.asarray(period, dtype=np.int64)
    if np.any((g < 0) | (g >= groups)):
        raise DomainError("group", "index out of range")
    if np.any((p < 0) | (p >= periods)):
        raise DomainError("period", "index out of range")
    cells = g * periods + p

    def windowed(values: npt.ArrayLike) -> FloatArray:
        weights = np.broadcast_to(np.asarray(values, dtype=np.float64), cells.shape)
        per_cell = np.bincount(cells, weights=weights, minlength=groups * periods).reshape(groups, periods)
        running = np.concatenate([np.zeros((groups, 1)), np.cumsum(per_cell, axis=1)], axis=1)
        ends = np.arange(periods) + 1
        starts = np.maximum(ends - window, 0)
        result: FloatArray = running[:, ends] - running[:, starts]
        return result

    return WindowedRate(windowed(numerator), windowed(denominator))


@dataclass(frozen=True)
class KpiWindows:
    """Rolling KPIs per [group, period]: line fill rate, unit fill rate, OTIF, perfect order."""

    line_fill_rate: WindowedRate
    unit_fill_rate: WindowedRate
    otif: WindowedRate
    perfect_order: WindowedRate


def kpis_by_group(
    outcomes: LineOutcomes,
    ordered: npt.ArrayLike,
    shipped: npt.ArrayLike,
    group: npt.ArrayLike,
    period: npt.ArrayLike,
    groups: int,
    periods: int,
    window: int,
) -> KpiWindows:
    """All line KPIs for one grouping (segment, region or product line codes) over rolling windows."""
    qty_ordered = np.asarray(ordered, dtype=np.float64)
    filled = np.minimum(np.asarray(shipped, dtype=np.float64), qty_ordered)
    args = (group, period, groups, periods, window)
    return KpiWindows(
        line_fill_rate=rolling_rate(outcomes.in_full, 1.0, *args),
        unit_fill_rate=rolling_rate(filled, qty_ordered, *args),
        otif=rolling_rate(outcomes.otif, 1.0, *args),
        perfect_order=rolling_rate(outcomes.perfect, 1.0, *args),
    )
