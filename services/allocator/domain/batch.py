"""Vectorised allocation of many lines across many SKUs in one pass (no Python loop per line or SKU).

Same rule as ``allocate.allocate_lines`` without quotas, caps or explanations: per SKU, tiers in order
are fully covered while supply lasts; the first tier that cannot be covered splits the rest by mode;
later tiers get 0. Ties by due date, then line id.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from services.allocator.domain.fair_share import WithinTierMode

IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class BatchAllocation:
    """``allocated`` per line (input order) and ``tier_pool``: the units the line's (sku, tier) group split."""

    allocated: IntArray
    tier_pool: IntArray


_COMPOSITE_LIMIT = 2**62


def _codes(values: NDArray) -> tuple[IntArray, int]:
    """Order-preserving integer codes ``>= 0`` of a column, and how many values they can take."""
    if values.dtype.kind in "iubMm":
        as_int = values.view(np.int64) if values.dtype.kind in "Mm" else values.astype(np.int64)
        low = int(as_int.min())
        return as_int - low, int(as_int.max()) - low + 1
    unique, inverse = np.unique(values, return_inverse=True)
    return inverse.astype(np.int64).ravel(), int(unique.size)


def sort_order(*keys: NDArray) -> IntArray:
    """Indices sorting rows by ``keys`` (the first is primary), ties by position: what
    ``np.lexsort(keys[::-1])`` returns, computed as one argsort of a mixed-radix int64 key
    ``((k1 * |k2| + k2) * |k3| + ...) * n + position`` when it fits, else by lexsort."""
    n = keys[0].size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    composite = np.zeros(n, dtype=np.int64)
    span = 1
    for key in (*keys, np.arange(n, dtype=np.int64)):
        codes, size = _codes(key)
        span *= size
        if span >= _COMPOSITE_LIMIT:
            return np.lexsort(keys[::-1]).astype(np.int64)
        composite = composite * size + codes
    return np.argsort(composite).astype(np.int64)


@dataclass(frozen=True)
class _Groups:
    """Lines sorted by (sku, tier, due, id), cut into (sku, tier) groups."""

    order: IntArray
    group: IntArray
    starts: IntArray
    demand: IntArray
    pool: IntArray


def _group(
    sku: IntArray, tier: IntArray, quantity: IntArray, due: NDArray, ids: NDArray, supply: IntArray
) -> _Groups:
    order = sort_order(sku, tier, due, ids)
    s_sku, s_tier, s_qty = sku[order], tier[order], quantity[order]
    boundary = np.ones(order.size, dtype=bool)
    boundary[1:] = (s_sku[1:] != s_sku[:-1]) | (s_tier[1:] != s_tier[:-1])
    starts = np.flatnonzero(boundary).astype(np.int64)
    group = (np.cumsum(boundary) - 1).astype(np.int64)
    demand = np.add.reduceat(s_qty, starts) if order.size else np.zeros(0, dtype=np.int64)
    group_sku = s_sku[starts]
    running = np.cumsum(demand)
    first_of_sku = np.ones(starts.size, dtype=bool)
    first_of_sku[1:] = group_sku[1:] != group_sku[:-1]
    sku_offset = (running - demand)[first_of_sku][np.cumsum(first_of_sku) - 1]
    demand_before = running - demand - sku_offset
    # First uncovered tier of a SKU = first group whose demand_before + demand exceeds supply: it gets the
    # rest, earlier groups their demand, later ones 0; clipping expresses all three at once.
    pool = np.clip(supply[group_sku] - demand_before, 0, demand)
    return _Groups(order, group, starts, demand, pool)


def _proportional(g: _Groups, qty: IntArray) -> IntArray:
    pool, demand = g.pool[g.group], g.demand[g.group]
    product = pool * qty
    safe = np.maximum(demand, 1)
    floors, remainders = product // safe, product % safe
    leftover = g.pool - np.add.reduceat(floors, g.starts)
    # Only groups with leftover units need ranking; lines are already in (due, id) order inside a group,
    # so sorting them by (group, -remainder) with ties by position ranks them (-remainder, due, id).
    rows = np.flatnonzero(leftover[g.group] > 0)
    extra = np.zeros(qty.size, dtype=np.int64)
    if rows.size:
        ranked = rows[sort_order(g.group[rows], -remainders[rows])]
        ranked_group = g.group[ranked]
        rank = np.arange(ranked.size) - np.searchsorted(ranked_group, ranked_group, side="left")
        extra[ranked] = rank < leftover[ranked_group]
    return floors + extra


def _even(g: _Groups, qty: IntArray) -> IntArray:
    n = qty.size
    by_size = sort_order(g.group, qty)
    sorted_qty, grp = qty[by_size], g.group[by_size]
    position = np.arange(n) - g.starts[grp]
    sizes = np.diff(np.append(g.starts, n))
    prefix = np.cumsum(sorted_qty) - sorted_qty
    prefix_in_group = prefix - prefix[g.starts][grp]
    open_lines = sizes[grp] - position
    filled_at = prefix_in_group + sorted_qty * open_lines
    candidate = np.where(filled_at >= g.pool[grp], np.arange(n), n)
    first = np.minimum.reduceat(candidate, g.starts)
    covered = (first == n) | (g.pool >= g.demand)
    first = np.where(covered, g.starts, first)
    level = np.where(
        covered, np.iinfo(np.int64).max, (g.pool - prefix_in_group[first]) // np.maximum(open_lines[first], 1)
    )
    base = np.minimum(qty, level[g.group])
    leftover = g.pool - np.add.reduceat(base, g.starts)
    hungry = (base < qty).astype(np.int64)
    hungry_rank = np.cumsum(hungry) - hungry
    hungry_rank -= hungry_rank[g.starts][g.group]
    return base + (hungry.astype(bool) & (hungry_rank < leftover[g.group]))


def _fifo(sku: IntArray, qty: IntArray, supply: IntArray) -> IntArray:
    running = np.cumsum(qty) - qty
    first_of_sku = np.ones(qty.size, dtype=bool)
    first_of_sku[1:] = sku[1:] != sku[:-1]
    before = running - running[first_of_sku][np.cumsum(first_of_sku) - 1]
    return np.clip(supply[sku] - before, 0, qty)


def allocate_batch(
    sku_index: ArrayLike,
    tier: ArrayLike,
    quantity: ArrayLike,
    due: ArrayLike,
    line_id: ArrayLike,
    supply_per_sku: ArrayLike,
    mode: WithinTierMode = "proportional",
) -> BatchAllocation:
    """Allocate every line of every SKU at once.

    Lines are lexsorted by (sku, tier, due, id) and cut into (sku, tier) groups; group demand ``D_g`` and
    the demand of the SKU's earlier tiers ``B_g`` come from cumulative sums, and the group's pool is
    ``clip(supply[sku] - B_g, 0, D_g)``. Inside a group: proportional = ``floor(pool * q / D)`` plus one
    unit to the ``pool - sum(floors)`` largest remainders ``(pool * q) mod D`` (ties due, id), ranked by an
    argsort within groups; even = water level from the group's sorted requests, leftover units by (due,
    id); fifo = ``clip(supply - quantity before the line in the SKU's (tier, due, id) order, 0, q)``.
    """
    sku = np.asarray(sku_index, dtype=np.int64)
    tiers = np.asarray(tier, dtype=np.int64)
    qty = np.asarray(quantity, dtype=np.int64)
    dues, ids = np.asarray(due), np.asarray(line_id)
    supply = np.asarray(supply_per_sku, dtype=np.int64)
    if not sku.shape == tiers.shape == qty.shape == dues.shape == ids.shape or sku.ndim != 1:
        raise ValueError("sku_index, tier, quantity, due and line_id must be 1-D arrays of one length")
    if sku.size and (sku.min() < 0 or sku.max() >= supply.size):
        raise ValueError("sku_index outside supply_per_sku")
    if (qty < 0).any() or (supply < 0).any():
        raise ValueError("quantities and supply must be >= 0")
    if sku.size == 0:
        return BatchAllocation(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    g = _group(sku, tiers, qty, dues, ids, supply)
    s_qty = qty[g.order]
    if mode == "proportional":
        sorted_alloc = _proportional(g, s_qty)
    elif mode == "even":
        sorted_alloc = _even(g, s_qty)
    elif mode == "fifo":
        sorted_alloc = _fifo(sku[g.order], s_qty, supply)
    else:
        raise ValueError(f"unknown within-tier mode {mode!r}")
    allocated = np.empty_like(qty)
    allocated[g.order] = sorted_alloc
    tier_pool = np.empty_like(qty)
    tier_pool[g.order] = g.pool[g.group]
    return BatchAllocation(allocated, tier_pool)
