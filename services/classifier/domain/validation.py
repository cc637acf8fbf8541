"""Rule-set validation: every problem is reported with the path of the offending rule and field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import vocabulary as vocab
from .operations import schedule_issues, stability_issues


@dataclass(frozen=True)
class RuleSetIssue:
    """One validation problem: ``path`` such as ``rules[2].when.any[0].op`` and a plain message."""

    path: str
    message: str


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_fraction(value: Any) -> bool:
    return _is_number(value) and 0.0 < float(value) < 1.0


class _Collector:
    def __init__(self) -> None:
        self.issues: list[RuleSetIssue] = []

    def add(self, path: str, message: str) -> None:
        self.issues.append(RuleSetIssue(path, message))


def _check_cutoffs(out: _Collector, path: str, cutoffs: Any, *, upper_bound_one: bool) -> None:
    if not isinstance(cutoffs, list | tuple) or len(cutoffs) != 2 or not all(_is_number(c) for c in cutoffs):
        out.add(path, "must be a list of two numbers")
        return
    low, high = float(cutoffs[0]), float(cutoffs[1])
    if upper_bound_one:
        for index, value in enumerate((low, high)):
            if not 0.0 < value <= 1.0:
                out.add(f"{path}[{index}]", f"cutoff {value} must be in (0, 1]")
    elif low <= 0.0:
        out.add(f"{path}[0]", f"cutoff {low} must be positive")
    if not low < high:
        out.add(path, f"cutoffs must be strictly increasing, got [{low}, {high}]")


def _check_abc(out: _Collector, abc: Any) -> None:
    if not isinstance(abc, Mapping):
        out.add("abc", "must be an object")
        return
    if abc.get("driver") not in vocab.DRIVERS:
        out.add(
            "abc.driver", f"unknown driver {abc.get('driver')!r}; expected one of {', '.join(vocab.DRIVERS)}"
        )
    _check_cutoffs(out, "abc.cutoffs", abc.get("cutoffs", [0.8, 0.95]), upper_bound_one=True)
    group_by = abc.get("group_by")
    if group_by is not None and (not isinstance(group_by, str) or not group_by):
        out.add("abc.group_by", "must be an attribute name such as 'region' or 'category'")
    rollup = abc.get("rollup")
    if rollup is not None and rollup not in vocab.ROLLUP_VIEWS:
        out.add(
            "abc.rollup",
            f"unknown hierarchy view {rollup!r}; expected one of {', '.join(vocab.ROLLUP_VIEWS)}",
        )
    for key in abc:
        if key not in ("driver", "cutoffs", "group_by", "rollup"):
            out.add(f"abc.{key}", "unknown key")


def _check_xyz(out: _Collector, xyz: Any) -> None:
    if not isinstance(xyz, Mapping):
        out.add("xyz", "must be an object")
        return
    if xyz.get("bucket", "week") not in ("week", "month"):
        out.add("xyz.bucket", f"unknown bucket {xyz.get('bucket')!r}; expected week or month")
    _check_cutoffs(out, "xyz.cutoffs", xyz.get("cutoffs", [0.5, 1.0]), upper_bound_one=False)
    for key in xyz:
        if key not in ("bucket", "cutoffs"):
            out.add(f"xyz.{key}", "unknown key")


def _check_pattern(out: _Collector, pattern: Any) -> None:
    if not isinstance(pattern, Mapping):
        out.add("pattern", "must be an object")
        return
    adi = pattern.get("adi_cutoff", 1.32)
    if not _is_number(adi) or adi <= 1.0:
        out.add("pattern.adi_cutoff", f"must be a number > 1 (ADI is never below 1), got {adi!r}")
    cv2 = pattern.get("cv2_cutoff", 0.49)
    if not _is_number(cv2) or cv2 <= 0.0:
        out.add("pattern.cv2_cutoff", f"must be a positive number, got {cv2!r}")
    for key in pattern:
        if key not in ("adi_cutoff", "cv2_cutoff"):
            out.add(f"pattern.{key}", "unknown key")


def _check_comparison(out: _Collector, path: str, node: Mapping[str, Any]) -> None:
    field, op, value = node.get("field"), node.get("op"), node.get("value")
    if not isinstance(field, str) or not field:
        out.add(f"{path}.field", "must be a non-empty field name")
        return
    if op not in vocab.OPERATORS:
        out.add(f"{path}.op", f"unknown operator {op!r}; expected one of {', '.join(vocab.OPERATORS)}")
        return
    if "value" not in node:
        out.add(f"{path}.value", "is required")
        return
    values: list[Any] = list(value) if op in vocab.LIST_OPERATORS and isinstance(value, list) else [value]
    if op in vocab.LIST_OPERATORS and (not isinstance(value, list) or not value):
        out.add(f"{path}.value", f"operator '{op}' needs a non-empty list")
        return
    if field in vocab.MEASURE_FIELDS or field in vocab.NUMERIC_ATTRIBUTES:
        if not all(_is_number(v) for v in values):
            out.add(f"{path}.value", f"field '{field}' is numeric; {value!r} is not a number")
    elif field in vocab.RESULT_FIELDS:
        allowed = vocab.RESULT_FIELDS[field]
        if op in vocab.ORDER_OPERATORS:
            out.add(f"{path}.op", f"operator '{op}' does not apply to the class field '{field}'")
        for v in values:
            if v not in allowed:
                out.add(
                    f"{path}.value", f"{v!r} is not a {field} value; expected one of {', '.join(allowed)}"
                )
    elif not all(v is None or isinstance(v, str | int | float | bool) for v in values):
        out.add(f"{path}.value", "attribute comparisons take strings, numbers or booleans")
    for key in node:
        if key not in ("field", "op", "value"):
            out.add(f"{path}.{key}", "unknown key")


def _check_condition(out: _Collector, path: str, node: Any) -> None:
    if not isinstance(node, Mapping):
        out.add(path, "a condition must be an object")
        return
    combinators = [key for key in vocab.COMBINATORS if key in node]
    if not combinators:
        _check_comparison(out, path, node)
        return
    if len(combinators) > 1 or len(node) > 1:
        out.add(path, "a condition has exactly one of 'all', 'any', 'not' or a field comparison")
        return
    key = combinators[0]
    if key == "not":
        _check_condition(out, f"{path}.not", node["not"])
        return
    children = node[key]
    if not isinstance(children, list) or not children:
        out.add(f"{path}.{key}", "must be a non-empty list of conditions")
        return
    for index, child in enumerate(children):
        _check_condition(out, f"{path}.{key}[{index}]", child)


def _check_segment_ref(out: _Collector, path: str, name: Any, segments: Mapping[str, Any]) -> None:
    if not isinstance(name, str) or name not in segments:
        out.add(path, f"segment {name!r} is not defined in segments")


def _check_rules(out: _Collector, rules: Any, segments: Mapping[str, Any]) -> None:
    if not isinstance(rules, list):
        out.add("rules", "must be a list")
        return
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        path = f"rules[{index}]"
        if not isinstance(rule, Mapping):
            out.add(path, "a rule must be an object with name, when and segment")
            continue
        name = rule.get("name")
        if not isinstance(name, str) or not name:
            out.add(f"{path}.name", "is required")
        elif name in seen:
            out.add(f"{path}.name", f"duplicate rule name {name!r}")
        else:
            seen.add(name)
        if "when" not in rule:
            out.add(f"{path}.when", "is required")
        else:
            _check_condition(out, f"{path}.when", rule["when"])
        _check_segment_ref(out, f"{path}.segment", rule.get("segment"), segments)
        for key in rule:
            if key not in ("name", "when", "segment", "description"):
                out.add(f"{path}.{key}", "unknown key")


def _check_segment(out: _Collector, path: str, spec: Any) -> None:
    if not isinstance(spec, Mapping):
        out.add(path, "must be an object")
        return
    tier = spec.get("tier")
    if not isinstance(tier, int) or isinstance(tier, bool) or tier < 1:
        out.add(f"{path}.tier", f"must be a positive integer (1 = best service), got {tier!r}")
    level = spec.get("service_level")
    if not isinstance(level, Mapping):
        out.add(f"{path}.service_level", "must be an object {type, target}")
    else:
        if level.get("type") not in vocab.SERVICE_LEVEL_TYPES:
            out.add(
                f"{path}.service_level.type",
                f"unknown type {level.get('type')!r}; expected cycle or fill_rate",
            )
        if not _is_fraction(level.get("target")):
            out.add(
                f"{path}.service_level.target",
                f"must be a fraction in (0, 1), got {level.get('target')!r} (97.5 is not 0.975; never clamped)",
            )
    if "otif_target" in spec and not _is_fraction(spec["otif_target"]):
        out.add(f"{path}.otif_target", f"must be a fraction in (0, 1), got {spec['otif_target']!r}")
    for key in ("promise_lead_time_days", "delivery_window_days"):
        if key in spec and (not _is_number(spec[key]) or spec[key] < 0):
            out.add(f"{path}.{key}", f"must be a non-negative number of days, got {spec[key]!r}")
    if "backorder_strategy" in spec and spec["backorder_strategy"] not in vocab.BACKORDER_STRATEGIES:
        out.add(
            f"{path}.backorder_strategy",
            f"unknown strategy {spec['backorder_strategy']!r}; expected one of {', '.join(vocab.BACKORDER_STRATEGIES)}",
        )
    for key in spec:
        if key not in vocab.SEGMENT_KEYS:
            out.add(f"{path}.{key}", "unknown key")


def _check_exceptions(out: _Collector, exceptions: Any, segments: Mapping[str, Any]) -> None:
    if not isinstance(exceptions, Mapping):
        out.add("exceptions", "must be an object")
        return
    for kind, spec in exceptions.items():
        path = f"exceptions.{kind}"
        if kind not in vocab.EXCEPTION_KINDS:
            out.add(path, f"unknown exception {kind!r}; expected one of {', '.join(vocab.EXCEPTION_KINDS)}")
            continue
        if not isinstance(spec, Mapping):
            out.add(path, "must be an object")
            continue
        if kind == "new_product":
            _check_segment_ref(out, f"{path}.segment", spec.get("segment"), segments)
            periods = spec.get("exit_after_periods")
            if not isinstance(periods, int) or isinstance(periods, bool) or periods < 1:
                out.add(f"{path}.exit_after_periods", f"must be a positive integer, got {periods!r}")
            continue
        handling = spec.get("handling", "exclude")
        if handling not in vocab.SPIKE_HANDLING:
            out.add(
                f"{path}.handling",
                f"unknown handling {handling!r}; expected one of {', '.join(vocab.SPIKE_HANDLING)}",
            )
        elif handling == "segment":
            _check_segment_ref(out, f"{path}.segment", spec.get("segment"), segments)


def _check_regulated(out: _Collector, regions: Any, segments: Mapping[str, Any]) -> None:
    if not isinstance(regions, Mapping):
        out.add("regulated_regions", "must be an object keyed by region")
        return
    for region, spec in regions.items():
        path = f"regulated_regions.{region}"
        if not isinstance(spec, Mapping):
            out.add(path, "must be an object {segment_policy, justification}")
            continue
        _check_segment_ref(out, f"{path}.segment_policy", spec.get("segment_policy"), segments)
        justification = spec.get("justification")
        if not isinstance(justification, str) or not justification.strip():
            out.add(f"{path}.justification", "a justification is required for a regulated region")


def _check_local_names(out: _Collector, local_names: Any, segments: Mapping[str, Any]) -> None:
    if not isinstance(local_names, Mapping):
        out.add("local_names", "must be an object {source: {local: standard}}")
        return
    for source, mapping in local_names.items():
        if not isinstance(mapping, Mapping):
            out.add(f"local_names.{source}", "must be an object {local: standard}")
            continue
        for local, standard in mapping.items():
            _check_segment_ref(out, f"local_names.{source}.{local}", standard, segments)


def validate(ruleset: Any) -> list[RuleSetIssue]:
    """Every problem of a rule set, each naming its path (e.g. ``rules[2].when.any[0].op``).

    Checks: known keys; ABC driver and cutoffs ordered in (0, 1], rollup a hierarchy view; XYZ bucket
    and positive, ordered cutoffs; conditions well-formed with known operators and values of the field's
    type (measures and supplier-risk fields numeric); segments referenced by rules, default, exceptions,
    regulated regions and local names exist; service levels and OTIF targets fractions in (0, 1) (97.5 is
    an error, never clamped). An empty list = valid.
    """
    out = _Collector()
    if not isinstance(ruleset, Mapping):
        return [RuleSetIssue("", "a rule set must be an object")]
    for key in ruleset:
        if key not in vocab.TOP_LEVEL_KEYS:
            out.add(str(key), "unknown key")
    segments = ruleset.get("segments")
    if not isinstance(segments, Mapping) or not segments:
        out.add("segments", "must be a non-empty object of segment definitions")
        segments = {}
    for name, spec in segments.items():
        _check_segment(out, f"segments.{name}", spec)
    _check_abc(out, ruleset.get("abc", {"driver": "revenue"}))
    _check_xyz(out, ruleset.get("xyz", {}))
    _check_pattern(out, ruleset.get("pattern", {}))
    defaults = ruleset.get("defaults", {})
    if not isinstance(defaults, Mapping):
        out.add("defaults", "must be an object {attribute: value}")
    _check_rules(out, ruleset.get("rules", []), segments)
    _check_segment_ref(out, "default_segment", ruleset.get("default_segment"), segments)
    _check_exceptions(out, ruleset.get("exceptions", {}), segments)
    if not isinstance(ruleset.get("contract_floors", False), bool):
        out.add("contract_floors", "must be true or false")
    _check_regulated(out, ruleset.get("regulated_regions", {}), segments)
    _check_local_names(out, ruleset.get("local_names", {}), segments)
    if "stability" in ruleset:
        for path, message in stability_issues(ruleset["stability"]):
            out.add(path, message)
    if "schedule" in ruleset:
        for path, message in schedule_issues(ruleset["schedule"]):
            out.add(path, message)
    return out.issues
