"""The contract floor ``min_segment``: a segment name (standard, or the source's local name mapped by
``local_names``) the entity never goes below on the ladder (lower tier better, then higher target);
combined with min_tier / min_service_level the strictest floor wins."""

from __future__ import annotations

import numpy as np

from services.classifier.domain.batch import NOT_NEW
from services.classifier.domain.engine import classify
from services.classifier.domain.floors import apply_contract_floors
from services.classifier.domain.ruleset import DEFAULT_RULESET, compile_ruleset

from .helpers import batch, ruleset

RS = compile_ruleset(DEFAULT_RULESET)
NAMES = tuple(sorted(RS.segments))
CODE = {name: code for code, name in enumerate(NAMES)}
POLICIES = [RS.segments[name] for name in NAMES]
LADDER = sorted({CODE[r.segment] for r in RS.rules} | {CODE[RS.default_segment]})  # as the engine builds it
NAN = float("nan")


def floors(
    computed: list[str],
    min_segment: list[str | None],
    *,
    min_tier: list[float] | None = None,
    min_level: list[float] | None = None,
    ladder: list[int] | None = None,
) -> tuple[list[str], list[bool], list[bool]]:
    n = len(computed)
    segment, lifted, unmet = apply_contract_floors(
        np.array([CODE[c] for c in computed], dtype=np.int64),
        POLICIES,
        np.array(min_tier if min_tier is not None else [NAN] * n, dtype=np.float64),
        np.array(min_level if min_level is not None else [NAN] * n, dtype=np.float64),
        LADDER if ladder is None else ladder,
        np.array([CODE[m] if m is not None else -1 for m in min_segment], dtype=np.int64),
    )
    return [NAMES[k] for k in segment.tolist()], lifted.tolist(), unmet.tolist()


def test_below_the_floor_segment_is_lifted_to_it_at_or_above_it_stays() -> None:
    segment, lifted, unmet = floors(
        ["STANDARD", "MAKE_TO_ORDER", "BRONZE", "GOLD", "PLATINUM", "STANDARD"],
        ["GOLD", "STANDARD", "GOLD", "GOLD", "SILVER", None],
    )
    # MAKE_TO_ORDER and STANDARD share tier 5; MAKE_TO_ORDER's lower target (0.85 < 0.90) is below
    assert segment == ["GOLD", "STANDARD", "GOLD", "GOLD", "PLATINUM", "STANDARD"]
    assert lifted == [True, True, True, False, False, False]
    assert unmet == [False] * 6


def test_the_same_rung_is_not_below_and_an_off_ladder_floor_lifts_to_the_lowest_ladder_rung_meeting_it() -> (
    None
):
    # NPI (exception only, not on the ladder) has SILVER's tier and target: neither is below the other
    segment, lifted, _ = floors(["NPI", "SILVER", "BRONZE", "STANDARD"], ["SILVER", "NPI", "NPI", "NPI"])
    assert segment == ["NPI", "SILVER", "SILVER", "SILVER"] and lifted == [False, False, True, True]


def test_a_floor_above_every_ladder_segment_is_unmet_and_lifts_nothing() -> None:
    ladder = [CODE["GOLD"], CODE["STANDARD"]]  # the rules never assign PLATINUM
    segment, lifted, unmet = floors(
        ["STANDARD", "GOLD", "STANDARD"], ["PLATINUM", "GOLD", "GOLD"], ladder=ladder
    )
    assert segment == ["STANDARD", "GOLD", "GOLD"]
    assert lifted == [False, False, True] and unmet == [True, False, False]
    # an off-ladder floor lifts to the lowest ladder rung not below it (SILVER is missing here: GOLD)
    assert floors(["STANDARD"], ["SILVER"], ladder=ladder)[0] == ["GOLD"]


def test_the_strictest_of_the_three_floors_wins() -> None:
    segment, lifted, unmet = floors(
        ["STANDARD"] * 6,
        ["GOLD", "GOLD", "SILVER", "BRONZE", "GOLD", None],
        min_tier=[3, 1, NAN, NAN, 4, 2],
        min_level=[NAN, NAN, 0.99, 0.95, 0.99, NAN],
    )
    assert segment == ["GOLD", "PLATINUM", "PLATINUM", "SILVER", "PLATINUM", "GOLD"]
    assert all(lifted) and not any(unmet)


def _rung(name: str) -> tuple[int, float]:
    policy = RS.segments[name]
    return policy.tier, -policy.service_level_target  # smaller = higher on the ladder


def test_vectorised_floors_match_a_per_entity_reference_on_random_entities() -> None:
    """Reference: each floor alone (the scalar rule of its docstring), then the highest rung of the computed
    segment and the floors' results (the default ladder never gives a better tier a lower target)."""
    rng = np.random.default_rng(7)
    n = 2000
    names = list(NAMES)
    ladder_names = [NAMES[k] for k in LADDER]
    computed = [names[k] for k in rng.integers(0, len(names), n)]
    min_segment = [None if k == len(names) else names[k] for k in rng.integers(0, len(names) + 1, n)]
    min_tier = [NAN if t == 0 else float(t) for t in rng.integers(0, 6, n)]
    min_level = [[NAN, 0.9, 0.95, 0.975, 0.99, 0.999][k] for k in rng.integers(0, 6, n)]
    segment, lifted, unmet = floors(computed, min_segment, min_tier=min_tier, min_level=min_level)

    def lift(meets: list[str]) -> list[tuple[int, float]]:
        """The lowest ladder rung among the segments meeting one floor (none: the floor is unmet)."""
        return [max(_rung(s) for s in meets)] if meets else []

    def reference(i: int) -> tuple[tuple[int, float], bool]:
        base = computed[i]
        below: list[list[str]] = []
        if min_segment[i] is not None and _rung(base) > _rung(min_segment[i]):
            below.append([s for s in ladder_names if _rung(s) <= _rung(min_segment[i])])
        if not np.isnan(min_tier[i]) and RS.segments[base].tier > min_tier[i]:
            below.append([s for s in ladder_names if RS.segments[s].tier <= min_tier[i]])
        if not np.isnan(min_level[i]) and RS.segments[base].service_level_target < min_level[i]:
            below.append([s for s in ladder_names if RS.segments[s].service_level_target >= min_level[i]])
        rungs = [_rung(base)] + [rung for meets in below for rung in lift(meets)]
        return min(rungs), any(not meets for meets in below)

    for i in range(n):
        rung, missed = reference(i)
        assert _rung(segment[i]) == rung, (
            i,
            computed[i],
            min_segment[i],
            min_tier[i],
            min_level[i],
            segment[i],
        )
        assert unmet[i] == missed, i
        assert lifted[i] == (segment[i] != computed[i]), i


LOCAL = {"SAP-EU": {"GOLD-EU": "GOLD", "Kernkunde": "GOLD"}, "SAP-US": {"Gold": "GOLD"}}


def test_engine_maps_local_floor_names_per_source_and_explains_the_lift() -> None:
    ids = ["big", "local", "standard", "fallback", "above", "bogus", "combined", "none"]
    result = classify(
        batch(
            ids,
            revenue=[1000, 1, 1, 1, 1000, 1, 1, 1],
            dimension="customer",
            attributes={
                "min_segment": ["SILVER", "GOLD-EU", "SILVER", "Gold", "BRONZE", "Bogus", "GOLD-EU", None],
                "min_segment_source": [
                    "SAP-EU",
                    "SAP-EU",
                    "SAP-EU",
                    None,
                    "SAP-EU",
                    "SAP-EU",
                    "SAP-EU",
                    None,
                ],
                "source_system": [None, None, None, "SAP-US", None, None, None, None],
                "min_tier": [None, None, None, None, None, None, 3, None],
            },
        ),
        ruleset(local_names=LOCAL),
        period_index=4,
    )
    record = {i: result.record(k) for k, i in enumerate(ids)}
    assert record["big"]["segment"] == "GOLD" and "floor_applied" not in record["big"]["flags"]  # A -> GOLD
    assert record["local"]["segment"] == "GOLD" and "floor_applied" in record["local"]["flags"]
    assert (
        "contract floor (min_segment GOLD (local GOLD-EU)) lifts STANDARD to GOLD"
        in record["local"]["reasons"]
    )
    assert record["standard"]["segment"] == "SILVER"
    assert "contract floor (min_segment SILVER) lifts STANDARD to SILVER" in record["standard"]["reasons"]
    # without its own source the floor name is read in the entity's source system
    assert record["fallback"]["segment"] == "GOLD"
    assert record["above"]["segment"] == "GOLD" and not any(
        "contract floor" in r for r in record["above"]["reasons"]
    )
    assert record["bogus"]["segment"] == "STANDARD" and record["bogus"]["flags"] == ["unknown_min_segment"]
    assert any("min_segment 'Bogus' is neither a segment" in r for r in record["bogus"]["reasons"])
    assert record["combined"]["segment"] == "GOLD"
    assert (
        "contract floor (min_tier 3, min_segment GOLD (local GOLD-EU)) lifts STANDARD to GOLD"
        in record["combined"]["reasons"]
    )
    assert record["none"]["segment"] == "STANDARD" and record["none"]["flags"] == []
    assert result.min_segment is not None and result.min_segment.tolist()[:4] == [
        "SILVER",
        "GOLD",
        "SILVER",
        "GOLD",
    ]


def test_engine_floor_lifts_an_exception_segment_and_is_off_with_contract_floors() -> None:
    launch = np.array([0, NOT_NEW], dtype=np.int64)
    entities = batch(
        ["new", "old"],
        revenue=[1, 99],
        launch_period=launch,
        attributes={"min_segment": ["GOLD-EU", "Bogus"], "source_system": ["SAP-EU", "SAP-EU"]},
    )
    on = classify(entities, ruleset(local_names=LOCAL), period_index=2)
    assert on.record(0)["segment"] == "GOLD" and on.record(0)["matched_rule"] == "exception:new_product"
    assert any("lifts NPI to GOLD" in r for r in on.record(0)["reasons"])
    off = classify(entities, ruleset(local_names=LOCAL, contract_floors=False), period_index=2)
    assert off.record(0)["segment"] == "NPI" and off.record(0)["flags"] == ["npi"]
    assert off.record(1)["flags"] == [] and off.min_segment is None
