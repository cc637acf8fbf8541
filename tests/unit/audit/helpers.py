"""Synthetic audit entries for the audit tests, built through the public sealing function."""

from __future__ import annotations

import json

from services.audit.domain.chain import GENESIS_HASH, ChainEntry, seal_entry


def make_record(seq: int) -> dict[str, object]:
    """The received record for seq (varied: keys, tombstones, unicode, control characters in strings)."""
    payload: bytes | None = json.dumps(
        {"order_id": f"ORD-{seq}", "qty": seq % 7, "note": "café \u2603" if seq % 5 == 0 else "x"}
    ).encode()
    if seq % 11 == 10:
        payload = None  # a tombstone
    return {
        "seq": seq,
        "topic": "segflow.erp.orders.v1" if seq % 3 else "segflow.dlq.v1",
        "partition": seq % 4,
        "offset": 1000 + seq,
        "key": None if seq % 13 == 12 else f"ORD-{seq}".encode(),
        "headers": [("ce_id", f"id-{seq}".encode()), ("ce_type", b"segflow.order.line.placed")][: seq % 3],
        "type": "order.line.placed" if seq % 3 else None,
        "subject": f'ORD-{seq}\t"quoted"' if seq % 7 == 3 else f"ORD-{seq}",
        "event_time": f"2026-01-{1 + seq % 28:02d}T10:00:00Z",
        "event_id": f"evt-{seq}",
        "payload": payload,
    }


def make_chain(n: int, first_seq: int = 0, prev_hash: bytes = GENESIS_HASH) -> list[ChainEntry]:
    entries: list[ChainEntry] = []
    prev = prev_hash
    for seq in range(first_seq, first_seq + n):
        entry = seal_entry(prev, **make_record(seq))  # type: ignore[arg-type]
        entries.append(entry)
        prev = entry.entry_hash
    return entries
