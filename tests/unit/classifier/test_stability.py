"""Hysteresis: persistence for N runs or a margin, the per-run move cap, override locks and reverts."""

from __future__ import annotations

from typing import Any

import pytest

from services.classifier.domain.errors import InvalidInput
from services.classifier.domain.stability import Computed, EntityState, stabilise

PARAMS: dict[str, Any] = {"persistence_runs": 3, "margin": 0.05, "max_move_share": 1.0, "locks": {}}


def test_first_classification_applies_immediately() -> None:
    state, changes, deferred = stabilise({}, {"a": Computed("GOLD", 0.0)}, **PARAMS)
    assert state["a"] == EntityState("GOLD")
    assert [(c.entity_id, c.old_segment, c.new_segment) for c in changes] == [("a", None, "GOLD")]
    assert deferred == []


def test_change_near_the_boundary_waits_for_n_consecutive_runs() -> None:
    state = {"a": EntityState("SILVER")}
    for run in (1, 2):
        state, changes, deferred = stabilise(state, {"a": Computed("GOLD", 0.01)}, **PARAMS)
        assert changes == [] and state["a"].segment == "SILVER"
        assert state["a"].pending_runs == run and deferred[0].pending_runs == run
        assert f"persisted {run} of 3 runs" in deferred[0].reason
    state, changes, deferred = stabilise(state, {"a": Computed("GOLD", 0.01)}, **PARAMS)
    assert [(c.old_segment, c.new_segment) for c in changes] == [("SILVER", "GOLD")]
    assert "persisted 3 of 3 runs" in changes[0].reasons[0]
    assert state["a"] == EntityState("GOLD") and deferred == []


def test_persistence_resets_when_the_computed_segment_flips() -> None:
    state = {"a": EntityState("SILVER")}
    state, _, _ = stabilise(state, {"a": Computed("GOLD", 0.0)}, **PARAMS)
    state, _, _ = stabilise(state, {"a": Computed("GOLD", 0.0)}, **PARAMS)
    state, _, _ = stabilise(state, {"a": Computed("SILVER", 0.0)}, **PARAMS)  # back: pending cleared
    assert state["a"] == EntityState("SILVER")
    state, changes, _ = stabilise(state, {"a": Computed("GOLD", 0.0)}, **PARAMS)
    assert changes == [] and state["a"].pending_runs == 1
    state, _, _ = stabilise(state, {"a": Computed("BRONZE", 0.0)}, **PARAMS)  # another target restarts
    assert state["a"].pending_segment == "BRONZE" and state["a"].pending_runs == 1


def test_clearing_the_boundary_by_the_margin_applies_at_once() -> None:
    _, changes, _ = stabilise({"a": EntityState("SILVER")}, {"a": Computed("GOLD", 0.05)}, **PARAMS)
    assert changes[0].new_segment == "GOLD" and "clears the boundary" in changes[0].reasons[0]
    _, changes, deferred = stabilise({"a": EntityState("SILVER")}, {"a": Computed("GOLD", 0.0499)}, **PARAMS)
    assert changes == [] and len(deferred) == 1


def test_move_cap_takes_largest_clearance_then_id() -> None:
    previous = {k: EntityState("SILVER") for k in ("a", "b", "c", "d", "e", "f", "g", "h", "i", "j")}
    computed = {k: Computed("SILVER", 0.0) for k in previous}
    computed.update({"d": Computed("GOLD", 0.2), "b": Computed("GOLD", 0.3), "c": Computed("GOLD", 0.2),
                     "a": Computed("GOLD", 0.1)})  # fmt: skip
    params = {**PARAMS, "max_move_share": 0.25}  # floor(0.25 * 10) = 2 moves
    state, changes, deferred = stabilise(previous, computed, **params)
    assert [c.entity_id for c in changes] == ["b", "c"]
    assert [d.entity_id for d in deferred] == ["a", "d"]
    assert all("move cap" in d.reason for d in deferred)
    assert state["a"].pending_segment == "GOLD" and state["a"].segment == "SILVER"
    # next run: the waiting ones are still eligible and move
    state, changes, _ = stabilise(
        state,
        {
            k: Computed(state[k].pending_segment or state[k].segment, 0.2)
            if k in ("a", "d")
            else Computed(state[k].segment, 0.0)
            for k in state
        },
        **params,
    )
    assert [c.entity_id for c in changes] == ["a", "d"]


def test_locks_beat_rules_and_revert_when_they_end() -> None:
    previous = {"a": EntityState("SILVER")}
    params = {**PARAMS, "locks": {"a": "PLATINUM"}}
    state, changes, _ = stabilise(previous, {"a": Computed("BRONZE", 0.9)}, **params)
    assert state["a"] == EntityState("PLATINUM", overridden=True)
    assert changes[0].new_segment == "PLATINUM" and "override" in changes[0].reasons[0]
    state, changes, _ = stabilise(state, {"a": Computed("BRONZE", 0.9)}, **params)
    assert changes == []  # still locked, nothing moves
    state, changes, _ = stabilise(state, {"a": Computed("BRONZE", 0.0)}, **PARAMS)
    assert state["a"] == EntityState("BRONZE")
    assert changes[0].reasons == ("override ended: reverts",)


def test_locks_are_not_counted_against_the_cap_and_unknown_entities_are_kept() -> None:
    previous = {"a": EntityState("SILVER"), "gone": EntityState("GOLD")}
    params = {**PARAMS, "max_move_share": 0.0, "locks": {"a": "GOLD"}}
    state, changes, _ = stabilise(previous, {"a": Computed("SILVER", 0.0)}, **params)
    assert state["a"].segment == "GOLD" and state["gone"] == EntityState("GOLD")
    assert len(changes) == 1


@pytest.mark.parametrize(
    "bad", [{"persistence_runs": 0}, {"margin": -0.1}, {"max_move_share": 1.5}, {"max_move_share": -0.1}]
)
def test_parameters_are_checked(bad: dict[str, float]) -> None:
    with pytest.raises(InvalidInput):
        stabilise({}, {}, **{**PARAMS, **bad})


def test_engine_arrays_feed_stabilise() -> None:
    import numpy as np

    from services.classifier.domain.engine import classify
    from services.classifier.domain.ruleset import DEFAULT_RULESET
    from services.classifier.domain.stability import computed_from_arrays

    from .helpers import batch

    result = classify(batch(list("abcde"), revenue=[50, 30, 10, 5, 5]), DEFAULT_RULESET, period_index=4)
    names = np.array(result.segment_names)[result.segment]
    computed = computed_from_arrays(result.ids, names, result.boundary_clearance)
    assert computed["c"] == Computed("SILVER", 0.0)  # share before 0.80 sits on the A/B cutoff
    previous = {"c": EntityState("GOLD")}
    _, changes, deferred = stabilise(previous, {"c": computed["c"]}, **PARAMS)
    assert changes == [] and deferred[0].proposed_segment == "SILVER"
