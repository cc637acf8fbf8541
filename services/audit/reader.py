"""Reading the log: entry views (decrypted or "[erased]"), segment-as-of, whole-log verification, proofs,
JSONL export with inclusion proofs and monthly archives. CPU-heavy parts run in a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from contracts import topics as catalog
from services.audit import store
from services.audit.domain.archive import build_archive, entry_line
from services.audit.domain.chain import GENESIS_HASH, ChainEntry, VerifyResult
from services.audit.domain.checkpoint import SignedTreeHead, tree_head_to_json
from services.audit.domain.erasure import ERASED, decrypt_view, is_encrypted
from services.audit.domain.frontier import MerkleFrontier
from services.audit.domain.merkle import (
    consistency_ranges,
    fold_right,
    inclusion_ranges,
    leaf_hashes,
    perfect_pieces,
    root_of_leaf_hashes,
)
from services.audit.domain.verify import LogVerifier
from services.audit.keys import SigningKey
from services.audit.sealing import SUBTREE_MIN_LEVEL
from services.runtime.db import Database


def _kids(doc: Any) -> set[str]:
    if is_encrypted(doc):
        return {doc["kid"]}
    if isinstance(doc, dict):
        return set().union(*(_kids(v) for v in doc.values()))
    if isinstance(doc, list):
        return set().union(*(_kids(v) for v in doc))
    return set()


def _subject_keys_for(doc: Any, by_kid: dict[str, tuple[str, bytes]]) -> dict[str, bytes | None]:
    """subject -> key for decrypt_view: the key whose kid the fields name, None (erased) when deleted."""
    out: dict[str, bytes | None] = {}

    def walk(node: Any) -> None:
        if is_encrypted(node):
            found = by_kid.get(node["kid"])
            out[node["subject"]] = found[1] if found else None
        elif isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    return out


def decode_payload(raw: bytes | None) -> tuple[Any, bool]:
    """(JSON value or base64 text, is_json)."""
    if raw is None:
        return None, False
    try:
        return json.loads(raw), True
    except ValueError:
        return base64.b64encode(raw).decode("ascii"), False


async def views(db: Database, rows: list[Any]) -> list[dict[str, Any]]:
    """API views of stored rows: key/headers decoded, payload parsed with personal fields decrypted."""
    parsed = [decode_payload(None if r.payload is None else bytes(r.payload)) for r in rows]
    kids = set().union(*(_kids(doc) for doc, ok in parsed if ok)) if parsed else set()
    async with db.read() as session:
        by_kid = await store.keys_by_kid(session, kids)
    out = []
    for row, (doc, is_json) in zip(rows, parsed, strict=True):
        erased = False
        if is_json and _kids(doc):
            keys = _subject_keys_for(doc, by_kid)
            erased = any(k is None for k in keys.values())
            doc = decrypt_view(doc, keys)
        out.append(entry_view(row, doc, is_json, erased))
    return out


def _b64_text(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return base64.b64decode(value).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def entry_view(row: Any, payload: Any, is_json: bool, erased: bool) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "topic": row.topic,
        "partition": row.kafka_partition,
        "offset": row.kafka_offset,
        "key": _b64_text(row.key),
        "key_base64": row.key,
        "headers": {n: _b64_text(v) for n, v in json.loads(row.headers)},
        "type": row.type,
        "subject": row.subject,
        "event_time": row.event_time,
        "event_id": row.event_id,
        "captured_at": datetime.fromtimestamp(row.captured_us / 1e6, UTC).isoformat(),
        "tombstone": row.payload is None,
        "payload": payload,
        "payload_encoding": "json" if is_json else ("base64" if row.payload is not None else None),
        "personal_data_erased": erased,
        "payload_sha256": row.payload_sha256,
        "entry_hash": bytes(row.entry_hash).hex(),
    }


def key_b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


async def segment_as_of(db: Database, dimension: str, entity_id: str, at_us: int) -> Any | None:
    """The segments.assignments entry in effect at the instant (latest by event time), or None."""
    async with db.read() as session:
        return await store.latest_for_key(
            session, topic=catalog.SEGMENTS_ASSIGNMENTS, key=key_b64(f"{dimension}:{entity_id}"),
            at_or_before_us=at_us,
        )  # fmt: skip


# verification ---------------------------------------------------------------------------------------------


VERIFY_CHUNK = 10_000


async def verify_all(db: Database, signing: SigningKey, *, chunk: int = VERIFY_CHUNK) -> dict[str, Any]:
    """Re-check the whole chain, the Merkle root at every tree head and every signature; compare the head.

    Streams the log in chunks of ``chunk`` entries (keyset by seq) inside one read transaction (a snapshot
    on PostgreSQL), verifying a chunk in a worker thread while the next one is read: memory is O(chunk)."""
    async with db.read() as session:
        await store.snapshot(session)
        head = await store.read_head(session)
        heads = await store.all_checkpoints(session)
        verifier = LogVerifier(heads, signing.public_raw)
        stored, last_hash, first = 0, None, 0
        rows = await store.entries_in_order(session, first=first, limit=chunk)
        while rows and verifier.failure is None:
            entries = [store.chain_entry(r) for r in rows]
            stored += len(entries)
            last_hash = entries[-1].entry_hash
            first = entries[-1].seq + 1
            checking = asyncio.create_task(asyncio.to_thread(verifier.feed, entries))
            rows = (
                await store.entries_in_order(session, first=first, limit=chunk) if len(rows) == chunk else []
            )
            await checking
        if verifier.failure is None and rows:
            stored += len(rows)
    result = verifier.finish()
    if result.ok and stored != head.size:
        result = VerifyResult(
            False,
            stored,
            min(stored, head.size),
            f"truncated: {stored} entries stored, the chain head counts {head.size}",
        )
    if result.ok and last_hash is not None and last_hash != head.last_hash:
        result = VerifyResult(False, stored, stored - 1, "head_mismatch: last hash differs from head")
    doc = asdict(result)
    doc["entries"] = stored
    doc["tree_heads"] = len(heads)
    doc["key_id"] = signing.key_id
    return doc


# proofs -------------------------------------------------------------------------------------------------


def _hashes_for(ranges: list[tuple[int, int]], leaves: list[bytes]) -> list[str]:
    return [root_of_leaf_hashes(leaves[lo:hi]).hex() for lo, hi in ranges]


def head_json(head: SignedTreeHead) -> dict[str, object]:
    return tree_head_to_json(head)


def _stored_key(lo: int, hi: int) -> tuple[int, int] | None:
    """(level, index) of the stored subtree root covering exactly [lo, hi), if such a row is kept."""
    size = hi - lo
    level = size.bit_length() - 1
    if level < SUBTREE_MIN_LEVEL or size & (size - 1) or lo % size:
        return None
    return level, lo >> level


def _merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


async def range_roots(session: store.AsyncSession, ranges: list[tuple[int, int]]) -> list[bytes]:
    """MTH of each leaf range with O(log n) reads: every range splits into perfect subtrees
    (``perfect_pieces``); those of >= 2^SUBTREE_MIN_LEVEL leaves come from ``audit_subtrees`` in one query,
    the smaller ones (at most one partial block per tree edge) from their entry hashes by seq range (a
    missing subtree row, e.g. a log written before migration 0002, falls back to its entry hashes too)."""
    pieces = [perfect_pieces(lo, hi) for lo, hi in ranges]
    wanted = {k for ps in pieces for k in (_stored_key(lo, hi) for lo, hi in ps) if k is not None}
    stored = await store.subtree_roots(session, wanted)
    computed: dict[tuple[int, int], bytes] = {}
    missing = [p for ps in pieces for p in ps if stored.get(_stored_key(*p) or (-1, -1)) is None]
    for lo, hi in _merge_spans(missing):
        hashes = leaf_hashes(await store.entry_hashes_between(session, lo, hi))
        for a, b in missing:
            if lo <= a and b <= hi:
                computed[(a, b)] = root_of_leaf_hashes(hashes[a - lo : b - lo])
    out = []
    for ps in pieces:
        roots = [stored.get(_stored_key(lo, hi) or (-1, -1)) or computed[(lo, hi)] for lo, hi in ps]
        out.append(fold_right(roots))
    return out


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


async def export_lines(db: Database, signing: SigningKey, first: int, end: int) -> list[bytes]:
    """JSONL: a header line (tree head + public key), then one line per entry with its inclusion proof in
    the latest signed tree (``inclusion_proof: null`` for entries newer than every tree head)."""
    async with db.read() as session:
        head = await store.latest_checkpoint(session)
        rows = await store.entries_in_order(session, first=first, end=end)
        hashes = await store.entry_hashes(session, head.tree_size) if head else []
    header = {
        "kind": "segflow-audit-export",
        "from": first,
        "to": end,
        "tree_head": None if head is None else tree_head_to_json(head),
        "public_key": signing.public_raw.hex(),
    }
    leaves = await asyncio.to_thread(leaf_hashes, hashes)

    def build() -> list[bytes]:
        out = [json.dumps(header, separators=(",", ":")).encode() + b"\n"]
        for row in rows:
            entry = store.chain_entry(row)
            doc = json.loads(entry_line(entry))
            if head is not None and entry.seq < head.tree_size:
                doc["inclusion_proof"] = {
                    "leaf_index": entry.seq,
                    "tree_size": head.tree_size,
                    "entry_hash": entry.entry_hash.hex(),
                    "proof": _hashes_for(inclusion_ranges(entry.seq, head.tree_size), leaves),
                }
            else:
                doc["inclusion_proof"] = None
            out.append(json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode() + b"\n")
        return out

    return await asyncio.to_thread(build)


# archives -----------------------------------------------------------------------------------------------


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
    """The month's entries (by capture time, a consecutive seq range) as JSONL plus a signed manifest."""
    lo_us, hi_us = month_bounds_us(month)
    async with db.read() as session:
        span = await store.seq_range_captured(session, lo_us, hi_us)
        if span is None:
            return None
        first, last = span
        prefix_hashes = await store.entry_hashes(session, first)
        rows = await store.entries_in_order(session, first=first, end=last + 1)
    entries: list[ChainEntry] = [store.chain_entry(r) for r in rows]

    def build() -> tuple[bytes, dict[str, Any]]:
        prefix = MerkleFrontier()
        prefix.extend(prefix_hashes)
        prev = prefix_hashes[-1] if prefix_hashes else GENESIS_HASH
        return build_archive(
            entries, prev_hash=prev, prefix=prefix, private_key=signing.private, timestamp=now, period=month
        )

    return await asyncio.to_thread(build)


__all__ = ["ERASED", "archive_month", "consistency_proof", "export_lines", "inclusion_proof", "verify_all"]
