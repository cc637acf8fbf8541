"""Available-to-promise (ATP) per sku@site and daily bucket, with backward consumption.

Rule (DESIGN.md section 6): per bucket ``net[t] = receipts[t] - orders[t]`` with the on-hand stock added to
the first bucket. A bucket whose orders exceed its supply consumes the surplus of *earlier* buckets, the
latest first (backward consumption), never a later one. A shortage that no earlier surplus can cover stays
negative in its own bucket (an over-commitment the planner must see). Cumulative ATP is the running sum of
the post-consumption ATP.

Worked example (on hand 10)::

    bucket          0    1    2    3    4
    receipts        0    5    0   20    0
    orders          4    2   12    5   30
    net             6    3  -12   15  -30
    bucket 2 needs 12: takes 3 from bucket 1, then 6 from bucket 0 -> 3 still short, stays in bucket 2
    bucket 4 needs 30: takes 15 from bucket 3 -> 15 still short, stays in bucket 4
    atp             0    0   -3    0  -15
    cumulative      0    0   -3   -3  -18

and with orders ``[4, 2, 5, 5, 10]`` instead: net ``[6, 3, -5, 15, -10]``, atp ``[4, 0, 0, 5, 0]``,
cumulative ``[4, 4, 4, 9, 9]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class AtpPicture:
    """ATP per bucket of one sku@site (or one row per SKU for the batch variant)."""

    net: FloatArray
    atp: FloatArray
    cumulative_atp: FloatArray


def net_supply(on_hand: float | ArrayLike, receipts: ArrayLike, orders: ArrayLike) -> FloatArray:
    """Net per bucket: ``net[t] = receipts[t] - orders[t]``, plus ``on_hand`` in bucket 0 (last axis = buckets)."""
    receipts_arr = np.asarray(receipts, dtype=np.float64)
    orders_arr = np.asarray(orders, dtype=np.float64)
    if receipts_arr.shape != orders_arr.shape:
        raise ValueError(f"receipts {receipts_arr.shape} and orders {orders_arr.shape} differ in shape")
    if receipts_arr.shape[-1] == 0:
        raise ValueError("at least one bucket is needed")
    net = receipts_arr - orders_arr
    net[..., 0] += np.asarray(on_hand, dtype=np.float64)
    return net


def available_to_promise(on_hand: float, receipts: ArrayLike, orders: ArrayLike) -> AtpPicture:
    """ATP of one sku@site with backward consumption (the module docstring's rule), bucket by bucket.

    A stack holds the buckets that still have surplus; a bucket with ``net[t] < 0`` pops from the top
    (latest first) until covered; whatever is left uncovered stays as ``atp[t] < 0``.
    ``cumulative_atp[t] = sum(atp[0..t])``.
    """
    net = net_supply(on_hand, receipts, orders)
    if net.ndim != 1:
        raise ValueError("available_to_promise takes one SKU; use available_to_promise_batch for many")
    atp = np.zeros_like(net)
    surplus_stack: list[int] = []
    for bucket, amount in enumerate(net.tolist()):
        if amount >= 0:
            atp[bucket] = amount
            if amount > 0:
                surplus_stack.append(bucket)
            continue
        shortage = -amount
        while shortage > 0 and surplus_stack:
            source = surplus_stack[-1]
            taken = min(shortage, float(atp[source]))
            atp[source] -= taken
            shortage -= taken
            if atp[source] <= 0:
                surplus_stack.pop()
        atp[bucket] = -shortage if shortage > 0 else 0.0
    return AtpPicture(net=net, atp=atp, cumulative_atp=np.cumsum(atp))


def available_to_promise_batch(on_hand: ArrayLike, receipts: ArrayLike, orders: ArrayLike) -> AtpPicture:
    """The same ATP for many SKUs at once (rows = SKUs, columns = buckets), without a loop.

    Closed form of the stack rule, with ``C = cumsum(net)`` along the buckets:
    uncovered shortage so far ``U[t] = max(0, -min(C[0..t]))``; pool of surplus ``P[t] = C[t] + U[t]``;
    surplus of buckets ``<= t`` that survives every later draw (LIFO) ``R[t] = min(P[t..end])``;
    cumulative ATP ``F[t] = R[t] - U[t]``; ``atp[t] = F[t] - F[t-1]``.
    """
    net = net_supply(np.asarray(on_hand, dtype=np.float64), receipts, orders)
    net = np.atleast_2d(net)
    cumulative_net = np.cumsum(net, axis=1)
    uncovered = np.maximum(0.0, -np.minimum.accumulate(cumulative_net, axis=1))
    pool = cumulative_net + uncovered
    surviving = np.minimum.accumulate(pool[:, ::-1], axis=1)[:, ::-1]
    cumulative_atp = surviving - uncovered
    atp = np.diff(cumulative_atp, axis=1, prepend=0.0)
    return AtpPicture(net=net, atp=atp, cumulative_atp=cumulative_atp)
