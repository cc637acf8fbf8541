"""Fitting safety stock buffers into a limited DC capacity, cutting the least important segments first."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.policy.domain.errors import DomainError
from services.policy.domain.validate import FloatArray, as_float_array, non_negative


@dataclass(frozen=True)
class CapacityFit:
    """Buffers kept, shortfall per item (requested - kept), and whether anything had to be cut."""

    kept: FloatArray
    shortfall: FloatArray
    space_used: float
    cut: bool


def fit_to_capacity(
    buffers: npt.ArrayLike,
    priorities: npt.ArrayLike,
    capacity: float,
    space_per_unit: npt.ArrayLike = 1.0,
) -> CapacityFit:
    """Scale buffers down until sum(kept * space_per_unit) <= capacity, lowest priority first.

    A larger ``priorities`` value is more important. Priority levels are cut whole from the lowest up; the
    level where the excess runs out is scaled proportionally: kept = buffer * (1 - remaining / level_space).
    Higher levels are untouched. shortfall = buffer - kept.
    """
    wanted = non_negative("buffers", buffers)
    rank = as_float_array("priorities", priorities)
    unit_space = non_negative("space_per_unit", space_per_unit)
    if not np.isfinite(capacity) or capacity < 0:
        raise DomainError("capacity", "must be a finite number >= 0")
    wanted, rank, unit_space = np.broadcast_arrays(wanted, rank, unit_space)
    space = wanted * unit_space
    excess = float(space.sum()) - capacity
    if excess <= 0:
        return CapacityFit(wanted.copy(), np.zeros(wanted.shape), float(space.sum()), False)
    levels, level_of = np.unique(rank, return_inverse=True)
    level_space = np.bincount(level_of, weights=space, minlength=levels.shape[0])
    removed_before = np.cumsum(level_space) - level_space
    to_remove = np.clip(excess - removed_before, 0.0, level_space)
    with np.errstate(divide="ignore", invalid="ignore"):
        cut_share = np.where(level_space > 0, to_remove / level_space, 0.0)
    kept = wanted * (1.0 - cut_share[level_of])
    kept = np.where(cut_share[level_of] >= 1.0, 0.0, kept)
    return CapacityFit(kept, wanted - kept, float(np.sum(kept * unit_space)), True)
