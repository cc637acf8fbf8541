"""Reading the log: entry views (decrypted or "[erased]"), segment-as-of and whole-log verification; proofs
(``proofs``), the streaming JSONL export and monthly archives (``export``) are re-exported here. CPU-heavy
parts run in a worker thread.
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
from services.audit.domain.chain import VerifyResult
from services.audit.domain.checkpoint import SignedTreeHead, tree_head_to_json
from services.audit.domain.erasure import ERASED, decrypt_view, is_encrypted
from services.audit.domain.verify import LogVerifier
from services.audit.export import archive_month, export_lines, export_stream, month_bounds_us
from services.audit.keys import SigningKey
from services.audit.proofs import consistency_proof, inclusion_proof
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


# proofs and export (``proofs``, ``export``) --------------------------------------------------------------


def head_json(head: SignedTreeHead) -> dict[str, object]:
    return tree_head_to_json(head)


__all__ = [
    "ERASED", "archive_month", "consistency_proof", "export_lines", "export_stream", "inclusion_proof",
    "month_bounds_us", "verify_all",
]  # fmt: skip
