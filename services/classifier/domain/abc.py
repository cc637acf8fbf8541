"""ABC classification by cumulative share of a driver, optionally within groups (DESIGN.md section 6)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ABC_LABELS: tuple[str, str, str] = ("A", "B", "C")
CLASS_A, CLASS_B, CLASS_C = 0, 1, 2


@dataclass(frozen=True)
class AbcResult:
    """Per-entity ABC outcome, every array in input order.

    ``abc`` holds codes into ``ABC_LABELS`` (0=A, 1=B, 2=C); ``rank`` is 1-based within the entity's
    group; ``cum_share_before`` is the share of the group's positive driver mass ranked strictly before
    the entity; ``group_total`` the group's positive driver mass; ``zero_driver`` flags entities whose
    driver is zero, negative or missing (NaN).
    """

    abc: np.ndarray
    rank: np.ndarray
    cum_share_before: np.ndarray
    group_total: np.ndarray
    group_size: np.ndarray
    zero_driver: np.ndarray


def ascending_id_order(ids: np.ndarray) -> np.ndarray:
    """Permutation that sorts ``ids`` ascending; the identity when they already are (the common case).

    Rule: ``order[k]`` is the index of the k-th smallest id (stable for equal ids).
    """
    n = ids.shape[0]
    if n < 2 or bool(np.all(ids[1:] > ids[:-1])):
        return np.arange(n, dtype=np.int64)
    return np.argsort(ids, kind="stable").astype(np.int64, copy=False)


def ranking_order(values: np.ndarray, ids: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Entity indices in ranking order: by group, then driver value descending, then id ascending.

    "Ties by value then id" means: entities are sorted by driver value, largest first; entities with
    exactly the same value are ordered by id ascending (so "P001" precedes "P002"). Missing values
    (NaN) rank last. Every sort is stable, so the order is a pure function of (group, value, id).
    """
    by_id = ascending_id_order(ids)
    identity = by_id.shape[0] == 0 or (by_id[0] == 0 and bool(np.all(by_id[1:] > by_id[:-1])))
    raw = np.asarray(values, dtype=np.float64)
    descending = -(raw if identity else raw[by_id])
    descending[np.isnan(descending)] = np.inf
    by_value = np.argsort(descending, kind="stable")
    order = by_value if identity else by_id[by_value]
    if groups is not None:
        order = order[np.argsort(np.asarray(groups)[order], kind="stable")]
    return order


def classify_abc(
    values: np.ndarray,
    ids: np.ndarray,
    *,
    cutoffs: tuple[float, float] = (0.80, 0.95),
    groups: np.ndarray | None = None,
) -> AbcResult:
    """ABC by cumulative share of a driver, descending, ties by value then id (see ``ranking_order``).

    Rule, within each group g (the whole population when ``groups`` is None), with positive driver
    mass ``v+ = max(v, 0)`` and entities in ranking order:
        cum_share_before(i) = sum_{j ranked before i} v+_j / sum_{j in g} v+_j
        class(i) = A if cum_share_before(i) < a, B if < b, else C.
    A zero, negative or missing driver gives class C, ``zero_driver`` True and cum_share_before = 1.0
    (all of the group's positive mass precedes it). The share before exactly ``a`` is therefore B.
    Vectorised: one stable sort chain plus a segmented cumulative sum (group offsets subtracted).
    """
    a, b = cutoffs
    v = np.asarray(values, dtype=np.float64)
    n = v.shape[0]
    if n == 0:
        empty_f = np.empty(0, dtype=np.float64)
        empty_i = np.empty(0, dtype=np.int64)
        return AbcResult(np.empty(0, np.int8), empty_i, empty_f, empty_f, empty_i, np.empty(0, bool))
    group_codes = None if groups is None else np.asarray(groups)
    order = ranking_order(v, ids, group_codes)
    sorted_v = v[order]
    positive = sorted_v > 0
    mass = np.where(positive, sorted_v, 0.0)
    inclusive = np.cumsum(mass)
    exclusive = np.empty_like(inclusive)
    exclusive[0] = 0.0
    exclusive[1:] = inclusive[:-1]
    if group_codes is None:
        starts = np.zeros(1, dtype=np.int64)
    else:
        sorted_groups = group_codes[order]
        starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    ends = np.r_[starts[1:], n]
    group_of_position = np.repeat(np.arange(starts.shape[0]), ends - starts)
    offsets = exclusive[starts]
    totals = inclusive[ends - 1] - offsets
    within_before = exclusive - offsets[group_of_position]
    total_here = totals[group_of_position]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(positive, within_before / np.where(total_here > 0, total_here, 1.0), 1.0)
    sorted_class = np.where(share < a, CLASS_A, np.where(share < b, CLASS_B, CLASS_C)).astype(np.int8)
    sorted_class[~positive] = CLASS_C
    rank = np.arange(n, dtype=np.int64) - starts[group_of_position] + 1
    sizes = (ends - starts)[group_of_position]

    def scatter(sorted_array: np.ndarray) -> np.ndarray:
        out = np.empty_like(sorted_array)
        out[order] = sorted_array
        return out

    return AbcResult(
        abc=scatter(sorted_class),
        rank=scatter(rank),
        cum_share_before=scatter(share),
        group_total=scatter(total_here),
        group_size=scatter(sizes),
        zero_driver=scatter(~positive),
    )
