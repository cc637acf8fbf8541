"""KPI attainment per segment (or region, or product line = the product's category) over rolling weekly windows, the alert evaluation step, and
cost-to-serve / inventory turns per segment, from the stored orders, promises, shipments and positions.

A KPI line is an order line (ordered quantity) or, for a shipment without a known order line, the shipment
itself (ordered = shipped). Shipped = sum over the line's shipments; delivered = the last delivery date.
Due date: the promise's last confirmation, else the order's promised date; fallback the requested date,
else the shipment's scheduled date. A line counts in the week of its due date once it is delivered or
its due date is more than ``grace_days`` before the data clock (the latest delivery date seen); such
undelivered lines are neither on time nor in full.
A line's segment is its product's segment (``unassigned`` when the classifier has not assigned one).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from services.policy.domain.cost import cost_to_serve, inventory_turns
from services.policy.domain.kpi import IntArray, KpiWindows, LineOutcomes, kpis_by_group, line_outcomes
from services.policy.domain.validate import FloatArray
from services.policy.store import UNASSIGNED, week_of, week_start

KPIS = ("line_fill_rate", "otif", "perfect_order")
UNKNOWN_REGION = "unknown"
KEEP_ALL = 10**9  # a cutoff after every due date: undelivered lines are kept


@dataclass
class KpiLines:
    """One entry per KPI line (parallel lists), plus the data clock (a day ordinal)."""

    ordered: list[float] = field(default_factory=list)
    shipped: list[float] = field(default_factory=list)
    delivered: list[float] = field(default_factory=list)
    promised: list[float] = field(default_factory=list)
    requested: list[float] = field(default_factory=list)
    week: list[int] = field(default_factory=list)
    segment: list[str] = field(default_factory=list)
    region: list[str] = field(default_factory=list)
    product_line: list[str] = field(default_factory=list)
    key: list[tuple[str, str]] = field(default_factory=list)
    sku: list[str] = field(default_factory=list)
    clock: int | None = None


def _day(value: date | None) -> float:
    return float(value.toordinal()) if value is not None else math.nan


def collect_lines(
    lines: Sequence[Any],
    ships: Sequence[Any],
    promised: Sequence[Any],
    assignments: Sequence[Any],
    grace_days: int = 7,
    product_line_of: dict[str, str] | None = None,
    keep_open: bool = False,
) -> KpiLines:
    """Join order lines, their shipments and promises into KPI lines (see the module rules);
    ``product_line_of`` maps sku -> product category (master data), ``unknown`` when absent;
    ``keep_open`` keeps undelivered lines whatever their due date (the incremental cache decides later)."""
    segment_of = {a.entity_id: a.segment for a in assignments}
    lines_of = product_line_of or {}
    promise_of: dict[tuple[str, str], date] = {}
    for p in promised:
        key = (p.order_id, p.sku)
        promise_of[key] = max(promise_of.get(key, p.promised_date), p.promised_date)
    by_line: dict[tuple[str, str], list[Any]] = {}
    for s in ships:
        by_line.setdefault((s.order_id, s.line_id), []).append(s)
    delivered_days = [s.delivered_date for s in ships if s.delivered_date is not None]
    out = KpiLines(clock=max(delivered_days).toordinal() if delivered_days else None)
    cutoff = None if out.clock is None else out.clock - grace_days
    if keep_open:
        cutoff = KEEP_ALL
    known = set()
    for line in lines:
        key = (line.order_id, line.line_id)
        known.add(key)
        open_qty = line.quantity - line.cancelled_quantity
        if open_qty <= 0:
            continue
        shipped = by_line.get(key, [])
        promise = promise_of.get((line.order_id, line.sku)) or line.promised_date
        scheduled = next((s.scheduled_date for s in shipped if s.scheduled_date is not None), None)
        _add(
            out,
            key,
            cutoff,
            open_qty,
            shipped,
            promise,
            line.requested_date or scheduled,
            line.sku,
            line.region,
            segment_of,
            lines_of,
        )
    for key, shipped in by_line.items():
        if key in known:
            continue
        scheduled = next((s.scheduled_date for s in shipped if s.scheduled_date is not None), None)
        quantity = _shipped_quantity(shipped)
        if scheduled is None or quantity <= 0:
            continue
        _add(out, key, cutoff, quantity, shipped, None, scheduled, shipped[0].sku, None, segment_of, lines_of)
    return out


def _shipped_quantity(shipped: Sequence[Any]) -> float:
    return float(sum(max(s.shipped_quantity or 0.0, s.delivered_quantity or 0.0) for s in shipped))


def _add(
    out: KpiLines,
    key: tuple[str, str],
    cutoff: int | None,
    ordered: float,
    shipped: Sequence[Any],
    promise: date | None,
    requested: date | None,
    sku: str,
    region: str | None,
    segment_of: dict[str, str],
    product_line_of: dict[str, str],
) -> None:
    delivered = [s.delivered_date for s in shipped if s.delivered_date is not None]
    last = max(delivered) if delivered else None
    due = promise or requested
    if due is None:
        return
    if last is None and (cutoff is None or due.toordinal() >= cutoff):
        return  # not overdue against the data clock yet: no outcome to count
    out.ordered.append(ordered)
    out.shipped.append(_shipped_quantity(shipped))
    out.delivered.append(_day(last))
    out.promised.append(_day(promise))
    out.requested.append(_day(requested))
    out.week.append(week_of(due))
    out.segment.append(segment_of.get(sku, UNASSIGNED))
    out.region.append(region or UNKNOWN_REGION)
    out.product_line.append(product_line_of.get(sku, UNKNOWN_REGION))
    out.key.append(key)
    out.sku.append(sku)


@dataclass(frozen=True)
class KpiTable:
    groups: list[str]
    first_week: int
    windows: KpiWindows
    lines: int


GROUPINGS = ("segment", "region", "product_line")


@dataclass(frozen=True)
class KpiFrame:
    """KPI lines as arrays, what ``frame_table`` needs for any window: per-line outcomes (computed once),
    ordered and shipped quantities, week offsets from the first due week, and the group names and per-line
    group codes of each grouping. About 50 bytes a line (the KPI read cache keeps one)."""

    outcomes: LineOutcomes
    ordered: FloatArray
    shipped: FloatArray
    period: IntArray
    first_week: int
    periods: int
    groupings: dict[str, tuple[list[str], IntArray]]

    @property
    def lines(self) -> int:
        return int(self.period.shape[0])


def frame(data: KpiLines, groupings: Sequence[str] = GROUPINGS) -> KpiFrame | None:
    """The arrays of ``data`` with the codes of ``groupings`` (segment, region, product_line); None without
    lines."""
    if not data.week:
        return None
    weeks = np.array(data.week, dtype=np.int64)
    first = int(weeks.min())
    labels = {"segment": data.segment, "region": data.region, "product_line": data.product_line}
    codes: dict[str, tuple[list[str], IntArray]] = {}
    for by in groupings:
        groups = sorted(set(labels[by]))
        code = {g: i for i, g in enumerate(groups)}
        codes[by] = (groups, np.array([code[g] for g in labels[by]], dtype=np.int64))
    return KpiFrame(
        outcomes=line_outcomes(data.ordered, data.shipped, data.delivered, data.promised, data.requested),
        ordered=np.array(data.ordered, dtype=np.float64),
        shipped=np.array(data.shipped, dtype=np.float64),
        period=weeks - first,
        first_week=first,
        periods=int(weeks.max()) - first + 1,
        groupings=codes,
    )


def frame_table(data: KpiFrame | None, by: str, window: int) -> KpiTable | None:
    """Rolling KPIs per group of ``by`` and week from a frame (None without lines)."""
    if data is None:
        return None
    groups, codes = data.groupings[by]
    windows = kpis_by_group(
        data.outcomes, data.ordered, data.shipped, codes, data.period, len(groups), data.periods, window
    )
    return KpiTable(groups, data.first_week, windows, data.lines)


def kpi_table(data: KpiLines, by: str, window: int) -> KpiTable | None:
    """Rolling KPIs per group (``segment``, ``region`` or ``product_line``) and week, None without lines."""
    return frame_table(frame(data, (by,)), by, window)


def series(table: KpiTable | None, kpi: str | None, group: str | None) -> list[dict[str, Any]]:
    """[{group, kpi, points: [{week_start, value, lines}]}] (weeks whose window holds no line are left out)."""
    if table is None:
        return []
    out: list[dict[str, Any]] = []
    for k in KPIS if kpi is None else (kpi,):
        rate = getattr(table.windows, k)
        values, counts = rate.rate, rate.denominator
        for g, name in enumerate(table.groups):
            if group is not None and name != group:
                continue
            points = [
                {
                    "week_start": week_start(table.first_week + p).isoformat(),
                    "value": float(values[g, p]),
                    "lines": int(counts[g, p]),
                }
                for p in range(values.shape[1])
                if counts[g, p] > 0
            ]
            out.append({"group": name, "kpi": k, "points": points})
    return out


def week_end(week: int) -> datetime:
    start = week_start(week)
    return datetime(start.year, start.month, start.day, tzinfo=UTC) + timedelta(days=7)


def cost_and_turns(
    ships: Sequence[Any], positions: Sequence[Any], products: Sequence[Any], assignments: Sequence[Any]
) -> list[dict[str, Any]]:
    """Per segment: cost-to-serve (freight + handling per shipment line) and inventory turns
    (COGS of shipped units at unit cost / average inventory value over the position snapshots)."""
    segment_of = {a.entity_id: a.segment for a in assignments}
    cost_of = {p.sku: p.unit_cost for p in products if p.unit_cost is not None}
    names = sorted(
        {segment_of.get(s.sku, UNASSIGNED) for s in ships}
        | {segment_of.get(p.sku, UNASSIGNED) for p in positions}
    )
    if not names:
        return []
    code = {n: i for i, n in enumerate(names)}
    seg = [code[segment_of.get(s.sku, UNASSIGNED)] for s in ships]
    units = [max(s.shipped_quantity or 0.0, s.delivered_quantity or 0.0) for s in ships]
    cts = cost_to_serve(
        np.array(seg, dtype=np.int64),
        np.array(units),
        np.array([s.freight_cost or 0.0 for s in ships]),
        0.0,
        np.array([s.handling_cost or 0.0 for s in ships]),
        len(names),
    )
    stock: dict[tuple[str, str], list[float]] = {}
    for p in positions:
        stock.setdefault((p.sku, p.site), []).append(max(p.on_hand, 0.0))
    cogs: dict[tuple[str, str], float] = {}
    for s, qty in zip(ships, units, strict=True):
        if s.sku in cost_of:
            cogs[(s.sku, s.site)] = cogs.get((s.sku, s.site), 0.0) + qty * cost_of[s.sku]
    items = [k for k in stock if k[0] in cost_of]
    turns = inventory_turns(
        np.array([code[segment_of.get(k[0], UNASSIGNED)] for k in items], dtype=np.int64),
        np.array([cogs.get(k, 0.0) for k in items]),
        np.array([float(np.mean(stock[k])) * cost_of[k[0]] for k in items]),
        len(names),
    )
    return [
        {
            "segment": name,
            "lines": int(cts.lines[i]),
            "units": float(cts.units[i]),
            "cost": {
                "total": float(cts.total[i]),
                "per_unit": _finite(cts.per_unit[i]),
                "per_line": _finite(cts.per_line[i]),
            },
            "inventory_turns": _finite(turns[i]),
        }
        for i, name in enumerate(names)
    ]


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
