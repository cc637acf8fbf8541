"""Streaming JSONL export of a seq range with inclusion proofs, and monthly cold-storage archives.

The export reads the range in chunks of ``EXPORT_CHUNK`` entries inside one read transaction (a snapshot on
PostgreSQL): per chunk the rows, then the inclusion paths of all of them in the latest signed tree from the
stored subtree roots (``proofs.inclusion_paths``: O(chunk + 2^SUBTREE_MIN_LEVEL + log n) hashes read, not the
whole log), then the lines (built in a worker thread) are yielded. Memory is O(chunk + log n).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from services.audit import proofs, store
from services.audit.domain.archive import build_archive, entry_line
from services.audit.domain.chain import GENESIS_HASH, ChainEntry
from services.audit.domain.checkpoint import SignedTreeHead, tree_head_to_json
from services.audit.keys import SigningKey
from services.runtime.db import Database

EXPORT_CHUNK = 1000


def _line(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def _entry_lines(rows: list[Any], head: SignedTreeHead | None, paths: list[list[bytes]]) -> bytes:
    """One line per row: ``entry_line`` plus its inclusion proof (``paths`` holds one path per row inside the
    signed tree, in order; later rows get ``inclusion_proof: null``)."""
    out = []
    for i, row in enumerate(rows):
        entry = store.chain_entry(row)
        doc = json.loads(entry_line(entry))
        if head is not None and i < len(paths):
            doc["inclusion_proof"] = {
                "leaf_index": entry.seq,
                "tree_size": head.tree_size,
                "entry_hash": entry.entry_hash.hex(),
                "proof": [h.hex() for h in paths[i]],
            }
        else:
            doc["inclusion_proof"] = None
        out.append(_line(doc))
    return b"".join(out)


async def export_stream(
    db: Database, signing: SigningKey, first: int, end: int, *, chunk: int = EXPORT_CHUNK
) -> AsyncIterator[bytes]:
    """JSONL: a header line (tree head + public key), then one line per entry of ``[first, end)`` with its
    inclusion proof in the latest signed tree (``inclusion_proof: null`` for entries newer than every tree
    head), yielded a chunk at a time."""
    async with db.read() as session:
        await store.snapshot(session)
        head = await store.latest_checkpoint(session)
        yield _line(
            {
                "kind": "segflow-audit-export",
                "from": first,
                "to": end,
                "tree_head": None if head is None else tree_head_to_json(head),
                "public_key": signing.public_raw.hex(),
            }
        )
        lo = first
        while lo < end:
            rows = await store.entries_in_order(session, first=lo, end=min(lo + chunk, end))
            if not rows:
                break
            signed = [r.seq for r in rows if head is not None and r.seq < head.tree_size]
            paths = await proofs.inclusion_paths(session, signed, head.tree_size) if head and signed else []
            yield await asyncio.to_thread(_entry_lines, rows, head, paths)
            lo = rows[-1].seq + 1


async def export_lines(db: Database, signing: SigningKey, first: int, end: int) -> list[bytes]:
    """``export_stream`` collected (small ranges, tests)."""
    return [part async for part in export_stream(db, signing, first, end)]


def month_bounds_us(month: str) -> tuple[int, int]:
    """[start, end) of a ``YYYY-MM`` month in UTC microseconds."""
    start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return int(start.timestamp() * 1e6), int(end.timestamp() * 1e6)


async def archive_month(
    db: Database, signing: SigningKey, month: str, *, now: str
) -> tuple[bytes, dict[str, Any]] | None:
    """The month's entries (by capture time, a consecutive seq range) as JSONL plus a signed manifest; the
    prefix before the month comes from the stored subtree roots (``proofs.frontier_at``), not every hash."""
    lo_us, hi_us = month_bounds_us(month)
    async with db.read() as session:
        await store.snapshot(session)
        span = await store.seq_range_captured(session, lo_us, hi_us)
        if span is None:
            return None
        first, last = span
        prefix = await proofs.frontier_at(session, first)
        before = await store.entry_hashes_between(session, first - 1, first) if first else []
        rows = await store.entries_in_order(session, first=first, end=last + 1)
    entries: list[ChainEntry] = [store.chain_entry(r) for r in rows]
    prev = before[0] if before else GENESIS_HASH

    def build() -> tuple[bytes, dict[str, Any]]:
        return build_archive(
            entries, prev_hash=prev, prefix=prefix, private_key=signing.private, timestamp=now, period=month
        )

    return await asyncio.to_thread(build)
