"""Segment quotas: maximum (product allocation) and minimum protection (supply protection) per period.

A quota is stated per scope (segment, optionally region and channel) and period, as a number of units, a
percentage of supply, or a ratio between segments. ``resolve_quotas`` turns the statements into one
``(minimum, maximum)`` per scope for a given supply, and reports the conflicts it had to settle.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

QuotaKind = Literal["maximum", "minimum"]
QuotaBasis = Literal["number", "percent", "ratio"]


@dataclass(frozen=True)
class QuotaScope:
    """Who a quota is for: a segment, optionally narrowed to a region and/or a channel."""

    segment: str
    region: str | None = None
    channel: str | None = None

    def sort_key(self) -> tuple[str, str, str]:
        """Deterministic order of scopes (unset region/channel first)."""
        return (self.segment, self.region or "", self.channel or "")


@dataclass(frozen=True)
class QuotaSpec:
    """One quota statement.

    ``basis``: ``number`` = ``value`` units; ``percent`` = ``value`` in [0, 1] of supply; ``ratio`` = a
    weight: the ratio specs of one kind split the supply left after that kind's number and percent specs in
    proportion to their weights (``GOLD 2 : SILVER 1`` gives GOLD two thirds). ``tier`` (1 = first) settles
    conflicts. ``period`` of ``None`` applies to every period.
    """

    scope: QuotaScope
    kind: QuotaKind
    basis: QuotaBasis
    value: float
    tier: int = 1
    period: str | None = None


@dataclass(frozen=True)
class QuotaBounds:
    """The resolved bounds of one scope: allocate at least ``minimum`` (if demanded), at most ``maximum``."""

    minimum: float
    maximum: float
    tier: int


@dataclass(frozen=True)
class QuotaConflict:
    """A statement that could not be honoured in full, and what it was cut to."""

    scope: QuotaScope
    kind: QuotaKind
    requested: float
    granted: float
    reason: str


@dataclass(frozen=True)
class ResolvedQuotas:
    """``bounds`` per scope plus the conflicts settled on the way."""

    bounds: Mapping[QuotaScope, QuotaBounds]
    conflicts: tuple[QuotaConflict, ...]


def _quantities_of_kind(supply: float, specs: list[QuotaSpec]) -> dict[QuotaScope, float]:
    """Units per scope for specs of one kind: number as is, percent x supply, ratios split the rest."""
    amounts: dict[QuotaScope, float] = {}
    for spec in specs:
        if spec.basis == "number":
            amounts[spec.scope] = float(spec.value)
        elif spec.basis == "percent":
            amounts[spec.scope] = float(spec.value) * supply
    ratio_specs = [spec for spec in specs if spec.basis == "ratio"]
    weight_total = sum(spec.value for spec in ratio_specs)
    rest = max(0.0, supply - sum(amounts.values()))
    for spec in ratio_specs:
        amounts[spec.scope] = rest * spec.value / weight_total if weight_total > 0 else 0.0
    return amounts


def _validate(spec: QuotaSpec) -> None:
    if spec.value < 0 or not math.isfinite(spec.value):
        raise ValueError(f"quota for {spec.scope} must be a finite number >= 0, got {spec.value}")
    if spec.basis == "percent" and spec.value > 1:
        raise ValueError(f"percent quota for {spec.scope} is a fraction in [0, 1], got {spec.value}")


def resolve_quotas(
    supply: float, quota_specs: Iterable[QuotaSpec], period: str | None = None
) -> ResolvedQuotas:
    """Per-scope ``(minimum, maximum)`` for ``supply`` in ``period``.

    Rules: maximum defaults to ``supply`` and never exceeds it; a minimum above its own maximum is cut to
    the maximum; when the minimums sum to more than supply they are granted in tier order (tier 1 first,
    then scope) while supply lasts: ``granted = min(requested, supply - granted so far)``. Each cut is
    reported as a ``QuotaConflict``. A later spec for the same scope, kind and period replaces an earlier.
    """
    if supply < 0:
        raise ValueError("supply must be >= 0")
    applicable = [spec for spec in quota_specs if spec.period is None or spec.period == period]
    for spec in applicable:
        _validate(spec)
    tiers: dict[QuotaScope, int] = {}
    for spec in applicable:
        tiers[spec.scope] = min(spec.tier, tiers.get(spec.scope, spec.tier))
    by_kind: dict[str, dict[QuotaScope, QuotaSpec]] = {"maximum": {}, "minimum": {}}
    for spec in applicable:
        by_kind[spec.kind][spec.scope] = spec
    maxima = _quantities_of_kind(supply, list(by_kind["maximum"].values()))
    minima = _quantities_of_kind(supply, list(by_kind["minimum"].values()))
    conflicts: list[QuotaConflict] = []
    bounds: dict[QuotaScope, QuotaBounds] = {}
    remaining = float(supply)
    for scope in sorted(tiers, key=lambda s: (tiers[s], s.sort_key())):
        maximum = min(maxima.get(scope, supply), supply)
        wanted = minima.get(scope, 0.0)
        minimum = min(wanted, maximum)
        if minimum < wanted:
            conflicts.append(QuotaConflict(scope, "minimum", wanted, minimum, "minimum above maximum"))
        granted = min(minimum, remaining)
        if granted < minimum:
            conflicts.append(
                QuotaConflict(scope, "minimum", wanted, granted, "minimums exceed supply; settled by tier")
            )
        remaining -= granted
        bounds[scope] = QuotaBounds(minimum=granted, maximum=maximum, tier=tiers[scope])
    return ResolvedQuotas(bounds=bounds, conflicts=tuple(conflicts))
