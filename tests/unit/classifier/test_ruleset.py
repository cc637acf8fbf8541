"""Rule-set validation messages, content hash stability, templates and local-name mapping."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest

from services.classifier.domain.errors import InvalidRuleSet
from services.classifier.domain.ruleset import (
    DEFAULT_RULESET,
    TEMPLATE_ORDER_LINES,
    compile_ruleset,
    content_hash,
    standard_segment_name,
    validate,
)


def issues_of(ruleset: dict[str, Any]) -> dict[str, str]:
    return {issue.path: issue.message for issue in validate(ruleset)}


def fresh() -> dict[str, Any]:
    return copy.deepcopy(DEFAULT_RULESET)


def test_shipped_rule_sets_are_valid() -> None:
    assert validate(DEFAULT_RULESET) == []
    assert validate(TEMPLATE_ORDER_LINES) == []
    assert len(DEFAULT_RULESET["rules"]) == 6


def test_template_works_on_order_lines_alone() -> None:
    compiled = compile_ruleset(TEMPLATE_ORDER_LINES)
    assert compiled.driver == "order_lines"
    fields: set[str] = set()

    def collect(node: dict[str, Any]) -> None:
        for key in ("all", "any"):
            for child in node.get(key, []):
                collect(child)
        if "not" in node:
            collect(node["not"])
        if "field" in node:
            fields.add(node["field"])

    for rule in TEMPLATE_ORDER_LINES["rules"]:
        collect(rule["when"])
    assert fields <= {"abc"}


def test_unknown_operator_names_rule_and_field() -> None:
    ruleset = fresh()
    ruleset["rules"][2]["when"] = {"any": [{"field": "revenue", "op": "gte", "value": 10}]}
    found = issues_of(ruleset)
    assert "rules[2].when.any[0].op" in found
    assert "unknown operator 'gte'" in found["rules[2].when.any[0].op"]


def test_cutoffs_must_be_ordered_and_in_unit_interval() -> None:
    ruleset = fresh()
    ruleset["abc"]["cutoffs"] = [0.95, 0.8]
    assert "strictly increasing" in issues_of(ruleset)["abc.cutoffs"]
    ruleset["abc"]["cutoffs"] = [0.8, 1.2]
    assert "(0, 1]" in issues_of(ruleset)["abc.cutoffs[1]"]
    ruleset["abc"]["cutoffs"] = [0.0, 0.5]
    assert "abc.cutoffs[0]" in issues_of(ruleset)
    ruleset["abc"]["cutoffs"] = [0.8, 1.0]
    assert issues_of(ruleset) == {}
    ruleset["xyz"]["cutoffs"] = [1.0, 0.5]
    assert "xyz.cutoffs" in issues_of(ruleset)


def test_service_level_percent_is_an_error_not_clamped() -> None:
    ruleset = fresh()
    ruleset["segments"]["GOLD"]["service_level"]["target"] = 97.5
    found = issues_of(ruleset)
    assert "segments.GOLD.service_level.target" in found
    assert "97.5" in found["segments.GOLD.service_level.target"]
    ruleset["segments"]["GOLD"]["service_level"]["target"] = 1.0
    assert "segments.GOLD.service_level.target" in issues_of(ruleset)
    with pytest.raises(InvalidRuleSet) as caught:
        compile_ruleset(ruleset)
    assert caught.value.issues[0].path == "segments.GOLD.service_level.target"


def test_referenced_segments_must_exist() -> None:
    ruleset = fresh()
    ruleset["rules"][4]["segment"] = "DIAMOND"
    ruleset["default_segment"] = "NOPE"
    ruleset["exceptions"]["new_product"]["segment"] = "LAUNCH"
    ruleset["regulated_regions"] = {"FR": {"segment_policy": "EQUAL", "justification": "law"}}
    ruleset["local_names"] = {"SAP-EU": {"Kat A": "GOLD", "Kat Z": "ZINC"}}
    found = issues_of(ruleset)
    assert "'DIAMOND'" in found["rules[4].segment"]
    assert "default_segment" in found
    assert "exceptions.new_product.segment" in found
    assert "regulated_regions.FR.segment_policy" in found
    assert "local_names.SAP-EU.Kat Z" in found and "local_names.SAP-EU.Kat A" not in found


def test_condition_shape_and_value_types() -> None:
    ruleset = fresh()
    ruleset["rules"] = [
        {"name": "r0", "when": {"field": "abc", "op": "eq", "value": "D"}, "segment": "GOLD"},
        {"name": "r1", "when": {"field": "margin_pct", "op": "ge", "value": "high"}, "segment": "GOLD"},
        {"name": "r2", "when": {"field": "xyz", "op": "in", "value": "X"}, "segment": "GOLD"},
        {"name": "r3", "when": {"all": []}, "segment": "GOLD"},
        {"name": "r4", "when": {"not": {"field": "abc", "op": "lt", "value": "B"}}, "segment": "GOLD"},
        {"name": "r0", "when": {"any": [{"field": "region"}], "all": []}, "segment": "GOLD"},
        {"name": "r6", "segment": "GOLD"},
    ]
    found = issues_of(ruleset)
    assert "not a abc value" in found["rules[0].when.value"]
    assert "not a number" in found["rules[1].when.value"]
    assert "non-empty list" in found["rules[2].when.value"]
    assert "non-empty list" in found["rules[3].when.all"]
    assert "rules[4].when.not.op" in found
    assert "duplicate rule name" in found["rules[5].name"]
    assert "exactly one of" in found["rules[5].when"]
    assert found["rules[6].when"] == "is required"


def test_other_sections() -> None:
    ruleset = fresh()
    ruleset["abc"]["driver"] = "profit"
    ruleset["xyz"]["bucket"] = "day"
    ruleset["segments"]["SILVER"]["backorder_strategy"] = "hope"
    ruleset["segments"]["SILVER"]["tier"] = 0
    ruleset["segments"]["BRONZE"]["service_level"]["type"] = "otif"
    ruleset["exceptions"]["new_product"]["exit_after_periods"] = 0
    ruleset["exceptions"]["promo"] = {"handling": "ignore"}
    ruleset["exceptions"]["holiday"] = {}
    ruleset["regulated_regions"] = {"FR": {"segment_policy": "STANDARD", "justification": " "}}
    ruleset["colour"] = "blue"
    found = issues_of(ruleset)
    for path in (
        "abc.driver",
        "xyz.bucket",
        "segments.SILVER.backorder_strategy",
        "segments.SILVER.tier",
        "segments.BRONZE.service_level.type",
        "exceptions.new_product.exit_after_periods",
        "exceptions.promo.handling",
        "exceptions.holiday",
        "regulated_regions.FR.justification",
        "colour",
    ):
        assert path in found, path


def test_not_an_object() -> None:
    assert [i.path for i in validate([1, 2])] == [""]


def test_content_hash_is_sha256_of_canonical_json() -> None:
    expected = hashlib.sha256(
        json.dumps(DEFAULT_RULESET, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    ).hexdigest()
    assert content_hash(DEFAULT_RULESET) == expected
    assert len(expected) == 64


def test_content_hash_ignores_key_order_and_whitespace_but_not_content() -> None:
    reordered = json.loads(json.dumps(DEFAULT_RULESET, indent=4))
    reordered = dict(reversed(list(reordered.items())))
    assert content_hash(reordered) == content_hash(DEFAULT_RULESET)
    changed = fresh()
    changed["abc"]["cutoffs"] = [0.8, 0.96]
    assert content_hash(changed) != content_hash(DEFAULT_RULESET)


def test_content_hash_keeps_non_ascii_as_utf8() -> None:
    ruleset = {"name": "Zürich Ü"}
    digest = hashlib.sha256('{"name":"Zürich Ü"}'.encode()).hexdigest()
    assert content_hash(ruleset) == digest


def test_compile_fills_defaults() -> None:
    minimal = {
        "abc": {"driver": "volume"},
        "rules": [],
        "default_segment": "STANDARD",
        "segments": {"STANDARD": {"tier": 1, "service_level": {"type": "cycle", "target": 0.9}}},
    }
    compiled = compile_ruleset(minimal)
    assert compiled.abc_cutoffs == (0.8, 0.95)
    assert compiled.xyz_cutoffs == (0.5, 1.0)
    assert (compiled.adi_cutoff, compiled.cv2_cutoff) == (1.32, 0.49)
    assert compiled.bucket == "week" and compiled.group_by is None
    assert compiled.hash == content_hash(minimal)


def test_local_names_map_to_the_standard_taxonomy() -> None:
    ruleset = fresh()
    ruleset["local_names"] = {"SAP-EU": {"Kat A": "GOLD"}, "JDE-US": {"Key": "PLATINUM"}}
    assert validate(ruleset) == []
    assert standard_segment_name(ruleset, "SAP-EU", "Kat A") == "GOLD"
    assert standard_segment_name(ruleset, "JDE-US", "Key") == "PLATINUM"
    assert standard_segment_name(ruleset, "JDE-US", "SILVER") == "SILVER"
    assert standard_segment_name(ruleset, "JDE-US", "Kat A") is None
