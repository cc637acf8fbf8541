"""A policy proposal for a batch of stock points: stock parameters from statistics and targets, bounded,
then the simulation gate on the proposed policy (simulated in seeded chunks so progress can be reported).

Rules:
- Continuous review (no review period) uses an (s, Q) policy with Q = max(d * cover, 1) (``cover`` periods
  of mean demand); periodic review R uses order-up-to S over L + R.
- Safety stock is bounded by ``apply_bounds``; the floor is 0 by default (a negative fill-rate safety
  stock becomes 0); ROP = d * L + SS and S = d * (L + R) + SS are recomputed from the bounded SS, except
  for discrete items, whose integer ROP is kept when the bounds did not bind.
- The gate simulates the proposed policy; items without demand have nothing to serve and pass trivially.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.policy.domain.bounds import UNBOUNDED, apply_bounds
from services.policy.domain.compute import NORMAL, compute_policies
from services.policy.domain.demand_draws import BOOTSTRAP, DemandModel
from services.policy.domain.gate import gate
from services.policy.domain.simulate import ORDER_UP_TO, ROP_Q, InventoryPolicy, SimulationMetrics, simulate
from services.policy.domain.validate import FloatArray

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ProposalInputs:
    """Per item statistics (per period) and targets; ``history`` rows for bootstrap demand (NaN padded)."""

    demand_mean: FloatArray
    demand_std: FloatArray
    lead_time_mean: FloatArray
    lead_time_std: FloatArray
    target: FloatArray
    fill_rate: npt.NDArray[np.bool_]
    review_period: FloatArray  # 0 = continuous review
    distribution: npt.NDArray[np.str_]
    history: FloatArray | None = None


@dataclass(frozen=True)
class ProposalSettings:
    """Order cover, safety-stock bounds and the simulation's size, seed and demand model."""

    order_cover_periods: float = 4.0
    min_cover: float = 0.0
    max_cover: float = np.inf
    min_quantity: float = 0.0
    max_quantity: float = np.inf
    paths: int = 200
    periods: int = 52
    warmup: int = 4
    seed: int = 0
    demand_model: str = "fitted"  # or "bootstrap"
    chunk_items: int = 500


@dataclass(frozen=True)
class ProposedItem:
    """Everything the proposal stores per item: parameters, method, binding bound, gate evidence."""

    z: float
    sigma_lt: float
    safety_stock: float
    reorder_point: float
    order_up_to: float | None
    order_quantity: float | None
    method: str
    binding: str
    met: bool
    metric: str
    lower: float | None
    evidence: dict[str, float | None] | None


def _f(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def propose(
    inputs: ProposalInputs, config: ProposalSettings, progress: Progress | None = None
) -> list[ProposedItem]:
    """Compute, bound and gate every item; ``progress(done, total)`` after each simulated chunk."""
    d = inputs.demand_mean
    n = d.shape[0]
    periodic = inputs.review_period > 0
    quantity = np.where(periodic, np.nan, np.maximum(d * config.order_cover_periods, 1.0))
    computed = compute_policies(
        d,
        inputs.demand_std,
        inputs.lead_time_mean,
        inputs.lead_time_std,
        inputs.target,
        inputs.fill_rate,
        quantity,
        inputs.review_period,
        inputs.distribution,
    )
    p = computed.parameters
    bounded = apply_bounds(
        p.safety_stock, d, config.min_cover, config.max_cover, config.min_quantity, config.max_quantity
    )
    ss = bounded.safety_stock
    discrete_kept = (inputs.distribution != NORMAL) & (bounded.binding == UNBOUNDED)
    rop = np.where(discrete_kept, p.reorder_point, d * inputs.lead_time_mean + ss)
    s_up = np.where(
        periodic,
        np.where(discrete_kept, p.order_up_to, d * (inputs.lead_time_mean + inputs.review_period) + ss),
        np.nan,
    )
    metrics = _simulate(inputs, config, rop, s_up, quantity, progress)
    kinds = np.where(inputs.fill_rate, "fill_rate", "cycle")
    decision = gate(metrics, inputs.target, kinds)
    no_demand = d <= 0
    out: list[ProposedItem] = []
    for i in range(n):
        evidence = None if no_demand[i] else _evidence(metrics, i)
        out.append(
            ProposedItem(
                z=float(p.z[i]),
                sigma_lt=float(p.sigma_lt[i]),
                safety_stock=float(ss[i]),
                reorder_point=float(rop[i]),
                order_up_to=_f(float(s_up[i])),
                order_quantity=_f(float(quantity[i])),
                method=str(computed.method[i]),
                binding=str(bounded.binding[i]),
                met=bool(no_demand[i] or decision.met[i]),
                metric=str(kinds[i]),
                lower=_f(float(decision.lower[i])),
                evidence=evidence,
            )
        )
    return out


def _evidence(metrics: SimulationMetrics, i: int) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name in (
        "fill_rate",
        "cycle_service_level",
        "period_service_level",
        "average_on_hand",
        "stockout_periods",
    ):
        estimate = getattr(metrics, name)
        out[name] = _f(float(estimate.mean[i]))
        out[f"{name}_ci_low"] = _f(float(estimate.lower[i]))
        out[f"{name}_ci_high"] = _f(float(estimate.upper[i]))
    return out


def _simulate(
    inputs: ProposalInputs,
    config: ProposalSettings,
    rop: FloatArray,
    s_up: FloatArray,
    quantity: FloatArray,
    progress: Progress | None,
) -> SimulationMetrics:
    """Simulate in chunks of ``chunk_items``; chunk c uses the seed sequence (seed, c), so the result is
    reproducible for a given seed and chunk size."""
    n = inputs.demand_mean.shape[0]
    periodic = inputs.review_period > 0
    policy = InventoryPolicy(
        kind=np.where(periodic, ORDER_UP_TO, ROP_Q),
        reorder_point=rop,
        order_up_to=np.where(periodic, s_up, np.nan),
        order_quantity=quantity,
        review_period=np.maximum(np.round(inputs.review_period), 1).astype(np.int64),
    )
    use_history = config.demand_model == BOOTSTRAP and inputs.history is not None
    distribution = np.full(n, BOOTSTRAP) if use_history else inputs.distribution
    model = DemandModel(
        distribution, inputs.demand_mean, inputs.demand_std, inputs.history if use_history else None
    )
    start = np.where(periodic, s_up, rop + np.nan_to_num(quantity))
    parts: list[SimulationMetrics] = []
    for c, first in enumerate(range(0, n, config.chunk_items)):
        part = slice(first, min(n, first + config.chunk_items))
        sub_policy = InventoryPolicy(
            *(
                getattr(policy, f)[part]
                for f in ("kind", "reorder_point", "order_up_to", "order_quantity", "review_period")
            )
        )
        seed = int(np.random.SeedSequence([config.seed, c]).generate_state(1)[0])
        parts.append(
            simulate(
                sub_policy,
                model.subset(part),
                inputs.lead_time_mean[part],
                inputs.lead_time_std[part],
                start[part],
                paths=config.paths,
                periods=config.periods,
                seed=seed,
                warmup=config.warmup,
            )
        )
        if progress is not None:
            progress(part.stop, n)
    return _concatenate(parts)


def _concatenate(parts: list[SimulationMetrics]) -> SimulationMetrics:
    from services.policy.domain.simulate import Estimate

    def join(name: str) -> Estimate:
        return Estimate(
            *(
                np.concatenate([getattr(getattr(m, name), f) for m in parts])
                for f in ("mean", "lower", "upper")
            )
        )

    names = (
        "fill_rate",
        "cycle_service_level",
        "period_service_level",
        "average_on_hand",
        "stockout_periods",
    )
    joined = {name: join(name) for name in names}
    return SimulationMetrics(**joined, paths=parts[0].paths, periods=parts[0].periods)
