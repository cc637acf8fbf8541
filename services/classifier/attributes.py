"""Attribute columns a run gives the rules, beyond the golden record's own fields:

- hierarchy (customers, customer x product): ``<view>_parent_id`` and ``<view>_top_parent_id`` for the
  sales, logistics and finance views (``parent_id`` / ``top_parent_id`` alias the sales view in the
  engine); a customer without a parent is its own top parent;
- supplier risk (products): ``supplier_on_time_rate``, ``supplier_lead_time_mean`` / ``_std`` / ``_cv``
  and ``supplier_receipts`` of the product's supplier, from its received receipts (NaN when unknown);
- local segment (customers, products): ``local_segment`` and ``source_system`` from master data, mapped by
  the engine with the run's rule set (``source_segment``);
- contract floor segment (customers, customer x product): ``min_segment`` and ``min_segment_source``, the
  contract's floor as its source system names it, mapped by the engine the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import numpy as np

from .domain.hierarchy import HIERARCHY_VIEWS, top_parents
from .domain.supplier import SupplierStats, supplier_stats


def object_column(values: Sequence[Any]) -> np.ndarray:
    column = np.empty(len(values), dtype=object)
    column[:] = list(values)
    return column


def hierarchy_attributes(owners: Sequence[str | None], customers: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Per entity (owned by customer ``owners[i]``): parent and top parent in each hierarchy view."""
    ids = sorted(customers)
    out: dict[str, np.ndarray] = {}
    for view in HIERARCHY_VIEWS:
        parent_of = {cid: (customers[cid].parents or {}).get(view) for cid in ids}
        top, _ = top_parents(
            np.array(ids, dtype=np.str_),
            np.array([parent_of[c] or "" for c in ids], dtype=np.str_),
            np.array([parent_of[c] is None for c in ids], dtype=bool),
        )
        top_of = dict(zip(ids, top.tolist(), strict=True))
        out[f"{view}_parent_id"] = object_column([parent_of.get(o) if o else None for o in owners])
        out[f"{view}_top_parent_id"] = object_column([top_of.get(o, o) if o else None for o in owners])
    return out


def supplier_stats_by_id(receipts: Sequence[Any]) -> dict[str, SupplierStats]:
    """supplier id -> reliability from its received receipts (``domain.supplier.supplier_stats``)."""
    rows: dict[str, list[Any]] = {}
    for row in receipts:
        rows.setdefault(row.supplier_id, []).append(row)
    return {supplier: _stats(found) for supplier, found in sorted(rows.items())}


def _stats(rows: list[Any]) -> SupplierStats:
    delays, leads = [], []
    for row in rows:
        received = date.fromisoformat(row.received_date)
        promised = date.fromisoformat(row.scheduled_date or row.due_date)
        delays.append((received - promised).days)
        leads.append((received - date.fromisoformat(row.ordered_date)).days if row.ordered_date else np.nan)
    return supplier_stats(np.array(delays, dtype=np.float64), np.array(leads, dtype=np.float64))


def supplier_risk_attributes(
    supplier_ids: Sequence[str | None], stats: Mapping[str, SupplierStats]
) -> dict[str, np.ndarray]:
    """Per product: its supplier's reliability figures (NaN without a supplier or received receipts)."""
    found = [stats.get(s) if s else None for s in supplier_ids]

    def column(read: Any) -> np.ndarray:
        return np.array([np.nan if s is None else float(read(s)) for s in found], dtype=np.float64)

    return {
        "supplier_on_time_rate": column(lambda s: s.on_time_rate),
        "supplier_lead_time_mean": column(lambda s: s.lead_time_mean),
        "supplier_lead_time_std": column(lambda s: s.lead_time_std),
        "supplier_lead_time_cv": column(lambda s: s.lead_time_cv),
        "supplier_receipts": column(lambda s: s.receipts),
    }


def _named_by_source(rows: Sequence[Any], column: str) -> list[dict[str, Any]]:
    return [(getattr(r, column, None) or {}) if r is not None else {} for r in rows]


def local_segment_attributes(rows: Sequence[Any]) -> dict[str, np.ndarray]:
    """``local_segment`` (the source's own name) and ``source_system`` of each golden row (None if absent)."""
    values = _named_by_source(rows, "local_segment")
    return {
        "local_segment": object_column([v.get("name") for v in values]),
        "source_system": object_column([v.get("source") for v in values]),
    }


def min_segment_attributes(rows: Sequence[Any]) -> dict[str, np.ndarray]:
    """``min_segment`` (the contract's floor segment as its source names it) and ``min_segment_source`` of
    each golden customer row (None if absent)."""
    values = _named_by_source(rows, "min_segment")
    return {
        "min_segment": object_column([v.get("name") for v in values]),
        "min_segment_source": object_column([v.get("source") for v in values]),
    }
