"""Vectorised Monte Carlo of an inventory policy over paths x items x periods, with backorders.

Timeline of period t: (1) orders due at t arrive; (2) demand D_t is served from on-hand stock, the rest is
backordered (net inventory may go negative); (3) on review periods (t % R == 0) the inventory position
IP = net + on order is compared with the policy and an order placed; an order placed at t with lead time
L arrives at the start of t + L + 1, so L periods of demand fall between order and receipt (the d * L of
the reorder-point formula; L = 0 is an immediate receipt before the next demand).

Policies per item: ``s_S`` (IP <= s: order S - IP), ``rop_q`` (IP <= s: order the smallest multiple of Q
lifting IP above s), ``order_up_to`` (every review: order max(S - IP, 0)).

Metrics per item, each with a 95 % confidence interval across paths (t interval on the per-path values):
- fill rate: demand served from stock on hand / demand;
- cycle service level, per replenishment cycle: share of receipts (periods with an arrival) before which
  the net inventory was >= 0 (no backorder outstanding when the order came in);
- period service level: share of periods ending with net inventory >= 0;
- average on hand: mean of max(net, 0) at period end; stockout periods: count of periods ending < 0.
Periods before ``warmup`` run but are not measured. The loop is over periods; everything else over
paths x items, simulated in chunks of items to bound memory.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from services.policy.domain.demand_draws import DemandModel, draw_demand, draw_lead_times
from services.policy.domain.errors import DomainError
from services.policy.domain.validate import FloatArray, as_float_array, non_negative

S_S = "s_S"
ROP_Q = "rop_q"
ORDER_UP_TO = "order_up_to"
POLICY_KINDS = (S_S, ROP_Q, ORDER_UP_TO)
CHUNK_ELEMENTS = 4_000_000  # paths * items * periods per chunk (~32 MB per float64 array)


@dataclass(frozen=True)
class InventoryPolicy:
    """Per item: kind, reorder point s, order-up-to S, order quantity Q, review period R (periods)."""

    kind: npt.NDArray[np.str_]
    reorder_point: FloatArray
    order_up_to: FloatArray
    order_quantity: FloatArray
    review_period: npt.NDArray[np.int64]


@dataclass(frozen=True)
class Estimate:
    """Per-item mean across paths and its 95 % confidence bounds."""

    mean: FloatArray
    lower: FloatArray
    upper: FloatArray


@dataclass(frozen=True)
class SimulationMetrics:
    """Achieved service and stock per item, each an ``Estimate`` across ``paths`` simulated paths."""

    fill_rate: Estimate
    cycle_service_level: Estimate
    period_service_level: Estimate
    average_on_hand: Estimate
    stockout_periods: Estimate
    paths: int
    periods: int


def confidence_interval(samples: FloatArray, level: float = 0.95) -> Estimate:
    """Mean over axis 0 (paths, NaN ignored) +- t_{(1+level)/2, n-1} * s / sqrt(n) with s the sample std."""
    count = np.sum(np.isfinite(samples), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: handled below
        mean = np.nanmean(np.where(count > 0, samples, 0.0), axis=0)
        std = np.nanstd(samples, axis=0, ddof=1) if samples.shape[0] > 1 else np.zeros(mean.shape)
        half = stats.t.ppf(0.5 + level / 2.0, np.maximum(count - 1, 1)) * std / np.sqrt(np.maximum(count, 1))
    mean = np.where(count > 0, mean, np.nan)
    half = np.where(count > 1, np.nan_to_num(half), np.where(count == 1, np.inf, np.nan))
    return Estimate(mean, mean - half, mean + half)


def _validate(policy: InventoryPolicy, items: int) -> None:
    if not np.all(np.isin(policy.kind, POLICY_KINDS)):
        raise DomainError("policy.kind", f"must be one of {', '.join(POLICY_KINDS)}")
    if np.any(policy.review_period < 1):
        raise DomainError("policy.review_period", "must be >= 1 period")
    needs_q = policy.kind == ROP_Q
    if np.any(needs_q & ~(policy.order_quantity > 0)):
        raise DomainError("policy.order_quantity", "must be > 0 for an rop_q policy")
    for name in ("reorder_point", "order_up_to"):
        used = policy.kind != ORDER_UP_TO if name == "reorder_point" else policy.kind != ROP_Q
        if np.any(used & ~np.isfinite(getattr(policy, name))):
            raise DomainError(f"policy.{name}", "is required by the policy kind")
    if policy.reorder_point.shape[0] != items:
        raise DomainError("policy", "needs one entry per item")


def simulate(
    policy: InventoryPolicy,
    demand: DemandModel,
    lead_time_mean: npt.ArrayLike,
    lead_time_std: npt.ArrayLike,
    starting_stock: npt.ArrayLike,
    paths: int,
    periods: int,
    seed: int,
    warmup: int = 0,
) -> SimulationMetrics:
    """Simulate ``paths`` independent futures of ``periods`` periods per item and summarise them.

    Reproducible: one ``numpy.random.default_rng(seed)`` draws demand then lead times chunk by chunk.
    """
    items = demand.mean.shape[0]
    _validate(policy, items)
    lead_mean = np.broadcast_to(non_negative("lead_time_mean", lead_time_mean), (items,))
    lead_std = np.broadcast_to(non_negative("lead_time_std", lead_time_std), (items,))
    start = np.broadcast_to(as_float_array("starting_stock", starting_stock), (items,))
    if paths < 2:
        raise DomainError("paths", "must be >= 2 for a confidence interval")
    if periods < 1 or not 0 <= warmup < periods:
        raise DomainError("periods", "must be >= 1 and greater than warmup")
    rng = np.random.default_rng(seed)
    chunk = max(1, CHUNK_ELEMENTS // (paths * periods))
    per_path: dict[str, list[FloatArray]] = {k: [] for k in ("fill", "csl", "psl", "on_hand", "stockouts")}
    for first in range(0, items, chunk):
        part = slice(first, min(items, first + chunk))
        demand_draws = draw_demand(rng, demand.subset(part), paths, periods)
        lead_draws = draw_lead_times(rng, lead_mean[part], lead_std[part], paths, periods)
        sub = InventoryPolicy(
            *(
                getattr(policy, f)[part]
                for f in ("kind", "reorder_point", "order_up_to", "order_quantity", "review_period")
            )
        )
        for key, value in run_inventory(sub, demand_draws, lead_draws, start[part], warmup).items():
            per_path[key].append(value)
    merged = {k: np.concatenate(v, axis=1) for k, v in per_path.items()}
    return SimulationMetrics(
        fill_rate=confidence_interval(merged["fill"]),
        cycle_service_level=confidence_interval(merged["csl"]),
        period_service_level=confidence_interval(merged["psl"]),
        average_on_hand=confidence_interval(merged["on_hand"]),
        stockout_periods=confidence_interval(merged["stockouts"]),
        paths=paths,
        periods=periods,
    )


def run_inventory(
    policy: InventoryPolicy,
    demand: FloatArray,
    lead_times: npt.NDArray[np.int64],
    starting_stock: FloatArray,
    warmup: int = 0,
) -> dict[str, FloatArray]:
    """The recursion on given draws demand[paths, items, periods], lead_times[paths, items, periods].

    Returns per-path, per-item values [paths, items]: fill, csl (NaN where no receipt), psl, on_hand,
    stockouts (see the module docstring for the definitions).
    """
    paths, items, periods = demand.shape
    window = int(lead_times.max(initial=0)) + 2
    pipeline = np.zeros((paths * items, window))
    rows = np.arange(paths * items)
    # Lead times fixed per item (a broadcast view): one slot per item, no per-cell index arrays.
    fixed_lead = lead_times.strides[0] == 0 and lead_times.strides[2] == 0
    item_lead = np.asarray(lead_times[0, :, 0]) if fixed_lead and periods else None
    pipeline_3d = pipeline.reshape(paths, items, window)
    cols = np.arange(items)
    any_rop = bool(np.any(policy.kind == ROP_Q))
    net = np.broadcast_to(starting_stock, (paths, items)).astype(np.float64)
    on_order = np.zeros((paths, items))
    demand_total, served_total = np.zeros((paths, items)), np.zeros((paths, items))
    on_hand_total, stockouts = np.zeros((paths, items)), np.zeros((paths, items))
    receipts, good_receipts = np.zeros((paths, items)), np.zeros((paths, items))
    kind_rop = policy.kind == ROP_Q
    s, big_s = np.nan_to_num(policy.reorder_point), np.nan_to_num(policy.order_up_to)
    q = np.where(kind_rop, policy.order_quantity, 1.0)
    trigger = np.where(policy.kind == ORDER_UP_TO, np.inf, s)  # order-up-to always reviews
    target = np.where(kind_rop, 0.0, big_s)
    for t in range(periods):
        slot = t % window
        arriving = pipeline[:, slot].reshape(paths, items)
        measured = t >= warmup
        if measured:
            has_receipt = arriving > 0
            receipts += has_receipt
            good_receipts += has_receipt & (net >= 0)
        net = net + arriving
        on_order = on_order - arriving
        pipeline[:, slot] = 0.0
        d_t = demand[:, :, t]
        if measured:
            demand_total += d_t
            served_total += np.minimum(d_t, np.maximum(net, 0.0))
        net = net - d_t
        if measured:
            on_hand_total += np.maximum(net, 0.0)
            stockouts += net < 0
        position = net + on_order
        below = (position <= trigger) & (t % policy.review_period == 0)
        if any_rop:
            batches = np.floor((s - position) / q) + 1.0
            order = np.where(kind_rop, batches * q, target - position)
        else:
            order = target - position
        order = np.where(below & (order > 0), order, 0.0)
        if item_lead is not None:
            pipeline_3d[:, cols, (t + item_lead + 1) % window] += order
        else:
            arrival_slot = (t + lead_times[:, :, t] + 1) % window
            pipeline[rows, arrival_slot.ravel()] += order.ravel()
        on_order = on_order + order
    measured_periods = periods - warmup
    with np.errstate(invalid="ignore", divide="ignore"):
        fill = np.where(demand_total > 0, served_total / demand_total, 1.0)
        csl = np.where(receipts > 0, good_receipts / receipts, np.nan)
    return {
        "fill": fill,
        "csl": csl,
        "psl": 1.0 - stockouts / measured_periods,
        "on_hand": on_hand_total / measured_periods,
        "stockouts": stockouts,
    }
