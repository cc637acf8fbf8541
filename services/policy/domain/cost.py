"""Cost-to-serve, inventory turns per segment, and the cohort analysis of a reclassification run."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.policy.domain.errors import DomainError
from services.policy.domain.validate import FloatArray

IntArray = npt.NDArray[np.int64]


def _ratio(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore", divide="ignore"):
        result: FloatArray = np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan
        )
    return result


def _sum(codes: IntArray, weights: npt.ArrayLike | None, size: int) -> FloatArray:
    """Per-code sum of weights (a count when weights is None) as float64."""
    return np.bincount(codes, weights=weights, minlength=size).astype(np.float64)


def _codes(field: str, values: npt.ArrayLike, size: int) -> IntArray:
    codes = np.asarray(values, dtype=np.int64)
    if np.any((codes < 0) | (codes >= size)):
        raise DomainError(field, "index out of range")
    return codes


@dataclass(frozen=True)
class CostToServe:
    """Per segment: total cost, lines, units, cost per unit and per line (NaN where none)."""

    total: FloatArray
    lines: FloatArray
    units: FloatArray
    per_unit: FloatArray
    per_line: FloatArray


def cost_to_serve(
    segment: npt.ArrayLike,
    units: npt.ArrayLike,
    freight: npt.ArrayLike,
    handling_per_unit: npt.ArrayLike,
    handling_per_line: npt.ArrayLike,
    segments: int,
) -> CostToServe:
    """Per shipment line cost = freight + handling_per_unit * units + handling_per_line; summed per segment.
    per_unit = total / units, per_line = total / lines."""
    seg = _codes("segment", segment, segments)
    qty = np.broadcast_to(np.asarray(units, dtype=np.float64), seg.shape)
    line_cost = np.asarray(freight, dtype=np.float64) + np.asarray(handling_per_unit, dtype=np.float64) * qty
    line_cost = np.broadcast_to(line_cost + np.asarray(handling_per_line, dtype=np.float64), seg.shape)
    total = _sum(seg, line_cost, segments)
    lines = _sum(seg, None, segments)
    unit_sum = _sum(seg, qty, segments)
    return CostToServe(total, lines, unit_sum, _ratio(total, unit_sum), _ratio(total, lines))


def inventory_turns(
    segment: npt.ArrayLike, cogs: npt.ArrayLike, inventory_value: npt.ArrayLike, segments: int
) -> FloatArray:
    """Turns per segment = sum of item COGS over the period / sum of item average inventory value, where an
    item's average is the mean of its value snapshots (inventory_value[items, snapshots])."""
    seg = _codes("segment", segment, segments)
    values = np.asarray(inventory_value, dtype=np.float64)
    average = values.mean(axis=1) if values.ndim == 2 else values
    cost = _sum(seg, np.asarray(cogs, dtype=np.float64), segments)
    stock = _sum(seg, average, segments)
    return _ratio(cost, stock)


@dataclass(frozen=True)
class CohortWindow:
    """Per migration cell [old, new]: entities, order volume, orders per entity per week, fill rate."""

    entities: FloatArray
    volume: FloatArray
    frequency: FloatArray
    fill_rate: FloatArray


def cohort_analysis(
    old_segment: npt.ArrayLike,
    new_segment: npt.ArrayLike,
    order_entity: npt.ArrayLike,
    order_week: npt.ArrayLike,
    ordered: npt.ArrayLike,
    shipped: npt.ArrayLike,
    reclassified_week: int,
    weeks: int,
    segments: int,
) -> tuple[CohortWindow, CohortWindow]:
    """(before, after) per migration cell (old segment, new segment) of the entities.

    before = weeks [r - N, r), after = [r, r + N) with r the reclassification week and N = ``weeks``.
    volume = sum ordered; frequency = orders / (entities in cell * N); fill rate = sum min(shipped, ordered)
    / sum ordered.
    """
    if weeks < 1:
        raise DomainError("weeks", "must be >= 1")
    old = _codes("old_segment", old_segment, segments)
    new = _codes("new_segment", new_segment, segments)
    entity = _codes("order_entity", order_entity, old.shape[0])
    week = np.asarray(order_week, dtype=np.int64)
    qty = np.asarray(ordered, dtype=np.float64)
    filled = np.minimum(np.asarray(shipped, dtype=np.float64), qty)
    cells = segments * segments
    entity_cell = old * segments + new
    members = _sum(entity_cell, None, cells).reshape(segments, segments)
    order_cell = entity_cell[entity]

    def window(first: int, last: int) -> CohortWindow:
        inside = (week >= first) & (week < last)
        c = order_cell[inside]
        volume = _sum(c, qty[inside], cells).reshape(segments, segments)
        count = _sum(c, None, cells).reshape(segments, segments)
        served = _sum(c, filled[inside], cells).reshape(segments, segments)
        return CohortWindow(members, volume, _ratio(count, members * weeks), _ratio(served, volume))

    return window(reclassified_week - weeks, reclassified_week), window(
        reclassified_week, reclassified_week + weeks
    )
