"""Local segment names on the way in and out: a source system's own segment name for a customer or product
(``local_segment`` of its master-data record) or for a customer's contract floor (``contract.min_segment``),
contracts/mdm.py: a non-empty string of at most 64 characters, enforced by the contract; checked against
the active rule set's ``local_names``; and the local names of an assigned segment for the entity's source
systems.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from . import store
from .domain.local_names import local_name, standard_segment

FIELD = "local_segment"
CONTRACT_FIELD = "contract.min_segment"
_WHAT = {FIELD: "local segment name", CONTRACT_FIELD: "contract floor segment name"}


async def unknown_segment_names(
    session: AsyncSession, source: str, names: Mapping[str, str | None]
) -> list[str]:
    """Why each given ``field -> name`` (``FIELD``, ``CONTRACT_FIELD``; None = not sent) cannot be mapped for
    ``source`` under the active rule set; empty when all can (no active rule set yet: accepted, mapped at
    classification time)."""
    present = {field: name for field, name in names.items() if name is not None}
    if not present:
        return []
    row = await store.active_ruleset(session)
    if row is None:
        return []
    body: Mapping[str, Any] = row.body
    return [
        f"field {field}: unknown {_WHAT[field]} {name!r} for source {source} "
        f"(not in local_names of active rule set v{row.version}, nor a standard segment)"
        for field, name in present.items()
        if standard_segment(body.get("local_names", {}), body["segments"], source, name) is None
    ]


def local_names_of(ruleset: Mapping[str, Any], sources: Iterable[str], segment: str) -> dict[str, str]:
    """source -> how that source names ``segment`` (``domain.local_names.local_name``), where it has a name."""
    mapping = ruleset.get("local_names", {})
    names = {source: local_name(mapping, source, segment) for source in sources}
    return {source: name for source, name in sorted(names.items()) if name is not None}
