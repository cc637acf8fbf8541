"""The gate's simulation of proposed order-up-to policies: seeded chunks of items (progress per chunk) and
the per-item evidence dictionary stored with a proposal."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from services.policy.domain.demand_draws import BOOTSTRAP, DemandModel
from services.policy.domain.simulate import (
    ORDER_UP_TO,
    Estimate,
    InventoryPolicy,
    SimulationMetrics,
    simulate,
)
from services.policy.domain.validate import FloatArray

Progress = Callable[[int, int], None]
METRICS = ("fill_rate", "cycle_service_level", "period_service_level", "average_on_hand", "stockout_periods")


def simulate_order_up_to(
    order_up_to: FloatArray,
    review_period: FloatArray,
    demand: DemandModel,
    lead_time_mean: FloatArray,
    lead_time_std: FloatArray,
    *,
    paths: int,
    periods: int,
    warmup: int,
    seed: int,
    chunk_items: int,
    progress: Progress | None = None,
) -> SimulationMetrics:
    """Simulate (R, S) policies starting at S, in chunks of ``chunk_items``; chunk c draws from the seed
    sequence (seed, c), so the result is reproducible for a given seed and chunk size, and two calls with the
    same items, seed and chunking see the same demand and lead-time draws (common random numbers)."""
    n = order_up_to.shape[0]
    policy = InventoryPolicy(
        kind=np.full(n, ORDER_UP_TO),
        reorder_point=np.full(n, np.nan),
        order_up_to=order_up_to,
        order_quantity=np.full(n, np.nan),
        review_period=np.maximum(np.round(review_period), 1).astype(np.int64),
    )
    parts: list[SimulationMetrics] = []
    for c, first in enumerate(range(0, n, chunk_items)):
        part = slice(first, min(n, first + chunk_items))
        sub_policy = InventoryPolicy(
            *(
                getattr(policy, f)[part]
                for f in ("kind", "reorder_point", "order_up_to", "order_quantity", "review_period")
            )
        )
        chunk_seed = int(np.random.SeedSequence([seed, c]).generate_state(1)[0])
        parts.append(
            simulate(
                sub_policy,
                demand.subset(part),
                lead_time_mean[part],
                lead_time_std[part],
                order_up_to[part],
                paths=paths,
                periods=periods,
                seed=chunk_seed,
                warmup=warmup,
            )
        )
        if progress is not None:
            progress(part.stop, n)
    return concatenate(parts)


def demand_model(
    distribution: np.ndarray, mean: FloatArray, std: FloatArray, history: FloatArray | None, bootstrap: bool
) -> DemandModel:
    """The fitted distribution per item, or every item's own history when ``bootstrap`` (and it exists)."""
    if bootstrap and history is not None:
        return DemandModel(np.full(mean.shape[0], BOOTSTRAP), mean, std, history)
    return DemandModel(distribution, mean, std, None)


def concatenate(parts: list[SimulationMetrics]) -> SimulationMetrics:
    """Join per-chunk metrics item-wise (same paths and periods)."""

    def join(name: str) -> Estimate:
        return Estimate(
            *(
                np.concatenate([getattr(getattr(m, name), f) for m in parts])
                for f in ("mean", "lower", "upper")
            )
        )

    joined = {name: join(name) for name in METRICS}
    return SimulationMetrics(**joined, paths=parts[0].paths, periods=parts[0].periods)


def _f(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def evidence(metrics: SimulationMetrics, i: int) -> dict[str, float | None]:
    """Item i's estimates and 95 % bounds: {metric, metric_ci_low, metric_ci_high} for every metric."""
    out: dict[str, float | None] = {}
    for name in METRICS:
        estimate = getattr(metrics, name)
        out[name] = _f(float(estimate.mean[i]))
        out[f"{name}_ci_low"] = _f(float(estimate.lower[i]))
        out[f"{name}_ci_high"] = _f(float(estimate.upper[i]))
    return out
