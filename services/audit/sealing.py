"""Turning consumed records into sealed chain entries, a batch at a time (the capture writer's CPU work).

A ``Draft`` is a received record plus the metadata the chain stores about it. ``seal_drafts`` assigns
gap-free sequence numbers from a chain head, hashes each entry (``domain.chain`` rules), advances the
Merkle frontier, collects the perfect subtree roots of at least ``2^SUBTREE_MIN_LEVEL`` leaves the batch
completes (stored so proofs cost O(log n) reads) and builds the COPY rows in ``store.ENTRY_COLUMNS`` order.

Dedup key = the first ``DEDUP_KEY_BYTES`` (16) bytes of the SHA-256 of: ``topic|ce_id`` for events; on the
DLQ also the ``dlq_consumer``, ``dlq_topic``, ``dlq_partition`` and ``dlq_offset`` headers (one event
rejected by two consumers, or again after a replay, is two facts); for records without ``ce_id`` (tombstones,
garbage) ``topic|partition|offset`` (whose full hex SHA-256 is then also the stored event id). 16 binary
bytes instead of 64 hex characters keep the unique index small (the main PostgreSQL cost of an append;
migration 0003 converted existing keys) while a collision stays out of reach (birthday bound ~2^64 records).

The batch paths (``unique_drafts``, ``seal_drafts``) run compiled (``segflow_native``, Rust under native/):
they are the capture writer's hot path. The one-record Python functions here (``draft_of``, ``event_us_of``)
and ``domain.chain.seal_entry`` define the rules; tests hold the compiled paths equal to them.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import segflow_native

from contracts import topics as catalog
from contracts.envelope import EnvelopeError, parse_time
from services.audit import store
from services.audit.domain.chain import ChainEntry
from services.audit.domain.frontier import MerkleFrontier
from services.runtime.bus.base import Record

SUBTREE_MIN_LEVEL = 8  # subtree roots of >= 256 leaves are stored: ~1 row per 128 entries
ROW_COLUMNS = (
    "seq", "topic", "kafka_partition", "kafka_offset", "key", "headers", "type", "subject", "event_time",
    "event_id", "payload_sha256", "payload", "entry_hash", "dedup_key", "event_us", "captured_us",
)  # fmt: skip
assert ROW_COLUMNS == store.ENTRY_COLUMNS, "seal_drafts builds rows in the table's column order"
_DLQ_HEADERS = (
    catalog.DLQ_HEADER_CONSUMER,
    catalog.DLQ_HEADER_TOPIC,
    catalog.DLQ_HEADER_PARTITION,
    catalog.DLQ_HEADER_OFFSET,
)
Subtree = tuple[int, int, bytes]  # (level, index, root)
_HASH = ROW_COLUMNS.index("entry_hash")
DEDUP_KEY_BYTES = 16
assert segflow_native.DEDUP_KEY_BYTES == DEDUP_KEY_BYTES, "the compiled drafts use the same key length"


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")


def rfc3339_us(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).isoformat().replace("+00:00", "Z")


def now_us() -> int:
    return time.time_ns() // 1000


Draft = segflow_native.Draft  # record, dedup_key, event_id, type, subject, event_time, event_us (compiled)


def _first_headers(rec: Record) -> dict[str, bytes]:
    """Header name -> value of its first occurrence (``Record.header`` semantics) in one pass."""
    return dict(reversed(rec.headers)) if rec.headers else {}


def _dedup(rec: Record, headers: dict[str, bytes]) -> tuple[bytes, str]:
    raw_id = headers.get("ce_id")
    ce_id = None if raw_id is None else raw_id.decode("utf-8", errors="replace")
    if not ce_id:
        fallback = hashlib.sha256(f"{rec.topic}|{rec.partition}|{rec.offset}".encode()).digest()
        return fallback[:DEDUP_KEY_BYTES], fallback.hex()
    text = f"{rec.topic}|{ce_id}"
    if rec.topic == catalog.DLQ:
        text = "|".join([text, *(_text(headers.get(name)) or "" for name in _DLQ_HEADERS)])
    return hashlib.sha256(text.encode("utf-8", errors="replace")).digest()[:DEDUP_KEY_BYTES], ce_id


def dedup_key(rec: Record) -> tuple[bytes, str]:
    """(dedup key, event id) of a record (module docstring rule)."""
    return _dedup(rec, _first_headers(rec))


_COMMON_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})")


def event_us_of(ce_time: str) -> int:
    """Microseconds since the epoch of an RFC 3339 ``ce_time`` (``contracts.envelope.parse_time`` rules;
    raises EnvelopeError). The common shape goes straight to ``datetime.fromisoformat`` (equal results
    tested); anything else, or anything it refuses, takes ``parse_time``."""
    if _COMMON_TIME.fullmatch(ce_time):
        try:
            return int(datetime.fromisoformat(ce_time).timestamp() * 1_000_000)
        except ValueError:
            pass
    return int(parse_time(ce_time).timestamp() * 1_000_000)


def draft_of(rec: Record) -> Draft:
    headers = _first_headers(rec)
    return _draft(rec, headers, *_dedup(rec, headers))


def _draft(rec: Record, headers: dict[str, bytes], key: bytes, event_id: str) -> Draft:
    raw_time = headers.get("ce_time")
    event_time, event_us = None, None
    if raw_time:
        ce_time = raw_time.decode("utf-8", errors="replace")
        try:
            event_us = event_us_of(ce_time)
            event_time = ce_time
        except EnvelopeError:
            pass
    if event_time is None or event_us is None:  # no usable ce_time: the broker's record timestamp
        event_us = rec.timestamp_ms * 1000
        event_time = rfc3339_us(event_us)
    ce_type, ce_subject = headers.get("ce_type"), headers.get("ce_subject")
    type_ = None if ce_type is None else ce_type.decode("utf-8", errors="replace")
    subject = None if ce_subject is None else ce_subject.decode("utf-8", errors="replace")
    return Draft(rec, key, event_id, type_, subject, event_time, event_us)


def _usable_event_us(ce_time: str) -> int | None:
    try:
        return event_us_of(ce_time)
    except EnvelopeError:
        return None


def unique_drafts(records: list[Record], seen: set[bytes] | None = None) -> list[Draft]:
    """Drafts of the records, a duplicate inside the batch kept once (its first occurrence); ``seen`` (the
    dedup keys of earlier chunks of the same batch) is updated. ``draft_of``'s rules, compiled
    (``segflow_native.draft_batch``, native/src/draft.rs; the capture hot path): a ``ce_time`` outside the
    common shape is answered by ``event_us_of``, the broker's time formatted by ``rfc3339_us``."""
    return segflow_native.draft_batch(
        records,
        set() if seen is None else seen,
        catalog.DLQ,
        list(_DLQ_HEADERS),
        _usable_event_us,
        rfc3339_us,
    )


@dataclass
class Sealed:
    """A batch sealed on top of a chain head of ``base_size`` entries ending in ``base_hash``."""

    base_size: int
    base_hash: bytes
    rows: list[tuple[Any, ...]] = field(default_factory=list)  # COPY rows, ``ROW_COLUMNS`` order
    subtrees: list[Subtree] = field(default_factory=list)
    frontier: MerkleFrontier = field(default_factory=MerkleFrontier)

    @property
    def size(self) -> int:
        return self.base_size + len(self.rows)

    @property
    def last_hash(self) -> bytes:
        return self.rows[-1][_HASH] if self.rows else self.base_hash

    @property
    def entries(self) -> list[ChainEntry]:
        """The sealed entries (built on demand from the rows: the writer itself only needs the rows)."""
        return [_entry_of(r) for r in self.rows]


def _entry_of(row: tuple[Any, ...]) -> ChainEntry:
    headers = tuple((name, value) for name, value in orjson.loads(row[5]))
    (
        seq,
        topic,
        partition,
        offset,
        key,
        _,
        type_,
        subject,
        event_time,
        event_id,
        digest,
        payload,
        entry_hash,
    ) = row[:13]
    return ChainEntry(
        seq,
        topic,
        partition,
        offset,
        key,
        headers,
        type_,
        subject,
        event_time,
        event_id,
        digest,
        payload,
        entry_hash,
    )


def seal_drafts(
    prev_hash: bytes,
    size: int,
    frontier: MerkleFrontier,
    drafts: list[Draft],
    payloads: list[bytes | None],
    captured_us: int,
) -> Sealed:
    """Seal ``drafts`` (with the bytes to store, ``payloads``) as seq ``size, size + 1, ...`` after
    ``prev_hash``; ``frontier`` (the head's, size ``size``) is not changed. Equal entry by entry to
    ``domain.chain.seal_entry`` and, for the frontier, to ``MerkleFrontier.append_completing`` (tested
    against an independent RFC 8785 chain on adversarial fields).

    The per-record work (canonical metadata in RFC 8785 key order, the payload and chain SHA-256s, base64
    of the key and header values, the Merkle frontier) runs compiled: ``segflow_native.seal_batch`` (Rust,
    native/src/seal.rs) is the capture hot path; the rules stay defined by ``domain.chain``."""
    if frontier.size != size:
        raise ValueError(f"frontier of size {frontier.size} does not match chain size {size}")
    rows, roots, subtrees = segflow_native.seal_batch(
        prev_hash, size, frontier.hashes, drafts, payloads, captured_us, SUBTREE_MIN_LEVEL
    )
    return Sealed(size, prev_hash, rows, subtrees, MerkleFrontier(size + len(rows), roots))


def join_sealed(parts: list[Sealed]) -> Sealed:
    """Consecutive sealed chunks (each on top of the previous) as one batch."""
    if not parts:
        raise ValueError("nothing to join")
    out = Sealed(parts[0].base_size, parts[0].base_hash, frontier=parts[-1].frontier)
    for part in parts:
        out.rows.extend(part.rows)
        out.subtrees.extend(part.subtrees)
    return out


def seal_record(prev_hash: bytes, seq: int, d: Draft, payload: bytes | None) -> ChainEntry:
    """One record sealed as entry ``seq`` after ``prev_hash`` (``seal_drafts`` of a single draft)."""
    frontier = MerkleFrontier()
    if seq:  # only the entry matters here; a frontier of the right size stands in for the real one
        frontier = MerkleFrontier(seq, [bytes(32)] * seq.bit_count())
    return seal_drafts(prev_hash, seq, frontier, [d], [payload], 0).entries[0]
