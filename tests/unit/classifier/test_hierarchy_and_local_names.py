"""Domain: customer hierarchy (top parents, rules over hierarchy attributes, ABC rolled up to the family),
local segment names mapped to the standard taxonomy, supplier-risk fields in rules."""

from __future__ import annotations

import random

import numpy as np
import pytest

from services.classifier.domain.engine import classify
from services.classifier.domain.hierarchy import rolled_up_abc, top_parents
from services.classifier.domain.local_names import local_name, map_local_segments, standard_segment
from services.classifier.domain.ruleset import DEFAULT_RULESET, standard_segment_name, validate

from .helpers import batch, ruleset
from .reference import abc_reference


def _top_reference(parent: dict[str, str | None], entity: str) -> tuple[str, bool]:
    """Walk up one link at a time; a revisited node means a cycle."""
    seen = {entity}
    current = entity
    while True:
        up = parent.get(current)
        if up is None or up == current:  # no parent, or its own parent: a top
            return current, False
        if up in seen:
            return entity, True
        seen.add(up)
        current = up


def test_top_parents_follow_chains_stop_at_unknown_parents_and_flag_cycles() -> None:
    ids = np.array(["a", "b", "c", "d", "x", "y", "z"])
    parents = np.array(["", "a", "b", "outside", "y", "x", "x"])
    missing = np.array([True, False, False, False, False, False, False])
    top, cyclic = top_parents(ids, parents, missing)
    assert top.tolist() == ["a", "a", "a", "outside", "x", "y", "z"]
    assert cyclic.tolist() == [False, False, False, False, True, True, True]


def test_top_parents_match_a_link_by_link_walk_on_random_forests() -> None:
    rng = random.Random(7)
    for _ in range(20):
        n = rng.randint(1, 60)
        ids = [f"e{k:03d}" for k in range(n)]
        parent: dict[str, str | None] = {}
        for entity in ids:
            roll = rng.random()
            if roll < 0.25:
                parent[entity] = None
            elif roll < 0.35:
                parent[entity] = f"ext{rng.randint(0, 3)}"
            else:
                parent[entity] = ids[rng.randrange(n)]  # may create cycles, even self-loops
        top, cyclic = top_parents(
            np.array(ids),
            np.array([parent[e] or "" for e in ids]),
            np.array([parent[e] is None for e in ids]),
        )
        for k, entity in enumerate(ids):
            expected_top, expected_cycle = _top_reference(parent, entity)
            assert (str(top[k]), bool(cyclic[k])) == (expected_top, expected_cycle), entity


def test_rolled_up_abc_ranks_families_by_their_summed_driver() -> None:
    values = np.array([500.0, 300.0, 600.0, 50.0, np.nan, 40.0])
    family = np.array(["P", "P", "Q", "R", "S", "R"])
    abc, family_value = rolled_up_abc(values, family, cutoffs=(0.5, 0.9))
    totals = {"P": 800.0, "Q": 600.0, "R": 90.0, "S": float("nan")}
    expected = abc_reference(list(totals.values()), list(totals), cutoffs=(0.5, 0.9))
    for k, name in enumerate(family.tolist()):
        label, share, rank = expected[name]
        assert "ABC"[int(abc.abc[k])] == label
        assert abc.cum_share_before[k] == pytest.approx(share)
        assert abc.rank[k] == rank
    assert family_value[:4].tolist() == [800.0, 800.0, 600.0, 90.0] and np.isnan(family_value[4])
    assert bool(abc.zero_driver[4])  # a family whose every driver is missing is C and flagged


def test_engine_rolls_up_abc_to_the_sales_top_parent_and_explains_it() -> None:
    # child1 -> parent -> grandparent in the sales view; child1 alone would be C
    ids = ["grand", "parent", "child1", "big", "small"]
    revenue = [100.0, 100.0, 700.0, 1000.0, 100.0]
    sales_parent = [None, "grand", "parent", None, None]
    rs = ruleset(abc={"driver": "revenue", "cutoffs": [0.5, 0.9], "rollup": "sales"})
    result = classify(
        batch(ids, revenue=revenue, dimension="customer", attributes={"sales_parent_id": sales_parent}),
        rs,
        period_index=4,
    )
    families = {"grand": 900.0, "big": 1000.0, "small": 100.0}
    expected = abc_reference(list(families.values()), list(families), cutoffs=(0.5, 0.9))
    family_of = {"grand": "grand", "parent": "grand", "child1": "grand", "big": "big", "small": "small"}
    for k, entity in enumerate(ids):
        record = result.record(k)
        assert record["abc"] == expected[family_of[entity]][0]
        assert record["driver_value"] == pytest.approx(families[family_of[entity]])
        assert "rolled_up" in record["flags"]
        assert any(f"top parent {family_of[entity]}" in reason for reason in record["reasons"])
    plain = classify(
        batch(ids, revenue=revenue, dimension="customer", attributes={"sales_parent_id": sales_parent}),
        ruleset(abc={"driver": "revenue", "cutoffs": [0.5, 0.9]}),
        period_index=4,
    )
    # alone, "parent" (100, third of the 100 ties) has 0.90 before it -> C; in grand's family -> B
    assert plain.abc_label(1) == "C" and result.abc_label(1) == "B"


def test_rules_read_hierarchy_attributes_per_view_and_group_by_top_parent() -> None:
    ids = ["hq", "branch", "shop", "solo"]
    rs = ruleset(
        rules=[
            {
                "name": "acme-family",
                "when": {"field": "top_parent_id", "op": "eq", "value": "hq"},
                "segment": "GOLD",
            },
            {
                "name": "finance-child",
                "when": {"field": "finance_parent_id", "op": "eq", "value": "fin-hq"},
                "segment": "SILVER",
            },
        ],
        abc={"driver": "revenue", "group_by": "sales_top_parent_id"},
    )
    attributes = {
        "sales_parent_id": [None, "hq", "branch", None],
        "finance_parent_id": [None, None, None, "fin-hq"],
    }
    result = classify(
        batch(ids, revenue=[10.0, 30.0, 60.0, 5.0], dimension="customer", attributes=attributes),
        rs,
        period_index=4,
    )
    assert [result.segment_label(k) for k in range(4)] == ["GOLD", "GOLD", "GOLD", "SILVER"]
    # grouped by family: hq's family ranks shop (60) first; solo is alone in its own group
    assert result.rank.tolist() == [3, 2, 1, 1] and result.group_size.tolist() == [3, 3, 3, 1]


def test_local_names_map_to_standard_segments_and_back() -> None:
    local = {"SAP-EU": {"Schluesselkunde": "PLATINUM", "Kernkunde": "GOLD", "A-Kunde": "GOLD"}}
    segments = DEFAULT_RULESET["segments"]
    assert standard_segment(local, segments, "SAP-EU", "Kernkunde") == "GOLD"
    assert standard_segment(local, segments, "SAP-US", "Kernkunde") is None  # another source's name
    assert standard_segment(local, segments, None, "SILVER") == "SILVER"  # already standard
    body = ruleset(local_names=local)
    assert standard_segment_name(body, "SAP-EU", "Kernkunde") == "GOLD"
    assert local_name(local, "SAP-EU", "GOLD") == "A-Kunde"  # smallest local name of GOLD
    assert local_name(local, "SAP-EU", "BRONZE") is None and local_name(local, "SAP-US", "GOLD") is None
    standard, missing, unknown = map_local_segments(
        local,
        segments,
        np.array(["SAP-EU", "SAP-EU", "SAP-US", "", "SAP-EU"]),
        np.array(["Kernkunde", "Bogus", "Kernkunde", "BRONZE", ""]),
        np.array([False, False, False, False, True]),
    )
    assert standard.tolist() == ["GOLD", "", "", "BRONZE", ""]
    assert missing.tolist() == [False, True, True, False, True]
    assert unknown.tolist() == [False, True, True, False, False]


def test_rules_condition_on_the_mapped_source_segment() -> None:
    rs = ruleset(
        local_names={"SAP-EU": {"Schluesselkunde": "PLATINUM"}},
        rules=[
            {
                "name": "erp-key-account",
                "when": {"field": "source_segment", "op": "eq", "value": "PLATINUM"},
                "segment": "PLATINUM",
            }
        ],
    )
    attributes = {
        "local_segment": ["Schluesselkunde", "Schluesselkunde", "Unbekannt", None],
        "source_system": ["SAP-EU", "SAP-US", "SAP-EU", "SAP-EU"],
    }
    result = classify(
        batch(["c1", "c2", "c3", "c4"], revenue=[1, 1, 1, 1], dimension="customer", attributes=attributes),
        rs,
        period_index=4,
    )
    assert [result.segment_label(k) for k in range(4)] == ["PLATINUM", "STANDARD", "STANDARD", "STANDARD"]
    flags = [result.record(k)["flags"] for k in range(4)]
    assert ["unknown_local_segment" in f for f in flags] == [False, True, True, False]
    assert any("maps to PLATINUM" in r for r in result.record(0)["reasons"])


def test_supplier_risk_fields_and_rollup_are_validated() -> None:
    bad = ruleset(
        abc={"driver": "revenue", "rollup": "region"},
        rules=[
            {
                "name": "risky",
                "when": {"field": "supplier_on_time_rate", "op": "lt", "value": "low"},
                "segment": "GOLD",
            }
        ],
    )
    paths = {issue.path for issue in validate(bad)}
    assert paths == {"abc.rollup", "rules[0].when.value"}
    good = ruleset(
        abc={"driver": "revenue", "rollup": "finance"},
        rules=[
            {
                "name": "risky",
                "when": {"field": "supplier_on_time_rate", "op": "lt", "value": 0.9},
                "segment": "GOLD",
            }
        ],
    )
    assert validate(good) == []


def test_rules_on_supplier_risk_leave_missing_risk_unmatched() -> None:
    rs = ruleset(
        rules=[
            {
                "name": "unreliable-supply",
                "when": {
                    "any": [
                        {"field": "supplier_on_time_rate", "op": "lt", "value": 0.8},
                        {"field": "supplier_lead_time_cv", "op": "gt", "value": 0.5},
                    ]
                },
                "segment": "GOLD",
            }
        ]
    )
    attributes = {
        "supplier_on_time_rate": [0.5, 0.95, np.nan, 0.9],
        "supplier_lead_time_cv": [0.1, 0.1, np.nan, 0.7],
    }
    result = classify(
        batch(["p1", "p2", "p3", "p4"], revenue=[1, 1, 1, 1], attributes=attributes), rs, period_index=4
    )
    assert [result.segment_label(k) for k in range(4)] == ["GOLD", "STANDARD", "STANDARD", "GOLD"]
