"""Golden-record survivorship: per attribute, the best source by configured priority, then recency."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class SourceRecord:
    """One source system's view of an entity: its attributes and when the source last updated it."""

    source: str
    source_id: str
    updated_at: datetime
    attributes: Mapping[str, Any]


def source_rank(source: str, priority: Sequence[str]) -> int:
    """Rule: rank = position of ``source`` in ``priority`` (0 = most trusted); unlisted sources rank last."""
    return priority.index(source) if source in priority else len(priority)


def _is_present(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def survive(records: Sequence[SourceRecord], priority: Sequence[str]) -> dict[str, Any]:
    """The golden attributes of an entity from all its source records.

    Rule, per attribute: among the records where it is present (not None / empty), take the one with
    the smallest ``source_rank``; ties go to the latest ``updated_at``, then to the larger
    (source, source_id) so the result never depends on input order. An attribute absent everywhere is
    absent from the result.
    """
    ordered = sorted(
        records,
        key=lambda r: (-source_rank(r.source, priority), r.updated_at, r.source, r.source_id),
    )
    golden: dict[str, Any] = {}
    for record in ordered:  # later (better) records overwrite earlier ones
        for name, value in record.attributes.items():
            if _is_present(value):
                golden[name] = value
    return golden
