"""ABC by cumulative share before (DESIGN.md section 6): worked examples, ties, zero drivers, groups."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from services.classifier.domain.abc import ABC_LABELS, ascending_id_order, classify_abc, ranking_order

from .reference import abc_reference


def labels(codes: np.ndarray) -> list[str]:
    return [ABC_LABELS[c] for c in codes]


def test_worked_example_from_the_brief() -> None:
    # revenues [50, 30, 10, 5, 5] -> cumulative share before [0, .5, .8, .9, .95] -> A, A, B, B, C
    result = classify_abc(np.array([50.0, 30, 10, 5, 5]), np.array(["e1", "e2", "e3", "e4", "e5"]))
    assert result.cum_share_before.tolist() == [0.0, 0.5, 0.8, 0.9, 0.95]
    assert labels(result.abc) == ["A", "A", "B", "B", "C"]
    assert result.rank.tolist() == [1, 2, 3, 4, 5]
    assert not result.zero_driver.any()


def test_share_before_exactly_at_the_cutoff_is_the_next_class() -> None:
    # 0.80 before -> B (A needs < 0.80); 0.95 before -> C (B needs < 0.95)
    result = classify_abc(np.array([80.0, 15, 5]), np.array(["a", "b", "c"]))
    assert result.cum_share_before.tolist() == [0.0, 0.8, 0.95]
    assert labels(result.abc) == ["A", "B", "C"]


def test_the_first_entity_is_a_even_when_it_holds_everything() -> None:
    result = classify_abc(np.array([100.0, 0.0]), np.array(["big", "none"]))
    assert labels(result.abc) == ["A", "C"]


def test_ties_by_value_then_id_ascending() -> None:
    # equal values: the smaller id ranks first, whatever the input order
    ids = np.array(["z", "m", "a", "q"])
    values = np.array([10.0, 10.0, 10.0, 70.0])
    result = classify_abc(values, ids)
    rank_of = dict(zip(ids.tolist(), result.rank.tolist(), strict=True))
    assert rank_of == {"q": 1, "a": 2, "m": 3, "z": 4}
    share_of = dict(zip(ids.tolist(), result.cum_share_before.tolist(), strict=True))
    assert share_of["a"] == 0.7 and math.isclose(share_of["m"], 0.8) and math.isclose(share_of["z"], 0.9)
    assert labels(result.abc)[ids.tolist().index("a")] == "A"
    assert labels(result.abc)[ids.tolist().index("m")] == "B"


def test_zero_negative_and_missing_drivers_are_c_and_flagged() -> None:
    values = np.array([40.0, 0.0, -5.0, np.nan, 60.0])
    result = classify_abc(values, np.array(["a", "b", "c", "d", "e"]))
    assert labels(result.abc) == ["A", "C", "C", "C", "A"]
    assert result.zero_driver.tolist() == [False, True, True, True, False]
    # negatives do not reduce the total: the positive mass is 100
    assert result.cum_share_before.tolist() == [0.6, 1.0, 1.0, 1.0, 0.0]
    assert result.group_total.tolist() == [100.0] * 5
    # non-positive entities rank after every positive one, NaN last
    assert result.rank.tolist() == [2, 3, 4, 5, 1]


def test_all_zero_drivers() -> None:
    result = classify_abc(np.zeros(3), np.array(["a", "b", "c"]))
    assert labels(result.abc) == ["C", "C", "C"]
    assert result.zero_driver.all()


def test_empty_input() -> None:
    result = classify_abc(np.empty(0), np.empty(0, dtype=np.str_))
    assert result.abc.shape == (0,)


def test_custom_cutoffs() -> None:
    result = classify_abc(np.array([50.0, 30, 10, 5, 5]), np.array(list("abcde")), cutoffs=(0.5, 0.9))
    assert labels(result.abc) == ["A", "B", "B", "C", "C"]


def test_grouped_ranks_each_group_separately() -> None:
    ids = np.array(["e1", "e2", "e3", "u1", "u2"])
    values = np.array([10.0, 90.0, 0.0, 1.0, 3.0])
    groups = np.array([0, 0, 0, 1, 1])
    result = classify_abc(values, ids, groups=groups)
    assert result.rank.tolist() == [2, 1, 3, 2, 1]
    assert result.cum_share_before.tolist() == [0.9, 0.0, 1.0, 0.75, 0.0]
    assert labels(result.abc) == ["B", "A", "C", "A", "A"]
    assert result.group_size.tolist() == [3, 3, 3, 2, 2]
    assert result.group_total.tolist() == [100.0, 100.0, 100.0, 4.0, 4.0]


def test_ascending_id_order_fast_path_and_general_case() -> None:
    assert ascending_id_order(np.array(["a", "b", "c"])).tolist() == [0, 1, 2]
    assert ascending_id_order(np.array(["c", "a", "b"])).tolist() == [1, 2, 0]


def test_ranking_order_is_group_value_desc_id_asc() -> None:
    order = ranking_order(
        np.array([5.0, 5.0, 9.0, 1.0]), np.array(["b", "a", "c", "d"]), np.array([1, 1, 1, 0])
    )
    assert order.tolist() == [3, 2, 1, 0]


id_strategy = st.text(alphabet="abcdefgh", min_size=1, max_size=3)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            id_strategy,
            st.one_of(st.integers(-5, 50).map(float), st.just(math.nan)),
            st.sampled_from(["EU", "US", "APAC"]),
        ),
        min_size=1,
        max_size=40,
        unique_by=lambda t: t[0],
    ),
    st.booleans(),
)
def test_vectorised_equals_plain_loop(rows: list[tuple[str, float, str]], grouped: bool) -> None:
    ids = [r[0] for r in rows]
    values = [r[1] for r in rows]
    groups = [r[2] for r in rows]
    expected = abc_reference(values, ids, groups=groups if grouped else None)
    result = classify_abc(np.array(values), np.array(ids), groups=np.array(groups) if grouped else None)
    for k, entity in enumerate(ids):
        label, share, rank = expected[entity]
        assert ABC_LABELS[result.abc[k]] == label
        assert math.isclose(result.cum_share_before[k], share, abs_tol=1e-12)
        assert result.rank[k] == rank
