"""Vectorised condition masks (all/any/not, operators, missing values) and first-match order."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from services.classifier.domain.conditions import Column, condition_mask, first_match

COLUMNS = {
    "revenue": Column("number", np.array([100.0, 5.0, np.nan, 50.0])),
    "abc": Column("class", np.array([0, 1, 2, 0], dtype=np.int8), labels={"A": 0, "B": 1, "C": 2}),
    "region": Column(
        "text", np.array(["EU", "US", "", "APAC"]), missing=np.array([False, False, True, False])
    ),
}


def mask(node: dict[str, Any]) -> list[bool]:
    return condition_mask(node, COLUMNS.__getitem__, 4).tolist()


def test_comparisons() -> None:
    assert mask({"field": "revenue", "op": "ge", "value": 50}) == [True, False, False, True]
    assert mask({"field": "revenue", "op": "lt", "value": 50}) == [False, True, False, False]
    assert mask({"field": "abc", "op": "eq", "value": "A"}) == [True, False, False, True]
    assert mask({"field": "abc", "op": "in", "value": ["B", "C"]}) == [False, True, True, False]
    assert mask({"field": "region", "op": "in", "value": ["EU", "APAC"]}) == [True, False, False, True]


def test_missing_values_fail_comparisons_and_pass_their_negations() -> None:
    assert mask({"field": "revenue", "op": "gt", "value": 0}) == [True, True, False, True]
    assert mask({"field": "revenue", "op": "ne", "value": 5}) == [True, False, True, True]
    assert mask({"field": "region", "op": "eq", "value": ""}) == [False, False, False, False]
    assert mask({"field": "region", "op": "not_in", "value": ["EU"]}) == [False, True, True, True]
    assert mask({"not": {"field": "region", "op": "eq", "value": "EU"}}) == [False, True, True, True]


def test_combinators() -> None:
    node = {
        "any": [
            {
                "all": [
                    {"field": "abc", "op": "eq", "value": "A"},
                    {"field": "region", "op": "eq", "value": "EU"},
                ]
            },
            {"field": "revenue", "op": "le", "value": 5},
        ]
    }
    assert mask(node) == [True, True, False, False]


def test_first_match_wins_and_no_match_is_minus_one() -> None:
    masks = [np.array([False, True, False]), np.array([True, True, False])]
    assert first_match(masks, 3).tolist() == [1, 0, -1]
    assert first_match([], 2).tolist() == [-1, -1]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.booleans(), min_size=5, max_size=5), min_size=1, max_size=6))
def test_first_match_equals_a_loop(rows: list[list[bool]]) -> None:
    result = first_match([np.array(r) for r in rows], 5)
    for entity in range(5):
        expected = next((k for k, r in enumerate(rows) if r[entity]), -1)
        assert result[entity] == expected
