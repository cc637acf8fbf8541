"""Per-entity classification flags, stored as bits of one uint16 per entity."""

from __future__ import annotations

import numpy as np

FLAG_NAMES: tuple[str, ...] = (
    "zero_driver",
    "no_demand",
    "missing_cost",
    "npi",
    "promo",
    "one_time_project",
    "floor_applied",
    "floor_unmet",
    "regulated",
    "rolled_up",
    "unknown_local_segment",
    "unknown_min_segment",
)
FLAG_BITS: dict[str, int] = {name: 1 << index for index, name in enumerate(FLAG_NAMES)}


def pack_flags(columns: dict[str, np.ndarray], size: int) -> np.ndarray:
    """Rule: flags = OR over named boolean columns of (column << bit of the name)."""
    packed = np.zeros(size, dtype=np.uint16)
    for name, column in columns.items():
        packed |= np.where(column, np.uint16(FLAG_BITS[name]), np.uint16(0))
    return packed


def flag_names(packed: int) -> list[str]:
    """The names of the bits set in ``packed``, in ``FLAG_NAMES`` order."""
    return [name for name in FLAG_NAMES if packed & FLAG_BITS[name]]
