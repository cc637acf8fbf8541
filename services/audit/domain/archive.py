"""Monthly cold-storage archives: deterministic JSONL export, a signed manifest, and later verification.

Rules: one line per entry, ``JCS({...metadata, "payload": base64|null, "entry_hash": hex}) + "\\n"``, in seq
order. The manifest records ``count``, ``first_seq``/``last_seq``, ``prev_hash`` (the chain hash before the
month), ``sha256`` of the file bytes, ``merkle_root`` = MTH of the month's entry hashes, the compact range
(``prefix``) of all entries before the month, and a signed tree head of size ``last_seq + 1``. Verification
re-checks the chain from ``prev_hash``, the checksum, the month root, and that the prefix extended by the
month's entry hashes reproduces the signed root, so the month is exactly those leaves of the signed log.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.audit.domain.chain import ChainEntry, VerifyResult, metadata_dict, verify_chain
from services.audit.domain.checkpoint import (
    sign_tree_head,
    tree_head_from_json,
    tree_head_to_json,
    verify_tree_head,
)
from services.audit.domain.frontier import MerkleFrontier
from services.audit.domain.merkle import root

MANIFEST_VERSION = 1


def entry_line(entry: ChainEntry) -> bytes:
    """One JSONL line: RFC 8785 JSON of the metadata plus base64 payload and hex entry hash, then LF."""
    doc: dict[str, Any] = metadata_dict(entry)
    doc["payload"] = None if entry.payload is None else base64.b64encode(entry.payload).decode("ascii")
    doc["entry_hash"] = entry.entry_hash.hex()
    return rfc8785.dumps(doc) + b"\n"


def parse_line(line: bytes) -> ChainEntry:
    """Inverse of ``entry_line``; raises ValueError on a malformed line."""
    try:
        doc = json.loads(line)
        payload = doc["payload"]
        return ChainEntry(
            seq=doc["seq"],
            topic=doc["topic"],
            partition=doc["partition"],
            offset=doc["offset"],
            key=doc["key"],
            headers=tuple((str(name), str(value)) for name, value in doc["headers"]),
            type=doc["type"],
            subject=doc["subject"],
            event_time=doc["event_time"],
            event_id=doc["event_id"],
            payload_sha256=doc["payload_sha256"],
            payload=None if payload is None else base64.b64decode(payload, validate=True),
            entry_hash=bytes.fromhex(doc["entry_hash"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed archive line: {exc}") from exc


def build_archive(
    entries: Sequence[ChainEntry],
    *,
    prev_hash: bytes,
    prefix: MerkleFrontier,
    private_key: Ed25519PrivateKey | bytes,
    timestamp: str,
    period: str,
) -> tuple[bytes, dict[str, Any]]:
    """Export ``entries`` (consecutive seqs starting at ``prefix.size``) as JSONL bytes plus their manifest."""
    first_seq = prefix.size
    for i, entry in enumerate(entries):
        if entry.seq != first_seq + i:
            raise ValueError(f"archive entries must be consecutive from seq {first_seq}; got {entry.seq}")
    data = b"".join(entry_line(e) for e in entries)
    hashes = [e.entry_hash for e in entries]
    whole = prefix.copy()
    whole.extend(hashes)
    head = sign_tree_head(private_key, whole.size, whole.root(), timestamp)
    manifest = {
        "version": MANIFEST_VERSION,
        "period": period,
        "count": len(entries),
        "first_seq": first_seq,
        "last_seq": first_seq + len(entries) - 1,
        "prev_hash": prev_hash.hex(),
        "last_entry_hash": (hashes[-1] if hashes else prev_hash).hex(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "merkle_root": root(hashes).hex(),
        "prefix": {"size": prefix.size, "hashes": [h.hex() for h in prefix.hashes]},
        "tree_head": tree_head_to_json(head),
    }
    return data, manifest


def verify_archive(
    lines_bytes: bytes, manifest: dict[str, Any], public_key: Ed25519PublicKey | bytes
) -> VerifyResult:
    """Re-verify an archive file against its manifest; ``first_bad_seq`` names the first bad entry."""
    try:
        first_seq = int(manifest["first_seq"])
        count = int(manifest["count"])
        prev_hash = bytes.fromhex(manifest["prev_hash"])
        prefix = MerkleFrontier(
            int(manifest["prefix"]["size"]), [bytes.fromhex(h) for h in manifest["prefix"]["hashes"]]
        )
        head = tree_head_from_json(manifest["tree_head"])
    except (KeyError, TypeError, ValueError) as exc:
        return VerifyResult(False, 0, None, f"bad_manifest: {exc}")
    lines = lines_bytes.splitlines(keepends=True)
    entries: list[ChainEntry] = []
    for i, line in enumerate(lines):
        try:
            entries.append(parse_line(line))
        except ValueError as exc:
            result = verify_chain(entries, prev_hash=prev_hash, first_seq=first_seq)
            if not result.ok:
                return result
            return VerifyResult(False, i, first_seq + i, f"malformed_line: {exc}")
    result = verify_chain(entries, prev_hash=prev_hash, first_seq=first_seq, expected_count=count)
    if not result.ok:
        return result
    if len(entries) != count:
        return VerifyResult(False, len(entries), first_seq + count, f"extra_lines: {len(entries)} > {count}")
    if hashlib.sha256(lines_bytes).hexdigest() != manifest.get("sha256"):
        return VerifyResult(False, count, None, "file_checksum_mismatch: bytes differ from the manifest")
    hashes = [e.entry_hash for e in entries]
    if root(hashes).hex() != manifest.get("merkle_root"):
        return VerifyResult(False, count, None, "merkle_root_mismatch: month root differs from the manifest")
    if prefix.size != first_seq:
        return VerifyResult(False, count, first_seq, "bad_manifest: prefix size is not first_seq")
    whole = prefix.copy()
    whole.extend(hashes)
    if head.tree_size != whole.size or head.root_hash != whole.root():
        return VerifyResult(
            False, count, first_seq, "tree_head_mismatch: month is not the signed log's leaves"
        )
    if not verify_tree_head(head, public_key):
        return VerifyResult(False, count, None, "bad_signature: manifest tree head")
    return VerifyResult(True, count)
