"""The simulation gate: a proposal is published only when its simulated service meets the target with
confidence (lower 95 % bound >= target), otherwise it is held with the evidence."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.policy.domain.errors import DomainError
from services.policy.domain.simulate import SimulationMetrics
from services.policy.domain.validate import FloatArray, fraction

FILL_RATE = "fill_rate"
CYCLE_SERVICE = "cycle"


@dataclass(frozen=True)
class Decision:
    """publish iff every item's lower bound meets its target; evidence per item alongside."""

    publish: bool
    met: npt.NDArray[np.bool_]
    metric: npt.NDArray[np.str_]
    target: FloatArray
    mean: FloatArray
    lower: FloatArray
    upper: FloatArray


def gate(
    proposal_metrics: SimulationMetrics, target: npt.ArrayLike, metric: npt.ArrayLike = CYCLE_SERVICE
) -> Decision:
    """Per item: met = lower bound of the chosen metric (``cycle`` -> cycle service level, ``fill_rate`` ->
    fill rate) >= target; publish = all(met). A NaN bound (no receipts observed) is not met."""
    goal = fraction("target", target)
    kinds = np.asarray(metric).astype(str)
    n = proposal_metrics.fill_rate.mean.shape[0]
    goal, kinds = np.broadcast_to(goal, (n,)), np.broadcast_to(kinds, (n,))
    if not np.all(np.isin(kinds, (FILL_RATE, CYCLE_SERVICE))):
        raise DomainError("metric", f"must be {CYCLE_SERVICE!r} or {FILL_RATE!r}")
    fill, csl = proposal_metrics.fill_rate, proposal_metrics.cycle_service_level
    use_fill = kinds == FILL_RATE
    mean = np.where(use_fill, fill.mean, csl.mean)
    lower = np.where(use_fill, fill.lower, csl.lower)
    upper = np.where(use_fill, fill.upper, csl.upper)
    met = np.nan_to_num(lower, nan=-np.inf) >= goal
    return Decision(bool(np.all(met)), met, kinds.copy(), goal.copy(), mean, lower, upper)
