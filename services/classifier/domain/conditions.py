"""Vectorised rule conditions: each condition tree compiles to one boolean mask over all entities.

Semantics: ``all`` = AND, ``any`` = OR, ``not`` = negation; a comparison with a missing value is False
for eq, lt, le, gt, ge and in, and therefore True for its negations ne and not_in (ne == not eq).
First match wins: the matched rule of an entity is the lowest index whose mask is True.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

NO_RULE = -1


@dataclass(frozen=True)
class Column:
    """A field the conditions can read: ``kind`` is "number", "text" or "class" (codes + ``labels``)."""

    kind: str
    values: np.ndarray
    missing: np.ndarray | None = None
    labels: Mapping[str, int] | None = None


ColumnSource = Callable[[str], Column]


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool | int | float):
        return float(value)
    return None


def _equal_mask(column: Column, value: Any) -> np.ndarray:
    if column.kind == "class":
        assert column.labels is not None
        code = column.labels.get(value) if isinstance(value, str) else None
        return column.values == code if code is not None else np.zeros(column.values.shape[0], dtype=bool)
    if column.kind == "number":
        number = _as_number(value)
        if number is None:
            return np.zeros(column.values.shape[0], dtype=bool)
        return column.values == number
    hit = column.values == str(value)
    return hit & ~column.missing if column.missing is not None else hit


def _in_mask(column: Column, values: Sequence[Any]) -> np.ndarray:
    mask = np.zeros(column.values.shape[0], dtype=bool)
    for value in values:
        mask |= _equal_mask(column, value)
    return mask


_ORDER = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal}


def _order_mask(column: Column, op: str, value: Any) -> np.ndarray:
    compare = _ORDER[op]
    if column.kind == "number":
        number = _as_number(value)
        if number is None:
            return np.zeros(column.values.shape[0], dtype=bool)
        return np.asarray(compare(column.values, number))
    if column.kind == "text":
        hit = np.asarray(compare(column.values, str(value)))
        return hit & ~column.missing if column.missing is not None else hit
    return np.zeros(column.values.shape[0], dtype=bool)


def comparison_mask(column: Column, op: str, value: Any) -> np.ndarray:
    """Mask of ``field <op> value``: eq, ne, lt, le, gt, ge, in, not_in (missing -> see module doc)."""
    if op == "eq":
        return _equal_mask(column, value)
    if op == "ne":
        return ~_equal_mask(column, value)
    if op == "in":
        return _in_mask(column, value)
    if op == "not_in":
        return ~_in_mask(column, value)
    return _order_mask(column, op, value)


def condition_mask(node: Mapping[str, Any], columns: ColumnSource, size: int) -> np.ndarray:
    """Boolean mask of a (validated) condition tree over ``size`` entities.

    Rule: all(c1..ck) = c1 & ... & ck; any(c1..ck) = c1 | ... | ck; not(c) = ~c; a comparison reads
    its field through ``columns``.
    """
    if "all" in node:
        mask = np.ones(size, dtype=bool)
        for child in node["all"]:
            mask &= condition_mask(child, columns, size)
        return mask
    if "any" in node:
        mask = np.zeros(size, dtype=bool)
        for child in node["any"]:
            mask |= condition_mask(child, columns, size)
        return mask
    if "not" in node:
        return ~condition_mask(node["not"], columns, size)
    return comparison_mask(columns(node["field"]), node["op"], node["value"])


def first_match(masks: Sequence[np.ndarray], size: int) -> np.ndarray:
    """Index of the first True mask per entity, ``NO_RULE`` (-1) where none is True.

    Rule: stack the k masks into a k x n matrix; first = argmax over axis 0 (argmax returns the first
    maximum), kept only where any mask is True.
    """
    if not masks:
        return np.full(size, NO_RULE, dtype=np.int64)
    stacked = np.stack(masks)
    first = np.argmax(stacked, axis=0).astype(np.int64)
    first[~stacked.any(axis=0)] = NO_RULE
    return first
