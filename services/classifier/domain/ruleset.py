"""Declarative rule sets: the content hash, the shipped templates and the compiled (validated) view.

A rule set is plain data (a dict parsed from YAML/JSON outside the domain). ``validate`` lists its
problems, ``content_hash`` identifies it, ``compile_ruleset`` turns a valid one into typed settings.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import InvalidRuleSet
from .validation import RuleSetIssue, validate

__all__ = [
    "DEFAULT_RULESET",
    "TEMPLATE_ORDER_LINES",
    "CompiledRule",
    "CompiledRuleSet",
    "RuleSetIssue",
    "SegmentPolicy",
    "compile_ruleset",
    "content_hash",
    "standard_segment_name",
    "validate",
]


def canonical_json(ruleset: Mapping[str, Any]) -> bytes:
    """Canonical UTF-8 JSON: sorted keys, no whitespace, non-ASCII kept as is."""
    return json.dumps(ruleset, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def content_hash(ruleset: Mapping[str, Any]) -> str:
    """Rule: sha256 hex digest of ``canonical_json(ruleset)``; key order and whitespace never matter."""
    return hashlib.sha256(canonical_json(ruleset)).hexdigest()


_SEGMENTS: dict[str, Any] = {
    "PLATINUM": {
        "tier": 1,
        "service_level": {"type": "cycle", "target": 0.99},
        "otif_target": 0.98,
        "promise_lead_time_days": 1,
        "backorder_strategy": "win",
        "delivery_window_days": 0,
    },
    "GOLD": {
        "tier": 2,
        "service_level": {"type": "cycle", "target": 0.975},
        "otif_target": 0.95,
        "promise_lead_time_days": 2,
        "backorder_strategy": "gain",
        "delivery_window_days": 1,
    },
    "SILVER": {
        "tier": 3,
        "service_level": {"type": "fill_rate", "target": 0.95},
        "otif_target": 0.92,
        "promise_lead_time_days": 3,
        "backorder_strategy": "redistribute",
        "delivery_window_days": 2,
    },
    "BRONZE": {
        "tier": 4,
        "service_level": {"type": "fill_rate", "target": 0.92},
        "otif_target": 0.9,
        "promise_lead_time_days": 5,
        "backorder_strategy": "fill",
        "delivery_window_days": 3,
    },
    "NPI": {
        "tier": 3,
        "service_level": {"type": "fill_rate", "target": 0.95},
        "otif_target": 0.9,
        "promise_lead_time_days": 3,
        "backorder_strategy": "redistribute",
        "delivery_window_days": 2,
    },
    "MAKE_TO_ORDER": {
        "tier": 5,
        "service_level": {"type": "fill_rate", "target": 0.85},
        "otif_target": 0.85,
        "promise_lead_time_days": 15,
        "backorder_strategy": "lose",
        "delivery_window_days": 5,
    },
    "STANDARD": {
        "tier": 5,
        "service_level": {"type": "cycle", "target": 0.9},
        "otif_target": 0.88,
        "promise_lead_time_days": 7,
        "backorder_strategy": "fill",
        "delivery_window_days": 3,
    },
}


def _is(field: str, value: Any) -> dict[str, Any]:
    return {"field": field, "op": "eq", "value": value}


DEFAULT_RULESET: dict[str, Any] = {
    "name": "default",
    "version": 1,
    "abc": {"driver": "revenue", "cutoffs": [0.8, 0.95]},
    "xyz": {"bucket": "week", "cutoffs": [0.5, 1.0]},
    "pattern": {"adi_cutoff": 1.32, "cv2_cutoff": 0.49},
    "defaults": {"strategic": False},
    "rules": [
        {"name": "strategic-account", "when": _is("strategic", True), "segment": "PLATINUM"},
        {
            "name": "a-high-margin",
            "when": {"all": [_is("abc", "A"), {"field": "margin_pct", "op": "ge", "value": 0.3}]},
            "segment": "PLATINUM",
        },
        {"name": "a-class", "when": _is("abc", "A"), "segment": "GOLD"},
        {
            "name": "b-stable",
            "when": {"all": [_is("abc", "B"), {"field": "xyz", "op": "in", "value": ["X", "Y"]}]},
            "segment": "SILVER",
        },
        {"name": "b-class", "when": _is("abc", "B"), "segment": "BRONZE"},
        {"name": "lumpy-make-to-order", "when": _is("pattern", "lumpy"), "segment": "MAKE_TO_ORDER"},
    ],
    "default_segment": "STANDARD",
    "exceptions": {
        "promo": {"handling": "exclude"},
        "one_time_project": {"handling": "exclude"},
        "new_product": {"segment": "NPI", "exit_after_periods": 13},
    },
    "segments": _SEGMENTS,
    "contract_floors": True,
    "regulated_regions": {},
    "local_names": {},
}

TEMPLATE_ORDER_LINES: dict[str, Any] = {
    "name": "order-lines-template",
    "version": 1,
    "description": "For markets with little data: ABC on order-line counts alone, no value or demand history.",
    "abc": {"driver": "order_lines", "cutoffs": [0.8, 0.95]},
    "rules": [
        {"name": "a-by-order-lines", "when": _is("abc", "A"), "segment": "GOLD"},
        {"name": "b-by-order-lines", "when": _is("abc", "B"), "segment": "SILVER"},
    ],
    "default_segment": "STANDARD",
    "segments": {name: _SEGMENTS[name] for name in ("GOLD", "SILVER", "STANDARD")},
    "contract_floors": True,
}


@dataclass(frozen=True)
class SegmentPolicy:
    """A segment's service policy as the rule set defines it."""

    name: str
    tier: int
    service_level_type: str
    service_level_target: float
    otif_target: float | None
    promise_lead_time_days: float | None
    backorder_strategy: str | None
    delivery_window_days: float | None


@dataclass(frozen=True)
class CompiledRule:
    """One ordered rule: its name, condition tree (plain data) and target segment."""

    name: str
    when: Mapping[str, Any]
    segment: str


@dataclass(frozen=True)
class CompiledRuleSet:
    """A validated rule set with every default filled in; ``hash`` is its ``content_hash``."""

    hash: str
    driver: str
    abc_cutoffs: tuple[float, float]
    group_by: str | None
    bucket: str
    xyz_cutoffs: tuple[float, float]
    adi_cutoff: float
    cv2_cutoff: float
    rules: tuple[CompiledRule, ...]
    defaults: Mapping[str, Any]
    default_segment: str
    exceptions: Mapping[str, Mapping[str, Any]]
    segments: Mapping[str, SegmentPolicy]
    contract_floors: bool
    regulated_regions: Mapping[str, Mapping[str, str]]
    local_names: Mapping[str, Mapping[str, str]]
    abc_rollup: str | None = None


def _policy(name: str, spec: Mapping[str, Any]) -> SegmentPolicy:
    level = spec["service_level"]
    return SegmentPolicy(
        name=name,
        tier=int(spec["tier"]),
        service_level_type=str(level["type"]),
        service_level_target=float(level["target"]),
        otif_target=spec.get("otif_target"),
        promise_lead_time_days=spec.get("promise_lead_time_days"),
        backorder_strategy=spec.get("backorder_strategy"),
        delivery_window_days=spec.get("delivery_window_days"),
    )


def compile_ruleset(ruleset: Mapping[str, Any]) -> CompiledRuleSet:
    """Validate and fill defaults (ABC revenue 0.80/0.95 without rollup, XYZ week 0.5/1.0, SB 1.32/0.49).

    Raises ``InvalidRuleSet`` carrying every ``RuleSetIssue`` when the rule set is not valid.
    """
    issues = validate(ruleset)
    if issues:
        raise InvalidRuleSet(issues)
    abc = ruleset.get("abc", {"driver": "revenue"})
    xyz = ruleset.get("xyz", {})
    pattern = ruleset.get("pattern", {})
    a, b = abc.get("cutoffs", [0.8, 0.95])
    x, y = xyz.get("cutoffs", [0.5, 1.0])
    return CompiledRuleSet(
        hash=content_hash(ruleset),
        driver=abc["driver"],
        abc_cutoffs=(float(a), float(b)),
        group_by=abc.get("group_by"),
        bucket=xyz.get("bucket", "week"),
        xyz_cutoffs=(float(x), float(y)),
        adi_cutoff=float(pattern.get("adi_cutoff", 1.32)),
        cv2_cutoff=float(pattern.get("cv2_cutoff", 0.49)),
        rules=tuple(CompiledRule(r["name"], r["when"], r["segment"]) for r in ruleset.get("rules", [])),
        defaults=dict(ruleset.get("defaults", {})),
        default_segment=ruleset["default_segment"],
        exceptions=dict(ruleset.get("exceptions", {})),
        segments={name: _policy(name, spec) for name, spec in ruleset["segments"].items()},
        contract_floors=bool(ruleset.get("contract_floors", False)),
        regulated_regions=dict(ruleset.get("regulated_regions", {})),
        local_names=dict(ruleset.get("local_names", {})),
        abc_rollup=abc.get("rollup"),
    )


def standard_segment_name(ruleset: Mapping[str, Any], source: str, local_name: str) -> str | None:
    """The standard segment a source system's local segment name maps to (``local_names``), or None.

    Rule: ``local_names[source][local_name]``; a name that already is a standard segment maps to itself.
    """
    mapping = ruleset.get("local_names", {}).get(source, {})
    if local_name in mapping:
        return str(mapping[local_name])
    return local_name if local_name in ruleset.get("segments", {}) else None
