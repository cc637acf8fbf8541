"""Turns stored rows into per-stock-point inputs of a proposal: weekly demand statistics, lead times (from
received receipts, else product master data) and the segment's service target.

Lead time per receipt: received - ordered (days) when the order date is known, else the master lead time
plus the delay received - scheduled. Days become weeks (/ 7): every quantity is per week. The demand
pattern picks the lead-time demand model: smooth / erratic -> normal, intermittent -> poisson,
lumpy -> negative_binomial.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from services.policy.domain.demand_stats import demand_statistics, lead_time_statistics
from services.policy.domain.proposal import ProposalInputs

DAYS_PER_PERIOD = 7.0
DISTRIBUTION_BY_PATTERN = {"intermittent": "poisson", "lumpy": "negative_binomial"}


@dataclass(frozen=True)
class StockPoint:
    sku: str
    site: str
    segment: str
    service_level_type: str
    target: float
    pattern: str
    lead_time_source: str


@dataclass(frozen=True)
class Assembled:
    points: list[StockPoint]
    inputs: ProposalInputs | None
    skipped: list[dict[str, str]]


def assemble(
    demand: Sequence[Any],
    last_week: int,
    receipts: Sequence[Any],
    products: Sequence[Any],
    assignments: Sequence[Any],
    *,
    sku: str | None,
    site: str | None,
    segment: str | None,
    review_period: float,
    stock_points: set[tuple[str, str]] | None = None,
    assumed_lead_time_days: float | None = None,
) -> Assembled:
    """Stock points matching the filter (and ``stock_points`` when given) with a segment and a lead time;
    the others are skipped with why. ``assumed_lead_time_days`` (the demo only) stands in where neither
    receipts nor master data know a lead time; such points say lead_time_source = "assumed"."""
    segment_of = {a.entity_id: a for a in assignments}
    product_of = {p.sku: p for p in products}
    keys = sorted({(r.sku, r.site) for r in demand})
    keys = [k for k in keys if (sku is None or k[0] == sku) and (site is None or k[1] == site)]
    if stock_points is not None:
        keys = [k for k in keys if k in stock_points]
    if segment is not None:
        keys = [k for k in keys if k[0] in segment_of and segment_of[k[0]].segment == segment]
    index = {k: i for i, k in enumerate(keys)}
    rows = [r for r in demand if (r.sku, r.site) in index]
    stats = demand_statistics(
        np.array([index[(r.sku, r.site)] for r in rows], dtype=np.int64),
        np.array([r.ordered_week for r in rows], dtype=np.int64),
        np.array([max(float(r.quantity), 0.0) for r in rows]),
        len(keys),
        last_week,
    )
    observed_item, observed_days = [], []
    for r in receipts:
        i = index.get((r.sku, r.site))
        if i is None:
            continue
        master = product_of.get(r.sku)
        if r.ordered_date is not None:
            days = (r.received_date - r.ordered_date).days
        elif r.scheduled_date is not None and master is not None and master.lead_time_days is not None:
            days = master.lead_time_days + (r.received_date - r.scheduled_date).days
        else:
            continue
        observed_item.append(i)
        observed_days.append(max(float(days), 0.0))
    lead = lead_time_statistics(np.array(observed_item, dtype=np.int64), np.array(observed_days), len(keys))
    points: list[StockPoint] = []
    chosen: list[int] = []
    lt_mean: list[float] = []
    lt_std: list[float] = []
    skipped: list[dict[str, str]] = []
    for (item_sku, item_site), i in index.items():
        assigned = segment_of.get(item_sku)
        master = product_of.get(item_sku)
        if assigned is None:
            skipped.append({"sku": item_sku, "site": item_site, "reason": "no product segment assignment"})
            continue
        if lead.count[i] > 0:
            mean_days, std_days, source = float(lead.mean[i]), float(lead.std[i]), "receipts"
        elif master is not None and master.lead_time_days is not None:
            mean_days, std_days, source = (
                master.lead_time_days,
                master.lead_time_std_days or 0.0,
                "master_data",
            )
        elif assumed_lead_time_days is not None:
            mean_days, std_days, source = assumed_lead_time_days, 0.0, "assumed"
        else:
            skipped.append(
                {"sku": item_sku, "site": item_site, "reason": "no lead time (receipts or master data)"}
            )
            continue
        chosen.append(i)
        lt_mean.append(mean_days / DAYS_PER_PERIOD)
        lt_std.append(std_days / DAYS_PER_PERIOD)
        pattern = str(stats.pattern[i])
        points.append(
            StockPoint(
                item_sku,
                item_site,
                assigned.segment,
                assigned.service_level_type,
                float(assigned.service_level_target),
                pattern,
                source,
            )
        )
    if not chosen:
        return Assembled([], None, skipped)
    pick = np.array(chosen, dtype=np.int64)
    inputs = ProposalInputs(
        demand_mean=stats.mean[pick],
        demand_std=stats.std[pick],
        lead_time_mean=np.array(lt_mean),
        lead_time_std=np.array(lt_std),
        target=np.array([p.target for p in points]),
        fill_rate=np.array([p.service_level_type == "fill_rate" for p in points]),
        review_period=np.full(len(points), float(review_period)),
        distribution=np.array([DISTRIBUTION_BY_PATTERN.get(p.pattern, "normal") for p in points]),
        history=stats.history[pick],
    )
    return Assembled(points, inputs, skipped)
