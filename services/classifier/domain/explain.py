"""Plain-language reasons for one entity's classification, built on demand from the result arrays."""

from __future__ import annotations

import math

from .flags import FLAG_BITS
from .result import RULE_DEFAULT, RULE_NEW_PRODUCT, RULE_ONE_TIME_PROJECT, RULE_PROMO, ClassificationResult


def amount(value: float) -> str:
    """12340 -> "12,340"; 12.5 -> "12.50"; NaN -> "missing"."""
    if not math.isfinite(value):
        return "missing"
    return f"{value:,.0f}" if value == round(value) else f"{value:,.2f}"


def _abc_reason(result: ClassificationResult, i: int) -> str:
    driver, value = result.driver, float(result.driver_value[i])
    group = ""
    if result.group_label is not None:
        group = f" within {result.group_label[i]}"
    if result.flags[i] & FLAG_BITS["zero_driver"]:
        return f"{driver} {amount(value)} is zero, negative or missing -> C"
    a, b = result.abc_cutoffs
    share = float(result.cum_share_before[i])
    head = f"{driver} {amount(value)} ranks {int(result.rank[i])} of {int(result.group_size[i])}{group}"
    if share < a:
        rule = f"{share:.2f} < {a:.2f} -> A"
    elif share < b:
        rule = f"{share:.2f} >= {a:.2f} and < {b:.2f} -> B"
    else:
        rule = f"{share:.2f} >= {b:.2f} -> C"
    return f"{head}; cumulative share before it {rule}"


def _xyz_reason(result: ClassificationResult, i: int) -> str:
    if result.xyz[i] < 0:
        return f"no demand in the {int(result.horizon[i])} buckets -> no XYZ class"
    x, y = result.xyz_cutoffs
    cv = float(result.cv[i])
    label = result.xyz_label(i)
    if label == "X":
        return f"CV {cv:.2f} <= {x:.2f} -> X"
    if label == "Y":
        return f"CV {cv:.2f} > {x:.2f} and <= {y:.2f} -> Y"
    return f"CV {cv:.2f} > {y:.2f} -> Z"


def _pattern_reason(result: ClassificationResult, i: int) -> str:
    if result.pattern[i] == 0:
        return "no non-zero bucket -> demand pattern none"
    adi, cv2 = float(result.adi[i]), float(result.cv2[i])
    adi_op = "<" if adi < result.adi_cutoff else ">="
    cv2_op = "<" if cv2 < result.cv2_cutoff else ">="
    return (
        f"ADI {adi:.2f} {adi_op} {result.adi_cutoff:.2f} and CV2 {cv2:.2f} {cv2_op} {result.cv2_cutoff:.2f}"
        f" -> {result.pattern_label(i)}"
    )


def _rule_reason(result: ClassificationResult, i: int) -> str:
    computed = result.segment_names[int(result.computed_segment[i])]
    index = int(result.matched_rule[i])
    if index >= 0:
        return f"rule '{result.rule_names[index]}' (#{index + 1}) matched first -> {computed}"
    if index == RULE_DEFAULT:
        return f"no rule matched -> default segment {computed}"
    if index == RULE_NEW_PRODUCT:
        return f"new product within its introduction periods -> {computed} (exception new_product)"
    if index == RULE_PROMO:
        return f"promotion exception -> {computed}"
    if index == RULE_ONE_TIME_PROJECT:
        return f"one-time project exception -> {computed}"
    return f"-> {computed}"


def _min_segment(result: ClassificationResult, i: int) -> str:
    """The floor as 'min_segment GOLD', or 'min_segment GOLD (local GOLD-EU)' when given in a local name."""
    assert result.min_segment is not None and result.min_segment_local is not None
    standard, given = str(result.min_segment[i]), str(result.min_segment_local[i])
    return f"min_segment {standard}" if given == standard else f"min_segment {standard} (local {given})"


def reasons(result: ClassificationResult, i: int) -> list[str]:
    """Reasons, in order: ABC, XYZ, pattern, the deciding rule, then exceptions, floors and regulation."""
    flags = int(result.flags[i])
    out = [
        _abc_reason(result, i),
        _xyz_reason(result, i),
        _pattern_reason(result, i),
        _rule_reason(result, i),
    ]
    if flags & FLAG_BITS["missing_cost"]:
        out.append("cost is missing: margin and margin_pct are unknown (not zero)")
    if flags & FLAG_BITS["promo"]:
        out.append("promotion buckets marked; handled as the rule set's promo exception says")
    if flags & FLAG_BITS["one_time_project"]:
        out.append(
            "one-time project buckets marked; handled as the rule set's one_time_project exception says"
        )
    computed, final = int(result.computed_segment[i]), int(result.segment[i])
    if flags & FLAG_BITS["floor_applied"]:
        floors = []
        if math.isfinite(result.min_tier[i]):
            floors.append(f"min_tier {int(result.min_tier[i])}")
        if math.isfinite(result.min_service_level[i]):
            floors.append(f"min_service_level {result.min_service_level[i]:g}")
        if result.min_segment is not None and result.min_segment[i]:
            floors.append(_min_segment(result, i))
        out.append(
            f"contract floor ({', '.join(floors)}) lifts {result.segment_names[computed]}"
            f" to {result.segment_names[final]}"
        )
    if flags & FLAG_BITS["floor_unmet"]:
        out.append("contract floor cannot be met by any segment of this rule set")
    if flags & FLAG_BITS["unknown_min_segment"] and result.min_segment_local is not None:
        out.append(
            f"contract floor min_segment {str(result.min_segment_local[i])!r} is neither a segment of this"
            " rule set nor in its local_names: not applied"
        )
    if flags & FLAG_BITS["rolled_up"] and result.rollup_parent is not None:
        out.append(
            f"ABC rolled up to the {result.rollup_view} top parent {result.rollup_parent[i]}: the family's"
            f" total {result.driver} is ranked among families"
        )
    if result.source_segment is not None and result.source_segment[i]:
        out.append(f"source system segment maps to {result.source_segment[i]} (local_names)")
    if flags & FLAG_BITS["unknown_local_segment"]:
        out.append("local segment name is not in the rule set's local_names: ignored")
    if flags & FLAG_BITS["regulated"] and result.region is not None:
        region = str(result.region[i])
        spec = result.regulated_regions[region]
        out.append(
            f"regulated region {region}: service policy {spec['segment_policy']} applies to every segment"
            f" ({spec['justification']})"
        )
    return out
