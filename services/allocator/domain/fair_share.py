"""Splitting an integer pool among the lines of one tier: proportional, even (water-filling) and FIFO.

Each function takes the lines' requests, due dates and ids and returns ``(allocated, exact_share)``:
integer allocations that sum to ``min(pool, sum(requests))`` and never exceed a request, and the
unrounded share the rounding started from. Ties are always broken by due date, then id.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Literal

WithinTierMode = Literal["proportional", "even", "fifo"]


def tie_order(due: Sequence[Any], ids: Sequence[Hashable]) -> list[int]:
    """Positions sorted by (due date, id): the house tie-break."""
    return sorted(range(len(ids)), key=lambda i: (due[i], ids[i]))


def split_proportional(
    requests: Sequence[int], pool: int, due: Sequence[Any], ids: Sequence[Hashable]
) -> tuple[list[int], list[float]]:
    """Proportional fair share with largest-remainder rounding.

    ``exact_i = pool * q_i / sum(q)``; each line gets ``floor(exact_i)`` and the ``pool - sum(floors)``
    leftover units go one each to the largest remainders ``(pool * q_i) mod sum(q)`` (exact integers), ties
    by due date then id. Example: pool 10 over requests 5, 5, 5 -> exact 3.33 each -> 4, 3, 3 with the extra
    unit on the earliest due date. When ``pool >= sum(q)`` every line gets its request.
    """
    total = sum(requests)
    if pool >= total:
        return list(requests), [float(q) for q in requests]
    floors = [pool * q // total for q in requests]
    remainders = [pool * q % total for q in requests]
    leftover = pool - sum(floors)
    ranked = sorted(range(len(requests)), key=lambda i: (-remainders[i], due[i], ids[i]))
    for position in ranked[:leftover]:
        floors[position] += 1
    return floors, [pool * q / total for q in requests]


def water_level(requests: Sequence[int], pool: float) -> float:
    """The level ``L`` with ``sum(min(q_i, L)) = pool`` (``max(q)`` when the pool covers everything)."""
    if pool >= sum(requests):
        return float(max(requests, default=0))
    filled = 0.0
    ordered = sorted(requests)
    for k, q in enumerate(ordered):
        open_lines = len(ordered) - k
        if filled + q * open_lines >= pool:
            return (pool - filled) / open_lines
        filled += q
    return float(ordered[-1])


def split_even(
    requests: Sequence[int], pool: int, due: Sequence[Any], ids: Sequence[Hashable]
) -> tuple[list[int], list[float]]:
    """Equal split capped by each request, the excess redistributed (water-filling), integer rounded.

    ``exact_i = min(q_i, L)`` with ``sum(min(q_i, L)) = pool``; integers: ``min(q_i, floor(L))``, then the
    leftover units one each to the lines still below their request, by due date then id. Example: pool 10
    over requests 2, 6, 6 -> L = 4 -> 2, 4, 4; pool 9 -> L = 3.5 -> 2, 4, 3 (earlier due gets the unit).
    """
    if pool >= sum(requests):
        return list(requests), [float(q) for q in requests]
    level = water_level(requests, pool)
    base = [min(q, int(level)) for q in requests]
    leftover = pool - sum(base)
    hungry = [i for i in tie_order(due, ids) if base[i] < requests[i]]
    for position in hungry[:leftover]:
        base[position] += 1
    return base, [min(float(q), level) for q in requests]


def split_fifo(
    requests: Sequence[int], pool: int, due: Sequence[Any], ids: Sequence[Hashable]
) -> tuple[list[int], list[float]]:
    """First in, first out: lines in (due date, id) order get their full request while the pool lasts."""
    allocated = [0] * len(requests)
    remaining = pool
    for position in tie_order(due, ids):
        allocated[position] = min(requests[position], remaining)
        remaining -= allocated[position]
    return allocated, [float(a) for a in allocated]


def split_pool(
    mode: WithinTierMode, requests: Sequence[int], pool: int, due: Sequence[Any], ids: Sequence[Hashable]
) -> tuple[list[int], list[float]]:
    """Dispatch to the split of ``mode``; ``pool`` and requests must be integers >= 0."""
    if pool < 0 or any(q < 0 for q in requests):
        raise ValueError("pool and requests must be >= 0")
    if mode == "proportional":
        return split_proportional(requests, pool, due, ids)
    if mode == "even":
        return split_even(requests, pool, due, ids)
    if mode == "fifo":
        return split_fifo(requests, pool, due, ids)
    raise ValueError(f"unknown within-tier mode {mode!r}")
