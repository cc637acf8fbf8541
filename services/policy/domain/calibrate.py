"""Calibration of safety stock by simulation: when a closed-form policy misses the gate (its lower confidence
bound is below the target, e.g. a policy set exactly at its target fails about half the time), find the
smallest extra safety stock whose simulated lower bound meets the target.

Rule: SS(m) = min(SS_closed + m * scale, ceiling) with scale = sigma_{L+R} (or 10 % of mean demand where
sigma is 0) and m >= 0 a multiplier. Every simulation uses the same seed and items, so all candidates see
the same demand and lead-time draws (common random numbers) and the lower bound rises with m. The search
doubles m from 1 up to ``max_multiplier`` until the gate is met (the ceiling ends it early), then bisects
[lo, hi] ``steps`` times; the published m is the smallest one found feasible (hi). Simulations are bounded
by log2(max_multiplier) + 1 + steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.policy.domain.gate import gate
from services.policy.domain.simulate import SimulationMetrics
from services.policy.domain.validate import FloatArray

Simulator = Callable[[FloatArray], SimulationMetrics]


@dataclass(frozen=True)
class Calibration:
    """Per item: found multiplier (NaN where none met the gate), its safety stock, whether it met the gate,
    the index into ``runs`` of the simulation whose evidence belongs to that safety stock; plus every run."""

    multiplier: FloatArray
    safety_stock: FloatArray
    met: npt.NDArray[np.bool_]
    evidence_run: npt.NDArray[np.int64]
    runs: list[SimulationMetrics]


def calibration_scale(sigma: FloatArray, demand_mean: FloatArray) -> FloatArray:
    """One unit of the multiplier in stock: sigma_{L+R}, or 0.1 * d where sigma is 0."""
    scale: FloatArray = np.where(sigma > 0, sigma, 0.1 * demand_mean)
    return scale


def calibrate(
    base_safety_stock: FloatArray,
    scale: FloatArray,
    ceiling: FloatArray,
    target: FloatArray,
    metric: npt.NDArray[np.str_],
    run: Simulator,
    *,
    steps: int = 6,
    max_multiplier: float = 8.0,
) -> Calibration:
    """Smallest m in [0, max_multiplier] (to the bisection's resolution) with lower bound >= target for
    SS(m) = min(base + m * scale, ceiling); ``run(safety_stock)`` simulates all items with one seed."""
    n = base_safety_stock.shape[0]
    lo, hi = np.zeros(n), np.ones(n)
    met = np.zeros(n, dtype=bool)
    capped = np.zeros(n, dtype=bool)
    evidence_run = np.full(n, -1, dtype=np.int64)
    runs: list[SimulationMetrics] = []

    def stock(multiplier: FloatArray) -> FloatArray:
        result: FloatArray = np.minimum(base_safety_stock + multiplier * scale, ceiling)
        return result

    def attempt(multiplier: FloatArray) -> npt.NDArray[np.bool_]:
        runs.append(run(stock(multiplier)))
        ok: npt.NDArray[np.bool_] = gate(runs[-1], target, metric).met
        return ok

    while True:  # expansion: hi = 1, 2, 4, ... until met, capped or past max_multiplier
        searching = ~met & ~capped
        ok = attempt(hi)
        newly = searching & ok
        met |= newly
        evidence_run[newly | (searching & ~ok)] = len(runs) - 1
        failed = searching & ~ok
        capped |= failed & ((stock(hi) >= ceiling) | (hi * 2 > max_multiplier))
        lo = np.where(failed, hi, lo)
        hi = np.where(failed & ~capped, hi * 2, hi)
        if not np.any(~met & ~capped):
            break
    for _ in range(steps if np.any(met) else 0):
        middle = (lo + hi) / 2
        ok = attempt(np.where(met, middle, hi))
        better = met & ok
        hi = np.where(better, middle, hi)
        lo = np.where(met & ~ok, middle, lo)
        evidence_run[better] = len(runs) - 1
    return Calibration(np.where(met, hi, np.nan), stock(hi), met, evidence_run, runs)
