"""A policy proposal for a batch of stock points: stock parameters from statistics and targets, bounded,
then the simulation gate on the proposed policy, and a calibration where the closed form misses the gate.

Rules:
- The gate simulates weekly buckets reviewed every bucket, so a proposal is always the policy that is
  simulated: periodic review (R, S) with R = the requested review period, or R = 1 bucket where none is
  given ("continuous" review in a bucketed world). S = d * (L + R) + SS with SS = z * sigma_{L+R},
  sigma_{L+R} = sqrt((L + R) * sd^2 + d^2 * sL^2); a fill-rate target solves sigma_{L+R} * G(k) =
  (1 - b) * d * R; discrete items use the discrete lead-time demand over L + R. ROP is reported as
  d * L + SS.
- Safety stock is bounded by ``apply_bounds`` (floor 0 by default); S and ROP are recomputed from the
  bounded SS, except for discrete items whose integer S is kept when no bound binds.
- The gate: met = lower 95 % bound of the simulated metric (cycle service or fill rate) >= target. Items
  without demand have nothing to serve and pass trivially.
- Calibration (``calibrate``): an item whose closed form misses the gate gets the smallest extra safety
  stock (a multiplier of sigma_{L+R}, bisection with common random numbers, bounded simulations, never
  above the bounds' ceiling) whose lower bound meets the target. Both values are kept: the closed form with
  its evidence and the calibrated one (published) with its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from services.policy.domain.bounds import UNBOUNDED, apply_bounds
from services.policy.domain.calibrate import calibrate, calibration_scale
from services.policy.domain.compute import NORMAL, compute_policies
from services.policy.domain.demand_draws import BOOTSTRAP
from services.policy.domain.gate import gate
from services.policy.domain.gate_simulation import (
    Progress,
    demand_model,
    evidence,
    simulate_order_up_to,
)
from services.policy.domain.simulate import SimulationMetrics
from services.policy.domain.validate import FloatArray

CALIBRATION_SEED_OFFSET = 7919  # calibration draws differ from the closed form's gate draws


@dataclass(frozen=True)
class ProposalInputs:
    """Per item statistics (per period) and targets; ``history`` rows for bootstrap demand (NaN padded)."""

    demand_mean: FloatArray
    demand_std: FloatArray
    lead_time_mean: FloatArray
    lead_time_std: FloatArray
    target: FloatArray
    fill_rate: npt.NDArray[np.bool_]
    review_period: FloatArray  # 0 = review every bucket (R = 1)
    distribution: npt.NDArray[np.str_]
    history: FloatArray | None = None


@dataclass(frozen=True)
class ProposalSettings:
    """Safety-stock bounds, the simulation's size, seed and demand model, and the calibration's budget."""

    order_cover_periods: float = 4.0  # kept for request compatibility; (R, S) orders what was used
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
    calibrate: bool = True
    calibration_steps: int = 6
    max_multiplier: float = 8.0


@dataclass(frozen=True)
class ProposedItem:
    """Everything the proposal stores per item: the published parameters, method, binding bound, gate
    evidence; ``closed_form`` (parameters, lower bound, evidence) and ``calibration`` when calibrated."""

    z: float
    sigma_lt: float
    safety_stock: float
    reorder_point: float
    order_up_to: float | None
    order_quantity: float | None
    review_period: float
    method: str
    binding: str
    met: bool
    metric: str
    lower: float | None
    evidence: dict[str, float | None] | None
    closed_form: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None


def _f(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


@dataclass(frozen=True)
class _Policies:
    safety_stock: FloatArray
    reorder_point: FloatArray
    order_up_to: FloatArray


def propose(
    inputs: ProposalInputs, config: ProposalSettings, progress: Progress | None = None
) -> list[ProposedItem]:
    """Compute, bound, gate and (where needed) calibrate every item; ``progress(done, total)`` after each
    simulated chunk of the closed-form gate."""
    d = inputs.demand_mean
    n = d.shape[0]
    review = np.where(inputs.review_period > 0, inputs.review_period, 1.0)
    computed = compute_policies(
        d,
        inputs.demand_std,
        inputs.lead_time_mean,
        inputs.lead_time_std,
        inputs.target,
        inputs.fill_rate,
        np.full(n, np.nan),
        review,
        inputs.distribution,
    )
    p = computed.parameters
    bounded = apply_bounds(
        p.safety_stock, d, config.min_cover, config.max_cover, config.min_quantity, config.max_quantity
    )
    discrete_kept = (inputs.distribution != NORMAL) & (bounded.binding == UNBOUNDED)
    closed = _policies(inputs, review, bounded.safety_stock, discrete_kept, p.order_up_to, p.reorder_point)
    model = demand_model(
        inputs.distribution, d, inputs.demand_std, inputs.history, config.demand_model == BOOTSTRAP
    )

    def run(
        order_up_to: FloatArray, items: npt.NDArray[np.int64], seed: int, report: bool
    ) -> SimulationMetrics:
        return simulate_order_up_to(
            order_up_to,
            review[items],
            model.subset(items),  # type: ignore[arg-type]
            inputs.lead_time_mean[items],
            inputs.lead_time_std[items],
            paths=config.paths,
            periods=config.periods,
            warmup=config.warmup,
            seed=seed,
            chunk_items=config.chunk_items,
            progress=progress if report else None,
        )

    everything = np.arange(n)
    metrics = run(closed.order_up_to, everything, config.seed, True)
    kinds = np.where(inputs.fill_rate, "fill_rate", "cycle")
    decision = gate(metrics, inputs.target, kinds)
    no_demand = d <= 0
    met = decision.met | no_demand
    out = [
        ProposedItem(
            z=float(p.z[i]),
            sigma_lt=float(p.sigma_lt[i]),
            safety_stock=float(closed.safety_stock[i]),
            reorder_point=float(closed.reorder_point[i]),
            order_up_to=_f(float(closed.order_up_to[i])),
            order_quantity=None,
            review_period=float(review[i]),
            method=str(computed.method[i]),
            binding=str(bounded.binding[i]),
            met=bool(met[i]),
            metric=str(kinds[i]),
            lower=_f(float(decision.lower[i])),
            evidence=None if no_demand[i] else evidence(metrics, i),
        )
        for i in range(n)
    ]
    if config.calibrate and np.any(~met):
        out = _calibrated(out, inputs, config, review, bounded.safety_stock, p.sigma_lt, ~met, kinds, run)
    return out


def _policies(
    inputs: ProposalInputs,
    review: FloatArray,
    safety_stock: FloatArray,
    discrete_kept: npt.NDArray[np.bool_],
    discrete_order_up_to: FloatArray,
    discrete_reorder_point: FloatArray,
) -> _Policies:
    """S = d (L + R) + SS and ROP = d L + SS, except kept discrete items (their integer S and ROP)."""
    d, lead = inputs.demand_mean, inputs.lead_time_mean
    order_up_to = np.where(discrete_kept, discrete_order_up_to, d * (lead + review) + safety_stock)
    reorder_point = np.where(discrete_kept, discrete_reorder_point, d * lead + safety_stock)
    return _Policies(safety_stock, reorder_point, order_up_to)


def _calibrated(
    out: list[ProposedItem],
    inputs: ProposalInputs,
    config: ProposalSettings,
    review: FloatArray,
    safety_stock: FloatArray,
    sigma: FloatArray,
    failing: npt.NDArray[np.bool_],
    kinds: npt.NDArray[np.str_],
    run: Any,
) -> list[ProposedItem]:
    """Calibrate the failing items (see ``calibrate``) and replace their published parameters."""
    items = np.nonzero(failing)[0]
    d, lead = inputs.demand_mean[items], inputs.lead_time_mean[items]
    ceiling = np.minimum(config.max_cover * d, config.max_quantity)
    discrete = inputs.distribution[items] != NORMAL
    seed = config.seed + CALIBRATION_SEED_OFFSET

    cover = d * (lead + review[items])

    def order_up_to(candidate: FloatArray) -> FloatArray:
        """S = d (L + R) + SS, rounded up to a whole unit for discrete items."""
        raw: FloatArray = cover + candidate
        return np.where(discrete, np.ceil(raw - 1e-9), raw)

    def simulate_stock(candidate: FloatArray) -> SimulationMetrics:
        result: SimulationMetrics = run(order_up_to(candidate), items, seed, False)
        return result

    found = calibrate(
        safety_stock[items],
        calibration_scale(sigma[items], d),
        ceiling,
        inputs.target[items],
        kinds[items],
        simulate_stock,
        steps=config.calibration_steps,
        max_multiplier=config.max_multiplier,
    )
    for j, i in enumerate(items):
        before = out[i]
        run_metrics = found.runs[int(found.evidence_run[j])]
        big_s = float(order_up_to(found.safety_stock)[j])
        ss = big_s - float(cover[j])
        lower = gate(run_metrics, inputs.target[items], kinds[items]).lower[j]
        closed_form = {
            "safety_stock": before.safety_stock,
            "reorder_point": before.reorder_point,
            "order_up_to": before.order_up_to,
            "lower": before.lower,
            "met": before.met,
            "evidence": before.evidence,
        }
        calibration = {
            "multiplier": _f(float(found.multiplier[j])),
            "scale": float(calibration_scale(sigma[i : i + 1], d[j : j + 1])[0]),
            "simulations": len(found.runs),
            "seed": seed,
            "met": bool(found.met[j]),
        }
        out[i] = ProposedItem(
            z=before.z,
            sigma_lt=before.sigma_lt,
            safety_stock=ss,
            reorder_point=float(d[j] * lead[j] + ss),
            order_up_to=big_s,
            order_quantity=None,
            review_period=before.review_period,
            method=f"{before.method}_calibrated" if found.met[j] else before.method,
            binding=before.binding,
            met=bool(found.met[j]),
            metric=before.metric,
            lower=_f(float(lower)),
            evidence=evidence(run_metrics, j),
            closed_form=closed_form,
            calibration=calibration,
        )
    return out
