"""Random demand and lead-time draws for the Monte Carlo: arrays [paths, items, periods] from a seeded
numpy Generator (same seed and arguments -> same draws)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.policy.domain.errors import DomainError
from services.policy.domain.validate import FloatArray

NORMAL = "normal"
POISSON = "poisson"
NEGATIVE_BINOMIAL = "negative_binomial"
BOOTSTRAP = "bootstrap"
DEMAND_KINDS = (NORMAL, POISSON, NEGATIVE_BINOMIAL, BOOTSTRAP)


@dataclass(frozen=True)
class DemandModel:
    """Per item: the distribution, its mean and std per period, and a history (NaN-padded rows) for
    bootstrap items. Normal is truncated at 0 (negative draws are redrawn); a negative binomial falls back
    to Poisson where std^2 <= mean."""

    distribution: npt.NDArray[np.str_]
    mean: FloatArray
    std: FloatArray
    history: FloatArray | None = None

    def subset(self, items: slice) -> DemandModel:
        history = None if self.history is None else self.history[items]
        return DemandModel(self.distribution[items], self.mean[items], self.std[items], history)


def truncated_normal(
    rng: np.random.Generator, mean: FloatArray, std: FloatArray, shape: tuple[int, ...]
) -> FloatArray:
    """Normal(mean, std) conditioned on >= 0, by redrawing negative values (exact truncation)."""
    draws: FloatArray = mean + std * rng.standard_normal(shape)
    negative = draws < 0
    while np.any(negative):
        where = np.nonzero(negative)
        mean_b, std_b = np.broadcast_to(mean, shape)[where], np.broadcast_to(std, shape)[where]
        draws[where] = mean_b + std_b * rng.standard_normal(mean_b.shape[0])
        negative = draws < 0
    return draws


def draw_demand(rng: np.random.Generator, model: DemandModel, paths: int, periods: int) -> FloatArray:
    """Demand[paths, items, periods] drawn item-group by item-group in the order of DEMAND_KINDS."""
    items = model.mean.shape[0]
    demand = np.zeros((paths, items, periods))
    for kind in DEMAND_KINDS:
        idx = np.nonzero(model.distribution == kind)[0]
        if idx.size == 0:
            continue
        mean = model.mean[idx][None, :, None]
        std = model.std[idx][None, :, None]
        shape = (paths, idx.size, periods)
        if kind == NORMAL:
            demand[:, idx, :] = truncated_normal(rng, mean, std, shape)
        elif kind == POISSON:
            demand[:, idx, :] = rng.poisson(np.broadcast_to(mean, shape))
        elif kind == NEGATIVE_BINOMIAL:
            var = std * std
            over = (var > mean) & (mean > 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                n = np.where(over, mean * mean / (var - mean), 1.0)
                p = np.where(over, mean / var, 0.5)
            nb = rng.negative_binomial(np.broadcast_to(n, shape), np.broadcast_to(p, shape))
            demand[:, idx, :] = np.where(over, nb, rng.poisson(np.broadcast_to(mean, shape)))
        else:
            demand[:, idx, :] = _bootstrap(rng, model, idx, shape)
    return demand


def _bootstrap(
    rng: np.random.Generator, model: DemandModel, idx: npt.NDArray[np.int64], shape: tuple[int, ...]
) -> FloatArray:
    """Resample each item's own history uniformly with replacement (its non-NaN leading values)."""
    if model.history is None:
        raise DomainError("history", "is required for bootstrap demand")
    history = model.history[idx]
    lengths = np.sum(np.isfinite(history), axis=1)
    if np.any(lengths == 0):
        raise DomainError("history", "bootstrap items need at least one observation")
    picks = np.floor(rng.random(shape) * lengths[None, :, None]).astype(np.int64)
    offsets = (np.arange(idx.size) * history.shape[1])[None, :, None]
    result: FloatArray = history.ravel()[offsets + picks]
    return result


def draw_lead_times(
    rng: np.random.Generator, mean: FloatArray, std: FloatArray, paths: int, periods: int
) -> npt.NDArray[np.int64]:
    """Integer lead times[paths, items, periods]: round(N(mean, std)) clipped to [0, ceil(mean + 4 std)];
    no random draw at all when every std is 0 (deterministic round(mean))."""
    shape = (paths, mean.shape[0], periods)
    if np.all(std == 0):
        return np.broadcast_to(np.round(mean).astype(np.int64)[None, :, None], shape)
    upper = np.ceil(mean + 4.0 * std)[None, :, None]
    raw = np.round(mean[None, :, None] + std[None, :, None] * rng.standard_normal(shape))
    return np.clip(raw, 0, upper).astype(np.int64)
