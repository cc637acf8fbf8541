"""Local segment names: each source system's (subsidiary's, ERP's) names mapped to the standard taxonomy.

A rule set's ``local_names`` is ``{source: {local name: standard segment}}``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np


def standard_segment(
    local_names: Mapping[str, Mapping[str, str]], segments: Collection[str], source: str | None, name: str
) -> str | None:
    """The standard segment of ``name`` as source ``source`` spells it, or None when unknown.

    Rule: local_names[source][name] when present; else ``name`` itself when it already is a standard
    segment; else None (unknown).
    """
    mapping = local_names.get(source, {}) if source is not None else {}
    if name in mapping:
        return str(mapping[name])
    return name if name in segments else None


def local_name(local_names: Mapping[str, Mapping[str, str]], source: str, segment: str) -> str | None:
    """How source ``source`` names the standard ``segment``: the smallest local name mapped to it, or None."""
    names = sorted(local for local, standard in local_names.get(source, {}).items() if standard == segment)
    return names[0] if names else None


def map_local_segments(
    local_names: Mapping[str, Mapping[str, str]],
    segments: Collection[str],
    sources: np.ndarray,
    names: np.ndarray,
    missing: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per entity: (standard segment, missing mask, unknown mask) of its local segment name.

    Rule: standard(e) = ``standard_segment(local_names, segments, source(e), name(e))``; an entity without
    a local name is missing; a name that maps to nothing is missing and ``unknown``. Loops over the
    distinct (source, name) pairs only.
    """
    n = names.shape[0]
    standard = np.full(n, "", dtype=object)
    absent = np.asarray(missing, dtype=bool).copy()
    unknown = np.zeros(n, dtype=bool)
    present = np.flatnonzero(~absent)
    if present.size == 0:
        return standard.astype(np.str_), absent, unknown
    pairs = np.char.add(
        np.char.add(np.asarray(sources, dtype=np.str_)[present], "\x1f"),
        np.asarray(names, dtype=np.str_)[present],
    )
    distinct, inverse = np.unique(pairs, return_inverse=True)
    mapped: list[str | None] = []
    for pair in distinct.tolist():
        source, _, name = str(pair).partition("\x1f")
        mapped.append(standard_segment(local_names, segments, source or None, name))
    found = np.array([m is not None for m in mapped], dtype=bool)[inverse]
    values = np.array([m or "" for m in mapped], dtype=object)[inverse]
    standard[present] = values
    unknown[present[~found]] = True
    absent[present[~found]] = True
    return standard.astype(np.str_), absent, unknown
