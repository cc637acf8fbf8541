"""Which fields of which event types are personal data, and whose: the input to crypto-shredding.

Paths come from the contracts (``x-personal`` fields, ``contracts.fields.personal_paths``) translated to
the domain's ``contacts[].email`` form. The data subject of a customer record's contacts is the customer's
source key ``<source>:<source_id>`` (the record key on mdm.customers), so erasing that key erases every
contact the source system ever sent for that customer.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from contracts.fields import personal_paths
from contracts.registry import EVENT_MODELS


def _domain_path(path: tuple[str, ...]) -> str:
    parts: list[str] = []
    for name in path:
        if name == "*":
            parts[-1] += "[]"
        else:
            parts.append(name)
    return ".".join(parts)


@cache
def paths_for(event_type: str) -> tuple[str, ...]:
    """Personal-field paths of an event type (empty for types without personal data or unknown types)."""
    model = EVENT_MODELS.get(event_type)
    if model is None:
        return ()
    return tuple(_domain_path(p) for p in personal_paths(model))


def data_subject(doc: dict[str, Any], fallback: str | None) -> str | None:
    """``source:source_id`` of a master-data record, else the fallback (record key or ce_subject)."""
    source, source_id = doc.get("source"), doc.get("source_id")
    if isinstance(source, str) and isinstance(source_id, str) and source and source_id:
        return f"{source}:{source_id}"
    return fallback
