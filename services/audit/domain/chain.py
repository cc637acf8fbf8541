"""The audit hash chain: entry metadata, its RFC 8785 canonical bytes, sealing and chain verification.

Rule (issue 6, item 2): ``entry_hash[s] = SHA-256(entry_hash[s-1] || JCS(metadata[s]))`` with
``entry_hash[-1] = 32 zero bytes`` (genesis), where JCS is RFC 8785 canonical JSON and the metadata is
``{seq, topic, partition, offset, key (base64|null), headers ([[name, base64 value], ...]), type, subject,
event_time, event_id, payload_sha256}``; ``payload_sha256`` is the hex SHA-256 of the exact bytes received
(null for a tombstone, which has no value). Sequence numbers are gap-free and start at ``FIRST_SEQ = 0``.

Speed: ``canonical_metadata`` serialises this one fixed shape (keys written in their RFC 8785 order,
strings/null/arrays/integers in [0, 2^53 - 1]) with orjson, which on that shape emits exactly the RFC 8785
bytes (tests prove byte equality against ``rfc8785.dumps`` with hypothesis) ~20x faster than the generic
serialiser. ``verify_chain`` always re-derives every hash from the parsed columns (no stored canonical
bytes are trusted); ``deep=True`` additionally re-checks each entry's bytes against ``rfc8785.dumps``
itself (about 10x slower), catching a row whose values orjson accepts but RFC 8785 does not (an integer
>= 2^53 written by something other than ``seal_entry``).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import rfc8785

GENESIS_HASH = bytes(32)
FIRST_SEQ = 0
MAX_SAFE_INT = 2**53 - 1
_dumps = orjson.dumps


@dataclass(frozen=True, slots=True)
class ChainEntry:
    """One audit row as the chain sees it: metadata in its wire form, the raw payload and the entry hash."""

    seq: int
    topic: str
    partition: int
    offset: int
    key: str | None  # base64 of the record key bytes, None when the record had no key
    headers: tuple[tuple[str, str], ...]  # (header name, base64 of the header value bytes)
    type: str | None
    subject: str | None
    event_time: str | None  # RFC 3339
    event_id: str | None
    payload_sha256: str | None  # hex; None for a tombstone
    payload: bytes | None
    entry_hash: bytes


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """Outcome of a verification: ``first_bad_seq`` names the earliest entry that fails, ``reason`` says why."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None


def b64(data: bytes) -> str:
    """Standard base64 (RFC 4648 section 4, with padding) as text."""
    return base64.b64encode(data).decode("ascii")


def metadata_dict(entry: ChainEntry) -> dict[str, Any]:
    """The entry's metadata object, exactly the fields the chain hashes (input to ``rfc8785.dumps``)."""
    return {
        "seq": entry.seq,
        "topic": entry.topic,
        "partition": entry.partition,
        "offset": entry.offset,
        "key": entry.key,
        "headers": [[name, value] for name, value in entry.headers],
        "type": entry.type,
        "subject": entry.subject,
        "event_time": entry.event_time,
        "event_id": entry.event_id,
        "payload_sha256": entry.payload_sha256,
    }


def canonical_metadata(entry: ChainEntry) -> bytes:
    """RFC 8785 bytes of ``metadata_dict(entry)`` for this fixed shape: the object is written with its keys
    already in RFC 8785 order (all ASCII, so UTF-16 order = byte order) and serialised by orjson, which emits
    no whitespace, escapes only ``"``, ``\\`` and controls < 0x20 (lowercase ``\\u00xx``), writes other
    characters as raw UTF-8, integers in decimal and refuses lone surrogates - exactly JCS on strings, null,
    arrays and the non-negative integers < 2^53 that ``check_entry_shape`` admits.

    Equal to ``rfc8785.dumps(metadata_dict(entry))`` for every entry ``check_entry_shape`` accepts (tested
    with hypothesis); ~20x faster.
    """
    return _dumps(
        {
            "event_id": entry.event_id,
            "event_time": entry.event_time,
            "headers": entry.headers,
            "key": entry.key,
            "offset": entry.offset,
            "partition": entry.partition,
            "payload_sha256": entry.payload_sha256,
            "seq": entry.seq,
            "subject": entry.subject,
            "topic": entry.topic,
            "type": entry.type,
        }
    )


def chain_hash(prev_hash: bytes, canonical: bytes) -> bytes:
    """``entry_hash = SHA-256(prev_hash || canonical_metadata)``."""
    return hashlib.sha256(prev_hash + canonical).digest()


def payload_digest(payload: bytes | None) -> str | None:
    """Hex SHA-256 of the exact bytes received; None for a tombstone (no value)."""
    return None if payload is None else hashlib.sha256(payload).hexdigest()


def check_entry_shape(entry: ChainEntry) -> None:
    """Raise ValueError unless the entry's metadata is representable in RFC 8785 as this chain defines it:
    integers in [0, 2^53 - 1] (bools refused), strings where strings are required, 32-byte hashes."""
    for name in ("seq", "partition", "offset"):
        value = getattr(entry, name)
        if type(value) is not int or not 0 <= value <= MAX_SAFE_INT:
            raise ValueError(f"{name} must be an int in [0, 2^53-1], got {value!r}")
    if type(entry.topic) is not str:
        raise ValueError("topic must be a string")
    for name in ("key", "type", "subject", "event_time", "event_id", "payload_sha256"):
        value = getattr(entry, name)
        if value is not None and type(value) is not str:
            raise ValueError(f"{name} must be a string or None, got {value!r}")
    for header in entry.headers:
        if len(header) != 2 or type(header[0]) is not str or type(header[1]) is not str:
            raise ValueError(f"header must be a (name, base64 value) pair of strings, got {header!r}")
    if (entry.payload is None) != (entry.payload_sha256 is None):
        raise ValueError("payload_sha256 must be None exactly when the payload is None (tombstone)")


def seal_entry(
    prev_hash: bytes,
    *,
    seq: int,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    headers: Sequence[tuple[str, bytes]],
    type: str | None,
    subject: str | None,
    event_time: str | None,
    event_id: str | None,
    payload: bytes | None,
) -> ChainEntry:
    """Build the chain entry for a received record: base64 the key and header values, hash the payload,
    then ``entry_hash = SHA-256(prev_hash || JCS(metadata))``. Raises ValueError on an unrepresentable field."""
    if len(prev_hash) != 32:
        raise ValueError("prev_hash must be 32 bytes")
    draft = ChainEntry(
        seq=seq,
        topic=topic,
        partition=partition,
        offset=offset,
        key=None if key is None else b64(key),
        headers=tuple((name, b64(value)) for name, value in headers),
        type=type,
        subject=subject,
        event_time=event_time,
        event_id=event_id,
        payload_sha256=payload_digest(payload),
        payload=payload,
        entry_hash=b"",
    )
    check_entry_shape(draft)
    try:
        canonical = canonical_metadata(draft)
    except orjson.JSONEncodeError as exc:  # e.g. a lone surrogate, which UTF-8 cannot carry
        raise ValueError(f"metadata is not representable as RFC 8785 JSON: {exc}") from exc
    return dataclasses.replace(draft, entry_hash=chain_hash(prev_hash, canonical))


def _is_rfc8785(canonical: bytes, entry: ChainEntry) -> bool:
    try:
        return canonical == rfc8785.dumps(metadata_dict(entry))
    except rfc8785.CanonicalizationError:
        return False


def verify_chain(
    entries: Iterable[ChainEntry],
    *,
    prev_hash: bytes = GENESIS_HASH,
    first_seq: int = FIRST_SEQ,
    expected_count: int | None = None,
    deep: bool = False,
) -> VerifyResult:
    """Walk entries in the given order and stop at the first one that breaks the chain.

    For the i-th entry (expected ``seq = first_seq + i``) the checks, in order, are:
    ``seq`` equals the expected number (else a row was deleted or reordered; the missing/misplaced number is
    reported), ``SHA-256(payload) == payload_sha256`` (edited bytes), and
    ``SHA-256(prev_hash || JCS(metadata)) == entry_hash`` (edited metadata, reordered rows or a broken link).
    With ``expected_count`` (e.g. a signed tree size) a shorter chain is reported as truncated.
    ``deep`` also checks the canonical bytes against the generic ``rfc8785`` serialiser.
    """
    sha256 = hashlib.sha256
    dumps = _dumps
    expected_seq = first_seq
    checked = 0
    for entry in entries:
        if entry.seq != expected_seq:
            detail = "deleted" if entry.seq > expected_seq else "reordered or duplicated"
            return VerifyResult(
                False,
                checked,
                expected_seq,
                f"sequence_break: expected seq {expected_seq}, found {entry.seq} (row {detail})",
            )
        payload = entry.payload
        digest = entry.payload_sha256
        if payload is None:
            if digest is not None:
                return VerifyResult(False, checked, expected_seq, "payload_hash_mismatch: payload missing")
        elif sha256(payload).hexdigest() != digest:
            return VerifyResult(
                False,
                checked,
                expected_seq,
                "payload_hash_mismatch: stored bytes do not match payload_sha256",
            )
        # canonical_metadata(entry) inlined (this loop is the verification hot path; equality is tested)
        canonical = dumps(
            {
                "event_id": entry.event_id,
                "event_time": entry.event_time,
                "headers": entry.headers,
                "key": entry.key,
                "offset": entry.offset,
                "partition": entry.partition,
                "payload_sha256": digest,
                "seq": expected_seq,
                "subject": entry.subject,
                "topic": entry.topic,
                "type": entry.type,
            }
        )
        if deep and not _is_rfc8785(canonical, entry):
            return VerifyResult(False, checked, expected_seq, "non_canonical_metadata: differs from RFC 8785")
        prev_hash = sha256(prev_hash + canonical).digest()
        if prev_hash != entry.entry_hash:
            return VerifyResult(
                False,
                checked,
                expected_seq,
                "entry_hash_mismatch: metadata edited, rows reordered or previous link broken",
            )
        checked += 1
        expected_seq += 1
    if expected_count is not None and checked < expected_count:
        return VerifyResult(
            False, checked, expected_seq, f"truncated: {checked} entries, expected {expected_count}"
        )
    return VerifyResult(True, checked)
