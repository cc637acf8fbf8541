"""Customer hierarchies: top parents by pointer jumping, and ABC rolled up to the top parent's family.

A hierarchy view (sales, logistics, finance) is a parent id per entity (missing = top of the view).
"""

from __future__ import annotations

import numpy as np

from .abc import AbcResult, classify_abc

HIERARCHY_VIEWS: tuple[str, ...] = ("sales", "logistics", "finance")


def top_parents(
    ids: np.ndarray, parent_ids: np.ndarray, parent_missing: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The top parent of every entity in one view, and a mask of entities whose parent chain loops.

    Rule: top(e) = e when e has no parent or is its own parent; else top(parent(e)). A parent that is not itself in ``ids`` is a
    top (its own parent is unknown). An entity whose chain never reaches a top (a cycle, or a chain into
    one) gets top(e) = e and ``cyclic`` True. Vectorised pointer jumping: p <- p[p] repeated
    bit_length(nodes) + 1 times, enough for any chain (each jump doubles the distance covered).
    """
    ids = np.asarray(ids, dtype=np.str_)
    parents = np.asarray(parent_ids, dtype=np.str_)
    missing = np.asarray(parent_missing, dtype=bool)
    n = ids.shape[0]
    if n == 0:
        return ids.copy(), np.zeros(0, dtype=bool)
    nodes = np.unique(np.concatenate([ids, parents[~missing]]))
    own = np.searchsorted(nodes, ids)
    pointer = np.arange(nodes.shape[0], dtype=np.int64)
    pointer[own[~missing]] = np.searchsorted(nodes, parents[~missing])
    is_top = pointer == np.arange(nodes.shape[0])
    for _ in range(int(nodes.shape[0]).bit_length() + 1):
        pointer = pointer[pointer]
    reached = pointer[own]
    cyclic = ~is_top[reached]
    top = np.where(cyclic, ids, nodes[reached])
    return top, cyclic


def rolled_up_abc(
    values: np.ndarray,
    family: np.ndarray,
    *,
    cutoffs: tuple[float, float],
    groups: np.ndarray | None = None,
) -> tuple[AbcResult, np.ndarray]:
    """ABC of each entity's family (entities sharing a top parent), and the family driver per entity.

    Rule: family_value(f) = sum of the members' driver (a missing driver counts 0; NaN when every member's
    is missing); families are ranked by ``abc.classify_abc`` on (family_value, family id) within their
    group; every member carries its family's class, rank, cumulative share before and group totals.
    """
    v = np.asarray(values, dtype=np.float64)
    names = np.asarray(family, dtype=np.str_)
    if groups is None:
        keys = names
    else:
        keys = np.char.add(np.char.add(np.asarray(groups).astype(np.str_), "\x1f"), names)
    unique_keys, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    count = unique_keys.shape[0]
    known = ~np.isnan(v)
    totals = np.bincount(inverse, weights=np.where(known, v, 0.0), minlength=count)
    totals[np.bincount(inverse, weights=known.astype(np.float64), minlength=count) == 0] = np.nan
    family_groups = None if groups is None else np.asarray(groups)[first]
    family_abc = classify_abc(totals, names[first], cutoffs=cutoffs, groups=family_groups)
    members = AbcResult(
        abc=family_abc.abc[inverse],
        rank=family_abc.rank[inverse],
        cum_share_before=family_abc.cum_share_before[inverse],
        group_total=family_abc.group_total[inverse],
        group_size=family_abc.group_size[inverse],
        zero_driver=family_abc.zero_driver[inverse],
    )
    return members, totals[inverse]
