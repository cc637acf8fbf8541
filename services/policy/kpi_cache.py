"""The incremental KPI line cache: the orders touched since the last evaluation (queued by the handlers in
the dirty table) have their KPI lines recomputed from their own rows only; alert evaluation then reads the
cached lines of the weeks it evaluates, never the whole history.

A cached line keeps what decides its outcome (ordered, shipped, delivery / promise / requested days) and
its due week; its segment is looked up when it is evaluated (the product's segment at that moment).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from services.policy import kpis, store

BATCH = 1000


def _day(value: float) -> int | None:
    return None if math.isnan(value) else int(value)


async def refresh(session: Any) -> int:
    """Recompute the KPI lines of every queued order (in batches); returns how many orders."""
    total = 0
    while True:
        queued = await store.dirty_orders(session, BATCH)
        if not queued:
            return total
        orders = [order_id for order_id, _ in queued]
        lines, ships, promised = await store.kpi_rows_of(session, orders)
        data = kpis.collect_lines(lines, ships, promised, [], keep_open=True)
        rows = [
            {
                "order_id": data.key[i][0],
                "line_id": data.key[i][1],
                "sku": data.sku[i],
                "region": data.region[i],
                "due_week": data.week[i],
                "ordered": data.ordered[i],
                "shipped": data.shipped[i],
                "delivered_day": _day(data.delivered[i]),
                "promised_day": _day(data.promised[i]),
                "requested_day": _day(data.requested[i]),
            }
            for i in range(len(data.week))
        ]
        await store.replace_kpi_lines(session, queued, rows)
        total += len(orders)
        if len(queued) < BATCH:
            return total  # re-marked orders wait for the next step (no loop on a busy order)


def lines_from_cache(rows: Sequence[Any], assignments: Sequence[Any]) -> kpis.KpiLines:
    """Cached rows -> KPI lines with each line's current product segment (``unassigned`` without one)."""
    segment_of = {a.entity_id: a.segment for a in assignments}
    out = kpis.KpiLines()
    for r in rows:
        out.ordered.append(float(r.ordered))
        out.shipped.append(float(r.shipped))
        for target, value in (
            (out.delivered, r.delivered_day),
            (out.promised, r.promised_day),
            (out.requested, r.requested_day),
        ):
            target.append(math.nan if value is None else float(value))
        out.week.append(int(r.due_week))
        out.segment.append(segment_of.get(r.sku, store.UNASSIGNED))
        out.region.append(r.region or kpis.UNKNOWN_REGION)
        out.sku.append(r.sku)
    return out
