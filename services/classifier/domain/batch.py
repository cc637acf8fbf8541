"""The engine's input: a column-oriented batch of entities (ids, measures, demand, attributes, marks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InvalidInput

NOT_NEW = np.iinfo(np.int64).min  # launch_period value of an entity that is not a new product


@dataclass(frozen=True)
class BucketMarks:
    """Sparse (entity, bucket) pairs marking demand buckets hit by an exception (promo, project)."""

    entity_index: np.ndarray
    bucket_index: np.ndarray

    @staticmethod
    def from_pairs(pairs: Sequence[tuple[int, int]]) -> BucketMarks:
        arr = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        return BucketMarks(entity_index=arr[:, 0].copy(), bucket_index=arr[:, 1].copy())


@dataclass(frozen=True)
class AttributeColumn:
    """A normalised attribute: ``kind`` "number" (float64, bools as 0/1) or "text" (str), plus a
    ``missing`` mask (None, NaN or absent)."""

    kind: str
    values: np.ndarray
    missing: np.ndarray


def _is_missing_scalar(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def normalise_attribute(raw: Any) -> AttributeColumn:
    """Normalise an attribute column: numbers and booleans -> float64 (NaN missing), anything else -> str.

    Rule: a column is numeric when every present value is a bool, int or float; otherwise each present
    value is compared as its ``str``. None and NaN are missing.
    """
    arr = np.asarray(raw)
    if arr.dtype.kind in "biuf":
        values = arr.astype(np.float64)
        return AttributeColumn("number", values, np.isnan(values))
    if arr.dtype.kind == "U":
        return AttributeColumn("text", arr, np.zeros(arr.shape[0], dtype=bool))
    items = list(arr.tolist()) if arr.ndim else [arr.item()]
    missing = np.fromiter((_is_missing_scalar(v) for v in items), dtype=bool, count=len(items))
    present = [v for v, m in zip(items, missing, strict=True) if not m]
    if all(isinstance(v, bool | int | float) for v in present):
        values = np.array(
            [np.nan if m else float(v) for v, m in zip(items, missing, strict=True)], dtype=np.float64
        )
        return AttributeColumn("number", values, missing)
    text = np.array(["" if m else str(v) for v, m in zip(items, missing, strict=True)], dtype=np.str_)
    return AttributeColumn("text", text, missing)


@dataclass(frozen=True)
class EntityBatch:
    """Entities to classify, one row each, all arrays aligned with ``ids``.

    - ``ids``: unique per dimension (str array).
    - ``dimension``: one name for the whole batch ("customer", "product", ...) or one per entity; ABC
      ranks never mix dimensions.
    - ``measures``: revenue, margin, volume, order_lines as float64 arrays, NaN = missing (a missing
      margin means missing cost: flagged, never read as zero). Absent keys are all missing.
    - ``demand``: entities x buckets quantities (float32 or float64) for XYZ and the demand pattern.
    - ``attributes``: columns such as strategic, region, category, min_tier, min_service_level.
    - ``missing_cost``: optional explicit flag (cost unknown for part of the history).
    - ``promo`` / ``one_time_project``: marked buckets; ``launch_period``: period of first sale
      (``NOT_NEW`` for established entities), in the same period numbering as ``period_index``.
    """

    ids: np.ndarray
    dimension: str | np.ndarray
    measures: Mapping[str, np.ndarray]
    demand: np.ndarray
    attributes: Mapping[str, Any] = field(default_factory=dict)
    missing_cost: np.ndarray | None = None
    promo: BucketMarks | None = None
    one_time_project: BucketMarks | None = None
    launch_period: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(self.ids.shape[0])

    def dimension_column(self) -> np.ndarray:
        """The dimension of every entity as a str array."""
        if isinstance(self.dimension, str):
            return np.full(self.size, self.dimension)
        return np.asarray(self.dimension, dtype=np.str_)

    def measure(self, name: str) -> np.ndarray:
        """A measure as float64 (NaN = missing); all NaN when the batch does not carry it."""
        if name not in self.measures:
            return np.full(self.size, np.nan)
        return np.asarray(self.measures[name], dtype=np.float64)

    def check(self) -> None:
        """Reject misaligned columns and duplicate (dimension, id) pairs with ``InvalidInput``."""
        n = self.size
        if self.ids.ndim != 1:
            raise InvalidInput("ids must be a 1-D array")
        if self.demand.ndim != 2 or self.demand.shape[0] != n:
            raise InvalidInput(f"demand must be a {n} x buckets matrix, got shape {self.demand.shape}")
        if not isinstance(self.dimension, str) and np.asarray(self.dimension).shape != (n,):
            raise InvalidInput("dimension must be one name or one per entity")
        for name, column in self.measures.items():
            if np.asarray(column).shape != (n,):
                raise InvalidInput(f"measure {name!r} must have one value per entity")
        for name, column in self.attributes.items():
            if np.asarray(column).shape != (n,):
                raise InvalidInput(f"attribute {name!r} must have one value per entity")
        for label, optional in (("missing_cost", self.missing_cost), ("launch_period", self.launch_period)):
            if optional is not None and np.asarray(optional).shape != (n,):
                raise InvalidInput(f"{label} must have one value per entity")
        for label, marks in (("promo", self.promo), ("one_time_project", self.one_time_project)):
            if marks is None or marks.entity_index.size == 0:
                continue
            if marks.entity_index.min() < 0 or marks.entity_index.max() >= n:
                raise InvalidInput(f"{label} marks an entity outside the batch")
            if marks.bucket_index.min() < 0 or marks.bucket_index.max() >= self.demand.shape[1]:
                raise InvalidInput(f"{label} marks a bucket outside the demand horizon")
        self._check_unique_ids()

    def _check_unique_ids(self) -> None:
        keys = (
            self.ids
            if isinstance(self.dimension, str)
            else np.char.add(np.char.add(self.dimension_column(), "\x1f"), self.ids.astype(np.str_))
        )
        if keys.shape[0] < 2 or bool(np.all(keys[1:] > keys[:-1])):
            return
        ordered = np.sort(keys)
        duplicates = ordered[1:][ordered[1:] == ordered[:-1]]
        if duplicates.size:
            raise InvalidInput(
                f"duplicate entity id {str(duplicates[0]).split(chr(31))[-1]!r} in one dimension"
            )
