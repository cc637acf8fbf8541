"""Merkle proofs served from the store with O(log n) reads: subtree roots of any leaf range, inclusion and
consistency proofs, the inclusion paths of a run of consecutive entries (the streaming export) and the
compact range (frontier) of a log prefix (monthly archives).

Every leaf range splits into perfect subtrees (``domain.merkle.perfect_pieces``); those of at least
``2^SUBTREE_MIN_LEVEL`` leaves are read from ``audit_subtrees`` (one query per call), the smaller ones (at
most one partial block per range edge) are recomputed from their entry hashes, read by seq range.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.audit import store
from services.audit.domain.checkpoint import SignedTreeHead
from services.audit.domain.frontier import MerkleFrontier
from services.audit.domain.merkle import (
    Range,
    consistency_ranges,
    fold_right,
    inclusion_ranges,
    leaf_hashes,
    perfect_pieces,
    root_of_leaf_hashes,
)
from services.audit.sealing import SUBTREE_MIN_LEVEL
from services.runtime.db import Database

_NOT_STORED = (-1, -1)


def stored_key(lo: int, hi: int) -> tuple[int, int] | None:
    """(level, index) of the stored subtree root covering exactly [lo, hi), if such a row is kept."""
    size = hi - lo
    level = size.bit_length() - 1
    if level < SUBTREE_MIN_LEVEL or size & (size - 1) or lo % size:
        return None
    return level, lo >> level


def merge_spans(spans: Sequence[Range]) -> list[Range]:
    """Overlapping or touching ranges merged, ascending."""
    merged: list[Range] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


async def range_roots(session: store.AsyncSession, ranges: Sequence[Range]) -> list[bytes]:
    """MTH of each leaf range: perfect pieces of >= 2^SUBTREE_MIN_LEVEL leaves from ``audit_subtrees`` in one
    query, the rest (and any missing subtree row, e.g. a log written before migration 0002) from their entry
    hashes, one range read per merged span; each range is the right fold of its pieces' roots."""
    pieces = [perfect_pieces(lo, hi) for lo, hi in ranges]
    wanted = {k for ps in pieces for k in (stored_key(lo, hi) for lo, hi in ps) if k is not None}
    stored = await store.subtree_roots(session, wanted)
    missing = sorted({p for ps in pieces for p in ps if stored.get(stored_key(*p) or _NOT_STORED) is None})
    computed: dict[Range, bytes] = {}
    next_piece = 0
    for lo, hi in merge_spans(missing):
        hashes = leaf_hashes(await store.entry_hashes_between(session, lo, hi))
        while next_piece < len(missing) and missing[next_piece][0] < hi:
            a, b = missing[next_piece]
            computed[(a, b)] = root_of_leaf_hashes(hashes[a - lo : b - lo])
            next_piece += 1
    out = []
    for ps in pieces:
        roots = [stored.get(stored_key(lo, hi) or _NOT_STORED) or computed[(lo, hi)] for lo, hi in ps]
        out.append(fold_right(roots))
    return out


async def inclusion_paths(
    session: store.AsyncSession, seqs: Sequence[int], tree_size: int
) -> list[list[bytes]]:
    """PATH(seq, D[tree_size]) of each seq (all < tree_size), sharing the reads: for consecutive seqs the
    paths differ only inside the blocks they span, so a run of k entries costs O(k + 2^SUBTREE_MIN_LEVEL +
    log n) hashes read, whatever the log size."""
    per_seq = [inclusion_ranges(seq, tree_size) for seq in seqs]
    unique = sorted({r for ranges in per_seq for r in ranges})
    roots = dict(zip(unique, await range_roots(session, unique), strict=True))
    return [[roots[r] for r in ranges] for ranges in per_seq]


async def frontier_at(session: store.AsyncSession, size: int) -> MerkleFrontier:
    """The compact range of the first ``size`` entries: the roots of ``perfect_pieces(0, size)``."""
    pieces = perfect_pieces(0, size)
    return MerkleFrontier(size, await range_roots(session, pieces))


async def inclusion_proof(db: Database, seq: int, head: SignedTreeHead) -> dict[str, Any]:
    async with db.read() as session:
        entry_hash = await store.entry_hashes_between(session, seq, seq + 1)
        path = await range_roots(session, inclusion_ranges(seq, head.tree_size))
    return {
        "leaf_index": seq,
        "tree_size": head.tree_size,
        "entry_hash": entry_hash[0].hex(),
        "proof": [h.hex() for h in path],
    }


async def consistency_proof(db: Database, first: int, second: int) -> dict[str, Any]:
    async with db.read() as session:
        path = await range_roots(session, consistency_ranges(first, second))
    return {"first": first, "second": second, "proof": [h.hex() for h in path]}
