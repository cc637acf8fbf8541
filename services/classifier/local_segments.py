"""Local segment names on the way in and out: a source system's own segment name for a customer or product
(``local_segment`` of its master-data record, contracts/mdm.py: a non-empty string of at most 64 characters,
enforced by the contract) checked against the active rule set's ``local_names``, and the local names of an
assigned segment for the entity's source systems.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from . import store
from .domain.local_names import local_name, standard_segment

FIELD = "local_segment"


async def unknown_local_segment(session: AsyncSession, source: str, name: str) -> str | None:
    """Why ``name`` cannot be mapped for ``source`` under the active rule set, or None when it can
    (no active rule set yet: accepted, mapped at classification time)."""
    row = await store.active_ruleset(session)
    if row is None:
        return None
    body: Mapping[str, Any] = row.body
    if standard_segment(body.get("local_names", {}), body["segments"], source, name) is not None:
        return None
    return (
        f"field {FIELD}: unknown local segment name {name!r} for source {source} "
        f"(not in local_names of active rule set v{row.version}, nor a standard segment)"
    )


def local_names_of(ruleset: Mapping[str, Any], sources: Iterable[str], segment: str) -> dict[str, str]:
    """source -> how that source names ``segment`` (``domain.local_names.local_name``), where it has a name."""
    mapping = ruleset.get("local_names", {})
    names = {source: local_name(mapping, source, segment) for source in sources}
    return {source: name for source, name in sorted(names.items()) if name is not None}
