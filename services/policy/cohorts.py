"""The cohort analysis of a reclassification run: the stored segment changes of the run (from
segment.changed) joined to the order lines of the changed entities (product: sku, customer: customer_id);
the N weeks before vs after each entity's change time (see domain/cohort.py for the measures)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from services.policy.domain.cohort import cohort_metrics, cohort_side

NEW = "(new)"


def cohort_report(
    changes: Sequence[Any], lines: Sequence[Any], shipped: dict[tuple[str, str], float], weeks: int
) -> list[dict[str, Any]]:
    """[{dimension, old_segment, new_segment, entities, before: {...}, after: {...}}] per migration cell."""
    cells = sorted({(c.dimension, c.old_segment or NEW, c.new_segment) for c in changes})
    code = {cell: i for i, cell in enumerate(cells)}
    entities = {cell: 0 for cell in cells}
    changed: dict[tuple[str, str], tuple[int, Any]] = {}
    for c in changes:
        cell = (c.dimension, c.old_segment or NEW, c.new_segment)
        entities[cell] += 1
        changed[(c.dimension, c.entity_id)] = (code[cell], c.changed_at)
    cell_of, offset, ordered, served = [], [], [], []
    for line in lines:
        for dimension, entity in (("product", line.sku), ("customer", line.customer_id)):
            hit = changed.get((dimension, entity))
            if hit is None:
                continue
            when = (
                line.ordered_at if line.ordered_at.tzinfo else line.ordered_at.replace(tzinfo=hit[1].tzinfo)
            )
            cell_of.append(hit[0])
            offset.append((when - hit[1]).total_seconds() / 86400.0)
            quantity = max(line.quantity - line.cancelled_quantity, 0.0)
            ordered.append(quantity)
            served.append(shipped.get((line.order_id, line.line_id), 0.0))
    metrics = cohort_metrics(
        np.array(cell_of, dtype=np.int64),
        cohort_side(np.array(offset), weeks),
        np.array(ordered),
        np.array(served),
        len(cells),
        weeks,
    )

    def side(i: int, s: int) -> dict[str, Any]:
        fill = float(metrics.fill_rate[i, s])
        return {
            "order_volume": float(metrics.volume[i, s]),
            "order_lines": int(metrics.lines[i, s]),
            "lines_per_week": float(metrics.frequency[i, s]),
            "fill_rate": fill if np.isfinite(fill) else None,
        }

    return [
        {
            "dimension": cell[0],
            "old_segment": None if cell[1] == NEW else cell[1],
            "new_segment": cell[2],
            "entities": entities[cell],
            "before": side(i, 0),
            "after": side(i, 1),
        }
        for i, cell in enumerate(cells)
    ]
