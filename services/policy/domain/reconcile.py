"""Reconciliation of computed safety stock / reorder point against the values currently in the ERP."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.policy.domain.errors import DomainError
from services.policy.domain.validate import FloatArray, as_float_array, non_negative

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Reconciliation:
    """Per item: delta = computed - erp, relative delta, direction (+1 up, -1 down, 0 equal) and flag."""

    delta: FloatArray
    relative_delta: FloatArray
    direction: IntArray
    flagged: npt.NDArray[np.bool_]


def reconcile(
    computed: npt.ArrayLike,
    erp: npt.ArrayLike,
    absolute_threshold: float = 0.0,
    relative_threshold: float = 0.1,
) -> Reconciliation:
    """Compare one parameter (SS or ROP) per item.

    delta = computed - erp; relative = delta / |erp| (erp = 0: 0 when delta = 0 else +-inf);
    flagged when |delta| > absolute_threshold AND |relative| > relative_threshold, so a change must be
    material in units and in proportion (set one threshold to 0 to flag on the other alone).
    """
    new = as_float_array("computed", computed)
    current = as_float_array("erp", erp)
    if new.shape != current.shape:
        raise DomainError("erp", "must have one value per computed item")
    absolute = float(non_negative("absolute_threshold", absolute_threshold)[0])
    relative = float(non_negative("relative_threshold", relative_threshold)[0])
    delta = new - current
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(
            current != 0, delta / np.abs(current), np.where(delta == 0, 0.0, np.sign(delta) * np.inf)
        )
    flagged = (np.abs(delta) > absolute) & (np.abs(rel) > relative)
    return Reconciliation(delta, rel, np.sign(delta).astype(np.int64), flagged)
