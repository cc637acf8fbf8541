"""Migration matrix between two segment assignments (old x new counts, sample entities per cell)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

NEW_ENTITY = "(new)"
RETIRED_ENTITY = "(retired)"


@dataclass(frozen=True)
class MigrationMatrix:
    """``counts[i, j]`` = entities moving from ``labels[i]`` to ``labels[j]``; up to k sample ids per cell."""

    labels: tuple[str, ...]
    counts: np.ndarray
    samples: dict[tuple[str, str], tuple[str, ...]]

    @property
    def moved(self) -> int:
        """Entities whose segment changed (off-diagonal total)."""
        return int(self.counts.sum() - np.trace(self.counts))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: labels, counts as nested lists, samples keyed "OLD->NEW"."""
        return {
            "labels": list(self.labels),
            "counts": self.counts.tolist(),
            "moved": self.moved,
            "samples": {f"{old}->{new}": list(ids) for (old, new), ids in sorted(self.samples.items())},
        }


def _labels(values: Sequence[str | None] | np.ndarray, placeholder: str) -> np.ndarray:
    return np.array([placeholder if v is None or v == "" else str(v) for v in values], dtype=np.str_)


def migration_matrix(
    ids: Sequence[str] | np.ndarray,
    old: Sequence[str | None] | np.ndarray,
    new: Sequence[str | None] | np.ndarray,
    *,
    samples_per_cell: int = 5,
) -> MigrationMatrix:
    """Rule: counts[old_label, new_label] = #{entities with that (old, new) pair}, labels sorted; an
    entity without an old segment counts as "(new)", without a new one as "(retired)"; samples are the
    ``samples_per_cell`` smallest ids of each non-empty cell.
    """
    id_arr = np.asarray(ids, dtype=np.str_)
    old_arr, new_arr = _labels(old, NEW_ENTITY), _labels(new, RETIRED_ENTITY)
    if not (id_arr.shape == old_arr.shape == new_arr.shape):
        raise ValueError("ids, old and new must have the same length")
    labels = np.unique(np.concatenate([old_arr, new_arr]))
    k = labels.shape[0]
    old_code = np.searchsorted(labels, old_arr)
    new_code = np.searchsorted(labels, new_arr)
    cell = old_code * k + new_code
    counts = np.bincount(cell, minlength=k * k).reshape(k, k)
    order = np.lexsort((id_arr, cell))
    sorted_cell = cell[order]
    starts = (
        np.r_[0, np.flatnonzero(sorted_cell[1:] != sorted_cell[:-1]) + 1] if cell.size else np.zeros(0, int)
    )
    lengths = np.diff(np.r_[starts, cell.shape[0]])
    position = np.arange(cell.shape[0]) - np.repeat(starts, lengths)
    keep = order[position < samples_per_cell]
    samples: dict[tuple[str, str], list[str]] = {}
    for index in keep[np.lexsort((id_arr[keep], cell[keep]))]:
        key = (str(labels[old_code[index]]), str(labels[new_code[index]]))
        samples.setdefault(key, []).append(str(id_arr[index]))
    label_tuple = tuple(str(label) for label in labels)
    return MigrationMatrix(label_tuple, counts, {key: tuple(v) for key, v in samples.items()})
