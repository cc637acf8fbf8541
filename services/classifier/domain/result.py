"""The engine's output: per-entity arrays plus the settings they were computed with, serialisable
byte for byte (canonical JSON) and explained on demand (``explain.reasons``)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .abc import ABC_LABELS
from .flags import flag_names
from .pattern import PATTERN_LABELS
from .ruleset import SegmentPolicy
from .xyz import XYZ_LABELS

RULE_DEFAULT = -1
RULE_NEW_PRODUCT = -2
RULE_PROMO = -3
RULE_ONE_TIME_PROJECT = -4
SPECIAL_RULE_NAMES: dict[int, str] = {
    RULE_DEFAULT: "default",
    RULE_NEW_PRODUCT: "exception:new_product",
    RULE_PROMO: "exception:promo",
    RULE_ONE_TIME_PROJECT: "exception:one_time_project",
}


def _number(value: float) -> float | None:
    """JSON-safe float: NaN and infinities become null."""
    as_float = float(value)
    return as_float if math.isfinite(as_float) else None


@dataclass(frozen=True)
class ClassificationResult:
    """Classification of a batch: every array aligned with ``ids`` (input order).

    Codes: ``abc`` into ABC_LABELS, ``xyz`` into XYZ_LABELS (-1 = no demand), ``pattern`` into
    PATTERN_LABELS, ``segment`` / ``computed_segment`` / ``policy`` into ``segment_names``;
    ``matched_rule`` is a rule index or one of the RULE_* codes. ``computed_segment`` is the segment
    before contract floors; ``policy`` the segment whose service policy applies (regulated regions).
    With ``abc.rollup`` the ABC fields are those of the entity's family and ``rollup_parent`` its top
    parent; ``source_segment`` is the local segment name mapped to the standard taxonomy ("" = none);
    ``min_segment`` the contract's floor segment (standard name) and ``min_segment_local`` the name the
    contract gave it ("" = none; both None when no entity has one or floors are off).
    """

    ids: np.ndarray
    dimension: str | np.ndarray
    driver: str
    driver_value: np.ndarray
    abc: np.ndarray
    rank: np.ndarray
    group_size: np.ndarray
    group_label: np.ndarray | None
    cum_share_before: np.ndarray
    boundary_clearance: np.ndarray
    xyz: np.ndarray
    cv: np.ndarray
    pattern: np.ndarray
    adi: np.ndarray
    cv2: np.ndarray
    horizon: np.ndarray
    computed_segment: np.ndarray
    segment: np.ndarray
    policy: np.ndarray
    tier: np.ndarray
    matched_rule: np.ndarray
    flags: np.ndarray
    min_tier: np.ndarray
    min_service_level: np.ndarray
    min_segment: np.ndarray | None
    min_segment_local: np.ndarray | None
    region: np.ndarray | None
    segment_names: tuple[str, ...]
    rule_names: tuple[str, ...]
    policies: Mapping[str, SegmentPolicy]
    regulated_regions: Mapping[str, Mapping[str, str]]
    abc_cutoffs: tuple[float, float]
    xyz_cutoffs: tuple[float, float]
    adi_cutoff: float
    cv2_cutoff: float
    ruleset_hash: str
    engine_version: str
    period_index: int
    rollup_view: str | None = None
    rollup_parent: np.ndarray | None = None
    source_segment: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(self.ids.shape[0])

    def dimension_label(self, i: int) -> str:
        return self.dimension if isinstance(self.dimension, str) else str(self.dimension[i])

    def abc_label(self, i: int) -> str:
        return ABC_LABELS[int(self.abc[i])]

    def xyz_label(self, i: int) -> str:
        code = int(self.xyz[i])
        return XYZ_LABELS[code] if code >= 0 else "-"

    def pattern_label(self, i: int) -> str:
        return PATTERN_LABELS[int(self.pattern[i])]

    def segment_label(self, i: int) -> str:
        return self.segment_names[int(self.segment[i])]

    def policy_label(self, i: int) -> str:
        return self.segment_names[int(self.policy[i])]

    def rule_label(self, i: int) -> str:
        index = int(self.matched_rule[i])
        return self.rule_names[index] if index >= 0 else SPECIAL_RULE_NAMES[index]

    def record(self, i: int) -> dict[str, Any]:
        """Everything known about entity ``i`` as plain JSON-ready data, reasons included."""
        from .explain import reasons  # local import: explain reads this class

        policy = self.policies[self.policy_label(i)]
        return {
            "id": str(self.ids[i]),
            "dimension": self.dimension_label(i),
            "abc": self.abc_label(i),
            "xyz": None if int(self.xyz[i]) < 0 else self.xyz_label(i),
            "pattern": self.pattern_label(i),
            "segment": self.segment_label(i),
            "policy_segment": policy.name,
            "tier": int(self.tier[i]),
            "service_level": {"type": policy.service_level_type, "target": policy.service_level_target},
            "driver": self.driver,
            "driver_value": _number(self.driver_value[i]),
            "rank": int(self.rank[i]),
            "cum_share_before": _number(self.cum_share_before[i]),
            "cv": _number(self.cv[i]),
            "adi": _number(self.adi[i]),
            "cv2": _number(self.cv2[i]),
            "matched_rule": self.rule_label(i),
            "reasons": reasons(self, i),
            "flags": flag_names(int(self.flags[i])),
        }

    def records(self) -> list[dict[str, Any]]:
        """``record(i)`` for every entity, in input order."""
        return [self.record(i) for i in range(self.size)]

    def to_json_bytes(self) -> bytes:
        """Canonical JSON of the run (hash, engine version, period, records): same inputs -> same bytes."""
        document = {
            "ruleset_hash": self.ruleset_hash,
            "engine_version": self.engine_version,
            "period_index": self.period_index,
            "results": self.records(),
        }
        return json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode("utf-8")

    def segment_counts(self) -> dict[str, int]:
        """Number of entities per segment name (sorted by name)."""
        counts = np.bincount(self.segment, minlength=len(self.segment_names))
        return {name: int(counts[k]) for k, name in enumerate(self.segment_names)}
