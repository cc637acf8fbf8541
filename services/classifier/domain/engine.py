"""The classification engine: one vectorised pass from an ``EntityBatch`` and a rule set to segments.

Rules also read derived fields: ``source_segment`` (``local_segment`` + ``source_system`` mapped by
``local_names``), hierarchy top parents (``<view>_top_parent_id`` from ``<view>_parent_id``; ``parent_id`` /
``top_parent_id`` alias the sales view). ``abc.rollup: <view>`` ranks families (entities sharing a top
parent) instead of entities. A contract's ``min_segment`` (with its source in ``min_segment_source``, else
``source_system``) is mapped by ``local_names`` the same way and floors the segment on the ladder.

Order of decisions per entity: ABC (driver, optional groups) -> demand moments (spike exceptions
excluded) -> XYZ and pattern -> ordered rules, first match wins (else the default segment) ->
exceptions (promo / one-time project handled as "segment", then new product -> NPI) -> contract
floors -> regulated-region policy. Deterministic: same inputs + same rule-set hash -> same output.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .abc import ABC_LABELS, AbcResult, classify_abc
from .batch import NOT_NEW, AttributeColumn, BucketMarks, EntityBatch, normalise_attribute
from .conditions import Column, condition_mask, first_match
from .demand import DemandMoments, demand_moments
from .flags import pack_flags
from .floors import apply_contract_floors, pin_regulated_policies
from .hierarchy import rolled_up_abc, top_parents
from .local_names import map_local_segments
from .pattern import PATTERN_LABELS, pattern_from_moments
from .result import RULE_NEW_PRODUCT, RULE_ONE_TIME_PROJECT, RULE_PROMO, ClassificationResult
from .ruleset import CompiledRuleSet, compile_ruleset
from .xyz import XYZ_LABELS, xyz_from_moments

ENGINE_VERSION = "1.2.0"  # 1.1: source_segment, hierarchy fields, abc.rollup; 1.2: contract min_segment

_CLASS_LABELS: dict[str, dict[str, int]] = {
    "abc": {label: code for code, label in enumerate(ABC_LABELS)},
    "xyz": {**{label: code for code, label in enumerate(XYZ_LABELS)}, "-": -1},
    "pattern": {label: code for code, label in enumerate(PATTERN_LABELS)},
}


class _Attributes:
    """Attribute columns normalised once, with the rule set's ``defaults`` filling missing values."""

    def __init__(self, batch: EntityBatch, defaults: Mapping[str, Any]) -> None:
        self._batch = batch
        self._defaults = defaults
        self._cache: dict[str, AttributeColumn] = {}

    def put(self, name: str, column: AttributeColumn) -> None:
        """A derived column (e.g. ``source_segment``) that rules read like an input attribute."""
        self._cache[name] = column

    def _derived(self, name: str) -> AttributeColumn | None:
        """Hierarchy columns the batch does not carry: ``parent_id`` / ``top_parent_id`` alias the sales
        view; ``<view>_top_parent_id`` is derived from ``<view>_parent_id`` (``hierarchy.top_parents``)."""
        given = self._batch.attributes
        if name in ("parent_id", "top_parent_id"):
            alias = f"sales_{name}"
            return self.get(alias) if alias in given or "sales_parent_id" in given else None
        view, _, kind = name.partition("_")
        if kind != "top_parent_id" or f"{view}_parent_id" not in given:
            return None
        parents = normalise_attribute(given[f"{view}_parent_id"])
        ids = np.asarray(self._batch.ids, dtype=np.str_)
        top, _ = top_parents(ids, parents.values.astype(np.str_), parents.missing)
        return AttributeColumn("text", top, np.zeros(ids.shape[0], dtype=bool))

    def get(self, name: str) -> AttributeColumn:
        if name not in self._cache:
            self._cache[name] = self._load(name)
        return self._cache[name]

    def _load(self, name: str) -> AttributeColumn:
        n = self._batch.size
        default = self._defaults.get(name)
        derived = None if name in self._batch.attributes else self._derived(name)
        if derived is not None:
            column = derived
        elif name in self._batch.attributes:
            column = normalise_attribute(self._batch.attributes[name])
        elif name == "dimension":
            column = normalise_attribute(self._batch.dimension_column())
        else:
            column = AttributeColumn("number", np.full(n, np.nan), np.ones(n, dtype=bool))
        if default is None or not column.missing.any():
            return column
        if isinstance(default, bool | int | float) and (column.kind == "number" or column.missing.all()):
            values = column.values.astype(np.float64) if column.kind == "number" else np.full(n, np.nan)
            return AttributeColumn(
                "number", np.where(column.missing, float(default), values), np.zeros(n, bool)
            )
        text = column.values.astype(np.str_) if column.kind == "text" else np.full(n, "", dtype=np.str_)
        return AttributeColumn("text", np.where(column.missing, str(default), text), np.zeros(n, bool))


def _group_codes(
    batch: EntityBatch, rs: CompiledRuleSet, attributes: _Attributes
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Integer group per entity (dimension x group_by value) and a readable label when grouped."""
    codes: np.ndarray | None = None
    if not isinstance(batch.dimension, str):
        _, codes = np.unique(batch.dimension_column(), return_inverse=True)
    if rs.group_by is None:
        return codes, None
    column = attributes.get(rs.group_by)
    values = np.where(column.missing, "(missing)", column.values.astype(np.str_))
    names, group = np.unique(values, return_inverse=True)
    combined = group if codes is None else codes * names.shape[0] + group
    return combined.astype(np.int64), np.char.add(f"{rs.group_by} ", values)


def _spike_exceptions(
    batch: EntityBatch, rs: CompiledRuleSet, moments: DemandMoments
) -> tuple[dict[str, np.ndarray], DemandMoments]:
    """Flag entities with promo / one-time-project buckets and recompute their moments without the
    marked buckets when the rule set says ``handling: exclude`` (only those rows are recomputed)."""
    n = batch.size
    flagged: dict[str, np.ndarray] = {}
    excluded: list[BucketMarks] = []
    for kind, marks in (("promo", batch.promo), ("one_time_project", batch.one_time_project)):
        mask = np.zeros(n, dtype=bool)
        if marks is not None and marks.entity_index.size:
            mask[marks.entity_index] = True
            if rs.exceptions.get(kind, {}).get("handling", "include") == "exclude":
                excluded.append(marks)
        flagged[kind] = mask
    if not excluded:
        return flagged, moments
    entity_index = np.concatenate([m.entity_index for m in excluded])
    bucket_index = np.concatenate([m.bucket_index for m in excluded])
    rows = np.unique(entity_index)
    included = np.ones((rows.shape[0], batch.demand.shape[1]), dtype=bool)
    included[np.searchsorted(rows, entity_index), bucket_index] = False
    sub = demand_moments(batch.demand[rows], included=included)
    horizon, total = moments.horizon.copy(), moments.total.copy()
    squares, nonzero = moments.sum_squares.copy(), moments.nonzero.copy()
    horizon[rows], total[rows], squares[rows], nonzero[rows] = (
        sub.horizon,
        sub.total,
        sub.sum_squares,
        sub.nonzero,
    )
    return flagged, DemandMoments(horizon=horizon, total=total, sum_squares=squares, nonzero=nonzero)


def _source_segments(
    batch: EntityBatch, rs: CompiledRuleSet, attributes: _Attributes
) -> tuple[np.ndarray | None, np.ndarray]:
    """``source_segment`` = the ``local_segment`` attribute mapped by ``local_names`` for the entity's
    ``source_system`` (``local_names.map_local_segments``); also the unknown-name mask."""
    n = batch.size
    if "local_segment" not in batch.attributes:
        return None, np.zeros(n, dtype=bool)
    names = attributes.get("local_segment")
    sources = attributes.get("source_system")
    source_values = np.where(sources.missing, "", sources.values.astype(np.str_))
    standard, missing, unknown = map_local_segments(
        rs.local_names, rs.segments, source_values, names.values.astype(np.str_), names.missing
    )
    attributes.put("source_segment", AttributeColumn("text", standard, missing))
    return standard, unknown


def _min_segments(
    batch: EntityBatch, rs: CompiledRuleSet, attributes: _Attributes, segment_names: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray]:
    """The contract floor ``min_segment`` (a standard or local name) mapped by ``local_names`` for its
    source (``min_segment_source``, else ``source_system``) like ``local_segment``; returns (code into
    ``segment_names``, -1 = none; standard name; name as given, "" = none; unknown-name mask). Nothing is
    read while the rule set turns contract floors off."""
    n = batch.size
    codes = np.full(n, -1, dtype=np.int64)
    if not rs.contract_floors or "min_segment" not in batch.attributes:
        return codes, None, None, np.zeros(n, dtype=bool)
    names = attributes.get("min_segment")
    given = np.where(names.missing, "", names.values.astype(np.str_))
    fallback = attributes.get("source_system")
    sources = np.where(fallback.missing, "", fallback.values.astype(np.str_))
    if "min_segment_source" in batch.attributes:
        own = attributes.get("min_segment_source")
        sources = np.where(own.missing, sources, own.values.astype(np.str_))
    standard, missing, unknown = map_local_segments(
        rs.local_names, rs.segments, sources, given, names.missing
    )
    codes[~missing] = np.searchsorted(np.array(segment_names, dtype=np.str_), standard[~missing])
    return codes, standard, given, unknown


def _abc(
    inputs: EntityBatch, rs: CompiledRuleSet, attributes: _Attributes, groups: np.ndarray | None
) -> tuple[AbcResult, np.ndarray, np.ndarray | None, np.ndarray]:
    """Plain ABC, or with ``abc.rollup`` the family ABC (``hierarchy.rolled_up_abc``) over the view's top
    parent (an entity without one is its own family); returns (abc, driver value, top parent, rolled_up)."""
    driver_value = inputs.measure(rs.driver)
    n = inputs.size
    if rs.abc_rollup is None:
        abc = classify_abc(driver_value, inputs.ids, cutoffs=rs.abc_cutoffs, groups=groups)
        return abc, driver_value, None, np.zeros(n, dtype=bool)
    top = attributes.get(f"{rs.abc_rollup}_top_parent_id")
    family = np.where(top.missing, inputs.ids.astype(np.str_), top.values.astype(np.str_))
    abc, family_value = rolled_up_abc(driver_value, family, cutoffs=rs.abc_cutoffs, groups=groups)
    return abc, family_value, family, np.ones(n, dtype=bool)


def classify(inputs: EntityBatch, ruleset: Mapping[str, Any], *, period_index: int) -> ClassificationResult:
    """Classify every entity of ``inputs`` under ``ruleset`` at period ``period_index``.

    Rules (DESIGN.md section 6): ABC by cumulative share of the driver (``abc.classify_abc``), XYZ by
    CV (``xyz``), Syntetos–Boylan pattern (``pattern``); segment = segment of the first rule whose
    condition holds, else ``default_segment``; promo / one-time project with ``handling: segment`` ->
    that segment; a new product with period_index < launch_period + exit_after_periods -> the NPI
    segment; contract floors (min_tier, min_service_level, min_segment) lift, the strictest winning
    (``floors.apply_contract_floors``); regulated regions pin the policy.
    Raises ``InvalidRuleSet`` / ``InvalidInput`` (both ``DomainError``) on bad inputs.
    """
    rs = compile_ruleset(ruleset)
    inputs.check()
    n = inputs.size
    attributes = _Attributes(inputs, rs.defaults)
    groups, group_label = _group_codes(inputs, rs, attributes)
    source_segment, unknown_local = _source_segments(inputs, rs, attributes)
    abc, driver_value, family, rolled_up = _abc(inputs, rs, attributes, groups)
    spikes, moments = _spike_exceptions(inputs, rs, demand_moments(inputs.demand))
    xyz = xyz_from_moments(moments, rs.xyz_cutoffs)
    pattern = pattern_from_moments(moments, adi_cutoff=rs.adi_cutoff, cv2_cutoff=rs.cv2_cutoff)

    revenue, margin = inputs.measure("revenue"), inputs.measure("margin")
    with np.errstate(invalid="ignore", divide="ignore"):
        margin_pct = np.where(revenue > 0, margin / np.where(revenue > 0, revenue, 1.0), np.nan)
    missing_cost = np.isnan(margin) if "margin" in inputs.measures else np.zeros(n, dtype=bool)
    if inputs.missing_cost is not None:
        missing_cost = missing_cost | np.asarray(inputs.missing_cost, dtype=bool)
    numbers = {"margin_pct": margin_pct, "cv": xyz.cv, "adi": pattern.adi, "cv2": pattern.cv2}
    classes = {"abc": abc.abc, "xyz": xyz.xyz, "pattern": pattern.pattern}

    def column(name: str) -> Column:
        if name in classes:
            return Column("class", classes[name], labels=_CLASS_LABELS[name])
        if name in numbers:
            return Column("number", numbers[name])
        if name in ("revenue", "margin", "volume", "order_lines"):
            return Column("number", inputs.measure(name))
        attribute = attributes.get(name)
        return Column(attribute.kind, attribute.values, missing=attribute.missing)

    segment_names = tuple(sorted(rs.segments))
    code_of = {name: code for code, name in enumerate(segment_names)}
    first = first_match([condition_mask(rule.when, column, n) for rule in rs.rules], n)
    rule_segment = np.array([code_of[r.segment] for r in rs.rules] + [code_of[rs.default_segment]], np.int64)
    computed = rule_segment[first]  # first == -1 (no match) picks the trailing default
    matched = first.copy()
    for kind, code in (("one_time_project", RULE_ONE_TIME_PROJECT), ("promo", RULE_PROMO)):
        spec = rs.exceptions.get(kind, {})
        if spec.get("handling") == "segment":
            computed[spikes[kind]] = code_of[spec["segment"]]
            matched[spikes[kind]] = code
    npi = np.zeros(n, dtype=bool)
    new_product = rs.exceptions.get("new_product")
    if new_product is not None and inputs.launch_period is not None:
        launch = np.asarray(inputs.launch_period, dtype=np.int64)
        npi = (launch != NOT_NEW) & (period_index < launch + int(new_product["exit_after_periods"]))
        computed[npi] = code_of[new_product["segment"]]
        matched[npi] = RULE_NEW_PRODUCT

    policies = [rs.segments[name] for name in segment_names]
    min_tier = column("min_tier").values if "min_tier" in inputs.attributes else np.full(n, np.nan)
    min_level = (
        column("min_service_level").values if "min_service_level" in inputs.attributes else np.full(n, np.nan)
    )
    if min_tier.dtype.kind != "f" or min_level.dtype.kind != "f":
        min_tier, min_level = min_tier.astype(np.float64), min_level.astype(np.float64)
    segment, lifted, unmet = computed, np.zeros(n, bool), np.zeros(n, bool)
    min_segment, min_segment_name, min_segment_local, unknown_min = _min_segments(
        inputs, rs, attributes, segment_names
    )
    if rs.contract_floors:
        ladder = sorted({code_of[r.segment] for r in rs.rules} | {code_of[rs.default_segment]})
        segment, lifted, unmet = apply_contract_floors(
            computed, policies, min_tier, min_level, ladder, min_segment
        )
    region_values: np.ndarray | None = None
    policy, regulated = segment, np.zeros(n, dtype=bool)
    if rs.regulated_regions:
        region = attributes.get("region")
        region_values = region.values.astype(np.str_)
        policy, regulated = pin_regulated_policies(
            segment, region_values, region.missing, rs.regulated_regions, code_of
        )
    tiers = np.array([p.tier for p in policies], dtype=np.int64)

    a, b = rs.abc_cutoffs
    flags = pack_flags(
        {
            "zero_driver": abc.zero_driver,
            "no_demand": xyz.no_demand,
            "missing_cost": missing_cost,
            "npi": npi,
            "promo": spikes["promo"],
            "one_time_project": spikes["one_time_project"],
            "floor_applied": lifted,
            "floor_unmet": unmet,
            "regulated": regulated,
            "rolled_up": rolled_up,
            "unknown_local_segment": unknown_local,
            "unknown_min_segment": unknown_min,
        },
        n,
    )
    return ClassificationResult(
        ids=inputs.ids,
        dimension=inputs.dimension if isinstance(inputs.dimension, str) else inputs.dimension_column(),
        driver=rs.driver,
        driver_value=driver_value,
        abc=abc.abc,
        rank=abc.rank,
        group_size=abc.group_size,
        group_label=group_label,
        cum_share_before=abc.cum_share_before,
        boundary_clearance=np.minimum(np.abs(abc.cum_share_before - a), np.abs(abc.cum_share_before - b)),
        xyz=xyz.xyz,
        cv=xyz.cv,
        pattern=pattern.pattern,
        adi=pattern.adi,
        cv2=pattern.cv2,
        horizon=moments.horizon,
        computed_segment=computed,
        segment=segment,
        policy=policy,
        tier=tiers[policy],
        matched_rule=matched,
        flags=flags,
        min_tier=min_tier,
        min_service_level=min_level,
        min_segment=min_segment_name,
        min_segment_local=min_segment_local,
        region=region_values,
        segment_names=segment_names,
        rule_names=tuple(rule.name for rule in rs.rules),
        policies=rs.segments,
        regulated_regions=rs.regulated_regions,
        abc_cutoffs=rs.abc_cutoffs,
        xyz_cutoffs=rs.xyz_cutoffs,
        adi_cutoff=rs.adi_cutoff,
        cv2_cutoff=rs.cv2_cutoff,
        ruleset_hash=rs.hash,
        engine_version=ENGINE_VERSION,
        period_index=period_index,
        rollup_view=rs.abc_rollup,
        rollup_parent=family,
        source_segment=source_segment,
    )
