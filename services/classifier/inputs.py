"""A run's inputs: stored measures, buckets and master data -> one ``EntityBatch`` per dimension.

Entities: customers = golden customers plus customers with orders, minus the anonymous customer
(lines without a customer id; excluded and reported); products = golden products that are not retired
plus products with orders; customer_product = pairs with orders (anonymous excluded); supplier =
suppliers with received receipts. Measures over every stored period: revenue, margin (missing when any
line lacks a cost: flagged, never zero), volume (base units), order lines. Demand: one column per
period of the rule set's grain from the first stored period to the data cutoff, zero buckets included.
Attributes: the golden record's fields plus hierarchy, supplier risk, local segment and the contract's floor
segment (``attributes``);
``sources`` lists each entity's source systems (for the local names of its segment).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from . import store
from .attributes import (
    hierarchy_attributes,
    local_segment_attributes,
    min_segment_attributes,
    object_column,
    supplier_risk_attributes,
    supplier_stats_by_id,
)
from .domain.batch import NOT_NEW, BucketMarks, EntityBatch
from .domain.periods import period_index
from .domain.supplier import supplier_stats
from .measures import CUSTOMER_PRODUCT_SEPARATOR


@dataclass
class RunInputs:
    """Everything a run reads from the store, loaded in one read session."""

    dimension: str
    grain: str
    ids: list[str]
    measures: dict[str, np.ndarray]
    demand: np.ndarray
    first_period: int | None
    attributes: dict[str, np.ndarray]
    launch_period: np.ndarray
    promo: list[tuple[int, int]]
    project: list[tuple[int, int]]
    names: dict[str, str]
    partners: dict[str, list[str]]
    owners: dict[str, str]
    data_cutoff: datetime | None
    excluded: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, list[str]] = field(default_factory=dict)

    def batch(self) -> EntityBatch:
        return EntityBatch(
            ids=np.array(self.ids, dtype=np.str_),
            dimension=self.dimension,
            measures=self.measures,
            demand=self.demand,
            attributes=self.attributes,
            promo=BucketMarks.from_pairs(self.promo),
            one_time_project=BucketMarks.from_pairs(self.project),
            launch_period=self.launch_period,
        )


async def load_inputs(session: AsyncSession, dimension: str, grain: str) -> RunInputs:
    """Read measures, demand buckets and master data of ``dimension`` (rules in the module docstring)."""
    customers = await store.customers_by_id(session)
    anonymous = {cid for cid, row in customers.items() if row.anonymous}
    position = await store.stream_position(session)
    cutoff = store.aware(position.max_event_time) if position is not None else None
    products = await store.all_products(session) if dimension == "product" else {}

    def excluded_entity(entity: str) -> bool:
        if dimension == "customer":
            return entity in anonymous
        if dimension == "customer_product":
            return entity.partition(CUSTOMER_PRODUCT_SEPARATOR)[0] in anonymous
        return False

    totals = {row.entity_id: row for row in await store.measure_totals(session, dimension)}
    ids_set = {e for e in totals if not excluded_entity(e)}
    if dimension == "customer":
        ids_set |= {cid for cid in customers if cid not in anonymous}
    elif dimension == "product":
        ids_set |= {pid for pid, row in products.items() if row.lifecycle != "retired"}
        ids_set -= {pid for pid, row in products.items() if row.lifecycle == "retired"}
    supplier = (
        supplier_stats_by_id(await store.receipts(session)) if dimension in ("supplier", "product") else {}
    )
    if dimension == "supplier":
        ids_set |= set(supplier)
    ids = sorted(ids_set)
    index = {entity: i for i, entity in enumerate(ids)}
    n = len(ids)

    revenue, margin = np.zeros(n), np.zeros(n)
    volume, lines = np.zeros(n), np.zeros(n)
    for entity, row in totals.items():
        i = index.get(entity)
        if i is None:
            continue
        revenue[i], volume[i], lines[i] = row.revenue or 0.0, row.quantity or 0.0, row.lines or 0
        margin[i] = np.nan if (row.missing_cost_lines or 0) > 0 else (row.margin or 0.0)
    measures = {"revenue": revenue, "margin": margin, "volume": volume, "order_lines": lines}

    series = [row for row in await store.bucket_series(session, dimension, grain) if row.entity_id in index]
    periods = [row.period for row in series]
    last = period_index(cutoff.date(), grain) if cutoff is not None else None
    first = min(periods) if periods else None
    if periods:
        last = max([*periods, last]) if last is not None else max(periods)
    width = 0 if first is None or last is None else last - first + 1
    demand = np.zeros((n, width))
    promo: list[tuple[int, int]] = []
    project: list[tuple[int, int]] = []
    for row in series:
        i, column = index[row.entity_id], row.period - (first or 0)
        demand[i, column] += row.quantity
        if row.promo_lines > 0:
            promo.append((i, column))
        if row.project_lines > 0:
            project.append((i, column))

    attributes: dict[str, np.ndarray] = {}
    launch = np.full(n, NOT_NEW, dtype=np.int64)
    names: dict[str, str] = {}
    partners: dict[str, list[str]] = {}
    owners: dict[str, str] = {}
    sources: dict[str, list[str]] = {}
    if dimension in ("customer", "customer_product"):

        def owner_of(entity: str) -> Any:
            return customers.get(entity.partition(CUSTOMER_PRODUCT_SEPARATOR)[0])

        rows = [owner_of(e) for e in ids]
        for name in ("region", "country", "strategic", "min_tier", "min_service_level"):
            attributes[name] = object_column([getattr(r, name) if r is not None else None for r in rows])
        attributes.update(
            hierarchy_attributes([r.golden_id if r is not None else None for r in rows], customers)
        )
        attributes.update(local_segment_attributes(rows))
        attributes.update(min_segment_attributes(rows))
        known = await store.source_systems(session, "customer")
        sources = {
            e: known[r.golden_id]
            for e, r in zip(ids, rows, strict=True)
            if r is not None and r.golden_id in known
        }
        for entity, row in zip(ids, rows, strict=True):
            if row is None:
                continue
            names[entity] = row.name or ""
            if row.partner_ids:
                partners[entity] = list(row.partner_ids)
            if row.account_owner:
                owners[entity] = row.account_owner
    elif dimension == "product":
        rows = [products.get(e) for e in ids]
        for name in ("category", "lifecycle", "supplier_id"):
            attributes[name] = object_column([getattr(r, name) if r is not None else None for r in rows])
        attributes.update(
            supplier_risk_attributes([r.supplier_id if r is not None else None for r in rows], supplier)
        )
        attributes.update(local_segment_attributes(rows))
        known = await store.source_systems(session, "product")
        sources = {e: known[e] for e in ids if e in known}
        for i, (entity, row) in enumerate(zip(ids, rows, strict=True)):
            if row is None:
                continue
            names[entity] = row.name or ""
            if row.lifecycle == "npi" and row.launch_date and first is not None:
                launch[i] = period_index(date.fromisoformat(row.launch_date), grain) - first
        buyers = await store.customer_partners_of_products(session)
        partners = {e: sorted(buyers[e]) for e in ids if e in buyers}
    elif dimension == "supplier":
        none = supplier_stats(np.empty(0), np.empty(0))
        stats = [supplier.get(e, none) for e in ids]
        attributes["on_time_rate"] = np.array([s.on_time_rate for s in stats])
        attributes["lead_time_cv"] = np.array([s.lead_time_cv for s in stats])
        attributes["lead_time_std"] = np.array([s.lead_time_std for s in stats])
        measures["order_lines"] = np.array([float(s.receipts) for s in stats])
    excluded = {}
    if dimension in ("customer", "customer_product") and anonymous:
        excluded = {
            "anonymous_customers": sorted(anonymous),
            "reason": "order lines without a customer id are booked on the anonymous customer; "
            "it is excluded from customer segmentation",
        }
    return RunInputs(
        dimension,
        grain,
        ids,
        measures,
        demand,
        first,
        attributes,
        launch,
        promo,
        project,
        names,
        partners,
        owners,
        cutoff,
        excluded,
        sources,
    )
