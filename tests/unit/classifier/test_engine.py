"""The engine end to end on hand-worked batches: rules, exceptions, floors, regulation, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest

from services.classifier.domain.abc import ABC_LABELS, classify_abc
from services.classifier.domain.batch import NOT_NEW, BucketMarks, EntityBatch
from services.classifier.domain.engine import ENGINE_VERSION, classify
from services.classifier.domain.errors import DomainError, InvalidInput, InvalidRuleSet
from services.classifier.domain.ruleset import DEFAULT_RULESET, TEMPLATE_ORDER_LINES, content_hash

from .helpers import batch, ruleset

SMOOTH = [4.0, 4.0, 4.0, 4.0]  # CV 0 -> X, smooth
LUMPY = [0.0, 0.0, 1.0, 9.0]  # CV > 1 -> Z, ADI 2, CV2 = 2*64/100 -> lumpy


def by_id(result) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {record["id"]: record for record in result.records()}


def test_default_rules_in_order_first_match_wins() -> None:
    # revenue shares before: p1 0, p2 .30, p3 .60, p4 .80, p5 .90, p6 .95, p7 .97, p8 1.0 (zero)
    ids = ["p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8"]
    result = classify(
        batch(
            ids,
            revenue=[30, 30, 20, 10, 5, 2, 3, 0],
            margin=[9, 8.7, 1, 1, 1, 1, 1, 0],
            demand=[SMOOTH, SMOOTH, SMOOTH, SMOOTH, LUMPY, LUMPY, SMOOTH, SMOOTH],
            attributes={"strategic": [None, None, None, None, None, None, None, True]},
        ),
        DEFAULT_RULESET,
        period_index=4,
    )
    got = by_id(result)
    assert [got[i]["abc"] for i in ids] == ["A", "A", "A", "B", "B", "C", "C", "C"]
    # p1: margin_pct 0.30 >= 0.3 -> PLATINUM; p2: 0.29 -> GOLD; p4: B and X -> SILVER;
    # p5: B and Z (lumpy) -> BRONZE (rule 5 precedes the lumpy rule); p6: C lumpy -> MAKE_TO_ORDER;
    # p7: C smooth -> default STANDARD; p8: zero revenue but strategic (rule 1) -> PLATINUM
    assert [got[i]["segment"] for i in ids] == [
        "PLATINUM", "GOLD", "GOLD", "SILVER", "BRONZE", "MAKE_TO_ORDER", "STANDARD", "PLATINUM",
    ]  # fmt: skip
    assert [got[i]["matched_rule"] for i in ids] == [
        "a-high-margin", "a-class", "a-class", "b-stable", "b-class", "lumpy-make-to-order", "default",
        "strategic-account",
    ]  # fmt: skip
    assert got["p5"]["pattern"] == "lumpy" and got["p5"]["xyz"] == "Z"
    assert got["p8"]["flags"] == ["zero_driver"]
    assert got["p1"]["tier"] == 1 and got["p7"]["tier"] == 5


def test_reasons_explain_the_decision() -> None:
    result = classify(
        batch(["a", "b", "c", "d", "e"], revenue=[50, 30, 10, 5, 5]), DEFAULT_RULESET, period_index=4
    )
    reasons = by_id(result)
    assert (
        reasons["a"]["reasons"][0] == "revenue 50 ranks 1 of 5; cumulative share before it 0.00 < 0.80 -> A"
    )
    assert (
        reasons["c"]["reasons"][0]
        == "revenue 10 ranks 3 of 5; cumulative share before it 0.80 >= 0.80 and < 0.95 -> B"
    )
    assert (
        reasons["e"]["reasons"][0] == "revenue 5 ranks 5 of 5; cumulative share before it 0.95 >= 0.95 -> C"
    )
    assert reasons["a"]["reasons"][1] == "CV 0.00 <= 0.50 -> X"
    assert reasons["a"]["reasons"][2] == "ADI 1.00 < 1.32 and CV2 0.00 < 0.49 -> smooth"
    assert reasons["a"]["reasons"][3] == "rule 'a-class' (#3) matched first -> GOLD"
    assert reasons["e"]["reasons"][3] == "no rule matched -> default segment STANDARD"


def test_missing_cost_is_flagged_never_read_as_zero() -> None:
    rules = ruleset(
        rules=[
            {"name": "thin", "when": {"field": "margin_pct", "op": "lt", "value": 0.1}, "segment": "BRONZE"}
        ]
    )
    result = classify(
        batch(["known", "unknown"], revenue=[10, 10], margin=[0.0, np.nan]), rules, period_index=4
    )
    got = by_id(result)
    assert got["known"]["segment"] == "BRONZE"  # margin 0 is a real zero
    assert got["unknown"]["segment"] == "STANDARD"  # unknown margin matches nothing
    assert got["unknown"]["flags"] == ["missing_cost"] and got["known"]["flags"] == []
    assert any("cost is missing" in r for r in got["unknown"]["reasons"])


def test_all_zero_demand() -> None:
    result = classify(batch(["a"], revenue=[1], demand=[[0, 0, 0]]), DEFAULT_RULESET, period_index=3)
    record = result.record(0)
    assert record["xyz"] is None and record["pattern"] == "none" and record["cv"] is None
    assert "no_demand" in record["flags"]
    assert record["reasons"][1] == "no demand in the 3 buckets -> no XYZ class"


def test_grouped_abc_matches_per_group_ranking() -> None:
    ids = [f"e{i:02d}" for i in range(12)]
    revenue = [5, 40, 3, 9, 9, 1, 70, 2, 8, 0, 6, 6]
    regions = ["EU", "US", "EU", "US", "EU", "EU", "US", "US", "EU", "US", None, "EU"]
    rules = ruleset(abc={"driver": "revenue", "cutoffs": [0.8, 0.95], "group_by": "region"})
    result = classify(batch(ids, revenue=revenue, attributes={"region": regions}), rules, period_index=4)
    for region in ("EU", "US", None):
        members = [k for k in range(12) if regions[k] == region]
        alone = classify_abc(
            np.array([revenue[k] for k in members], float), np.array([ids[k] for k in members])
        )
        for position, k in enumerate(members):
            assert result.abc[k] == alone.abc[position]
            assert result.rank[k] == alone.rank[position]
            assert result.cum_share_before[k] == alone.cum_share_before[position]
    assert "within region EU" in result.record(0)["reasons"][0]
    assert "within region (missing)" in result.record(10)["reasons"][0]


def test_defaults_fill_missing_attributes() -> None:
    rules = ruleset(
        defaults={"region": "EU"},
        rules=[{"name": "eu", "when": {"field": "region", "op": "eq", "value": "EU"}, "segment": "SILVER"}],
    )
    result = classify(
        batch(["a", "b", "c"], revenue=[1, 1, 1], attributes={"region": ["EU", None, "US"]}),
        rules,
        period_index=4,
    )
    assert [r["segment"] for r in result.records()] == ["SILVER", "SILVER", "STANDARD"]
    absent = classify(batch(["a"], revenue=[1]), rules, period_index=4)
    assert absent.record(0)["segment"] == "SILVER"


def test_dimensions_are_ranked_separately() -> None:
    result = classify(
        batch(
            ["x", "y", "x2", "y2"],
            revenue=[90, 10, 1, 1],
            dimension=["customer", "customer", "product", "product"],
        ),
        DEFAULT_RULESET,
        period_index=4,
    )
    assert [ABC_LABELS[c] for c in result.abc] == ["A", "B", "A", "A"]
    assert result.cum_share_before.tolist() == [0.0, 0.9, 0.0, 0.5]
    assert result.record(2)["dimension"] == "product"


def test_new_product_is_npi_until_k_periods_after_launch() -> None:
    launch = np.array([10, NOT_NEW], dtype=np.int64)
    entities = batch(["new", "old"], revenue=[1, 99], launch_period=launch)
    k = DEFAULT_RULESET["exceptions"]["new_product"]["exit_after_periods"]
    during = by_id(classify(entities, DEFAULT_RULESET, period_index=10 + k - 1))
    assert during["new"]["segment"] == "NPI" and during["new"]["matched_rule"] == "exception:new_product"
    assert "npi" in during["new"]["flags"] and during["old"]["segment"] == "GOLD"
    after = by_id(classify(entities, DEFAULT_RULESET, period_index=10 + k))
    assert after["new"]["segment"] == "STANDARD" and "npi" not in after["new"]["flags"]  # C by revenue
    before_launch = by_id(classify(entities, DEFAULT_RULESET, period_index=3))
    assert before_launch["new"]["segment"] == "NPI"


def test_promo_spike_is_excluded_from_xyz_and_pattern() -> None:
    row = [4.0, 4.0, 40.0, 4.0, 4.0]
    marks = BucketMarks.from_pairs([(0, 2)])
    flagged = classify(batch(["p"], revenue=[1], demand=[row], promo=marks), DEFAULT_RULESET, period_index=5)
    record = flagged.record(0)
    assert record["cv"] == 0.0 and record["adi"] == 1.0 and record["xyz"] == "X"
    assert "promo" in record["flags"] and flagged.horizon[0] == 4
    included = ruleset(exceptions={"promo": {"handling": "include"}})
    kept = classify(batch(["p"], revenue=[1], demand=[row], promo=marks), included, period_index=5)
    assert kept.record(0)["cv"] > 1.0 and "promo" in kept.record(0)["flags"]


def test_one_time_project_can_route_to_a_segment() -> None:
    rules = ruleset(exceptions={"one_time_project": {"handling": "segment", "segment": "MAKE_TO_ORDER"}})
    marks = BucketMarks.from_pairs([(1, 0)])
    result = by_id(
        classify(batch(["a", "b"], revenue=[50, 50], one_time_project=marks), rules, period_index=4)
    )
    assert (
        result["b"]["segment"] == "MAKE_TO_ORDER"
        and result["b"]["matched_rule"] == "exception:one_time_project"
    )
    assert result["a"]["segment"] == "GOLD"


def test_contract_floors_lift_and_never_lower() -> None:
    result = by_id(
        classify(
            batch(
                ["big", "tiny", "tiny2", "tiny3"],
                revenue=[97, 1, 1, 1],
                attributes={"min_tier": [3, 2, None, None], "min_service_level": [None, None, 0.95, None]},
            ),
            DEFAULT_RULESET,
            period_index=4,
        )
    )
    assert result["big"]["segment"] == "GOLD" and "floor_applied" not in result["big"]["flags"]
    assert result["tiny"]["segment"] == "GOLD" and "floor_applied" in result["tiny"]["flags"]
    assert any("contract floor (min_tier 2) lifts STANDARD to GOLD" in r for r in result["tiny"]["reasons"])
    # cheapest ladder segment with target >= 0.95 is SILVER (fill rate 0.95), never the NPI segment
    assert result["tiny2"]["segment"] == "SILVER"
    assert result["tiny3"]["segment"] == "STANDARD" and result["tiny3"]["flags"] == []


def test_contract_floors_off_and_unmet() -> None:
    off = ruleset(contract_floors=False)
    result = classify(
        batch(["a", "b"], revenue=[99, 1], attributes={"min_tier": [None, 1]}), off, period_index=4
    )
    assert result.record(1)["segment"] == "STANDARD"
    unmet = classify(
        batch(["a", "b"], revenue=[99, 1], attributes={"min_service_level": [None, 0.999]}),
        DEFAULT_RULESET,
        period_index=4,
    )
    assert "floor_unmet" in unmet.record(1)["flags"] and unmet.record(1)["segment"] == "STANDARD"


def test_regulated_region_pins_one_policy_with_justification() -> None:
    rules = ruleset(regulated_regions={"FR": {"segment_policy": "STANDARD", "justification": "Loi X art. 4"}})
    result = by_id(
        classify(
            batch(["a", "b"], revenue=[90, 10], attributes={"region": ["FR", "DE"]}), rules, period_index=4
        )
    )
    assert result["a"]["segment"] == "GOLD" and result["a"]["policy_segment"] == "STANDARD"
    assert result["a"]["tier"] == 5 and "regulated" in result["a"]["flags"]
    assert any("Loi X art. 4" in r for r in result["a"]["reasons"])
    assert result["b"]["policy_segment"] == result["b"]["segment"] and "regulated" not in result["b"]["flags"]


def test_template_on_order_lines_alone() -> None:
    entities = EntityBatch(
        ids=np.array(["a", "b", "c"]),
        dimension="customer",
        measures={"order_lines": np.array([80.0, 15.0, 5.0])},
        demand=np.zeros((3, 0)),
    )
    result = classify(entities, TEMPLATE_ORDER_LINES, period_index=0)
    assert [r["segment"] for r in result.records()] == ["GOLD", "SILVER", "STANDARD"]


def test_same_inputs_same_bytes_and_hash() -> None:
    rng = np.random.default_rng(42)
    n = 300
    ids = [f"c{i:04d}" for i in rng.permutation(n)]
    entities = batch(
        ids,
        revenue=rng.integers(0, 1000, n).astype(float).tolist(),
        margin=rng.integers(0, 300, n).astype(float).tolist(),
        demand=rng.poisson(1.0, (n, 26)).astype(float).tolist(),
        attributes={"strategic": (rng.random(n) < 0.05).tolist()},
    )
    first = classify(entities, DEFAULT_RULESET, period_index=26).to_json_bytes()
    second = classify(entities, json.loads(json.dumps(DEFAULT_RULESET)), period_index=26).to_json_bytes()
    assert first == second
    document = json.loads(first)
    assert document["ruleset_hash"] == content_hash(DEFAULT_RULESET)
    assert document["engine_version"] == ENGINE_VERSION

    order = rng.permutation(n)
    shuffled = batch(
        [ids[k] for k in order],
        revenue=[entities.measures["revenue"][k] for k in order],
        margin=[entities.measures["margin"][k] for k in order],
        demand=[entities.demand[k].tolist() for k in order],
        attributes={"strategic": [entities.attributes["strategic"][k] for k in order]},
    )
    again = {
        r["id"]: r
        for r in json.loads(classify(shuffled, DEFAULT_RULESET, period_index=26).to_json_bytes())["results"]
    }
    assert again == {r["id"]: r for r in document["results"]}


def test_invalid_inputs_raise_domain_errors() -> None:
    with pytest.raises(InvalidInput, match="duplicate entity id 'a'"):
        classify(batch(["a", "b", "a"], revenue=[1, 2, 3]), DEFAULT_RULESET, period_index=0)
    with pytest.raises(InvalidRuleSet) as caught:
        classify(batch(["a"], revenue=[1]), ruleset(default_segment="NOPE"), period_index=0)
    assert isinstance(caught.value, DomainError) and caught.value.issues[0].path == "default_segment"
    bad = EntityBatch(ids=np.array(["a", "b"]), dimension="product", measures={}, demand=np.zeros((3, 2)))
    with pytest.raises(InvalidInput, match="demand"):
        classify(bad, DEFAULT_RULESET, period_index=0)


def test_boundary_clearance_is_distance_to_the_nearest_cutoff() -> None:
    result = classify(batch(list("abcde"), revenue=[50, 30, 10, 5, 5]), DEFAULT_RULESET, period_index=4)
    expected = [min(abs(s - 0.8), abs(s - 0.95)) for s in [0.0, 0.5, 0.8, 0.9, 0.95]]
    assert np.allclose(result.boundary_clearance, expected)
    assert result.segment_counts()["GOLD"] == 2
