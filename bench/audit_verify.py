"""Audit verification speed: full hash-chain verification (entries/s) against bare hashing of the same bytes.

Workload: synthetic CloudEvents-shaped entries (8 ce_* headers as in DESIGN.md section 3, a ~300-byte JSON
payload, 1 in 50 a tombstone) sealed with ``seal_entry``. Measured: ``verify_chain`` (fast mode, which
re-derives every hash from the parsed columns) and its rate; ``deep`` mode on a slice. Baseline, same run:
a plain loop doing only the two SHA-256 calls per entry on precomputed bytes (payload, prev || canonical
metadata) - the floor any verifier pays. Verify and baseline alternate ``repeat`` times (best of each). Also the RFC 9162 Merkle root over all entry hashes, batch and
incremental (frontier). Goal (issue 6): at least 200,000 entries/s.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from bench._common import best_of, result, write
from services.audit.domain.chain import GENESIS_HASH, ChainEntry, canonical_metadata, seal_entry, verify_chain
from services.audit.domain.frontier import MerkleFrontier
from services.audit.domain.merkle import root

GOAL_PER_S = 200_000


def synthetic_entries(n: int) -> list[ChainEntry]:
    entries: list[ChainEntry] = []
    prev = GENESIS_HASH
    for seq in range(n):
        order = f"ORD-{seq // 3:08d}"
        event_id = f"{seq:08x}-7f0c-4a9e-8b1d-{seq * 7919 % 10**12:012d}"
        when = f"2026-01-{1 + seq % 28:02d}T{seq % 24:02d}:{seq % 60:02d}:00Z"
        payload = None
        if seq % 50 != 49:
            payload = json.dumps(
                {"order_id": order, "line": seq % 3 + 1, "sku": f"SKU-{seq % 9973:05d}", "site": "DC-EU-1",
                 "qty": {"value": seq % 17 + 1, "unit": "EA"}, "requested_date": when[:10],
                 "customer_id": f"CUST-{seq % 4999:05d}", "channel": "B2B", "price": {"amount": "12.50",
                 "currency": "EUR"}, "source": "erp/SAP-EU"},
                separators=(",", ":"),
            ).encode()  # fmt: skip
        headers = [
            ("ce_specversion", b"1.0"),
            ("ce_id", event_id.encode()),
            ("ce_source", b"erp/SAP-EU"),
            ("ce_type", b"segflow.order.line.placed"),
            ("ce_time", when.encode()),
            ("ce_subject", order.encode()),
            ("content-type", b"application/json"),
            ("traceparent", f"00-{seq:032x}-{seq:016x}-01".encode()),
        ]
        entry = seal_entry(
            prev, seq=seq, topic="segflow.erp.orders.v1", partition=seq % 12, offset=seq // 12, key=order.encode(),
            headers=headers, type="segflow.order.line.placed", subject=order, event_time=when, event_id=event_id,
            payload=payload,
        )  # fmt: skip
        entries.append(entry)
        prev = entry.entry_hash
    return entries


def bare_hash_loop(payloads: list[bytes | None], canonicals: list[bytes]) -> bytes:
    """Baseline: only the SHA-256 work, on bytes prepared in advance."""
    sha256 = hashlib.sha256
    prev = GENESIS_HASH
    for payload, canonical in zip(payloads, canonicals, strict=True):
        if payload is not None:
            sha256(payload).hexdigest()
        prev = sha256(prev + canonical).digest()
    return prev


def run(smoke: bool = False) -> dict[str, Any]:
    n = 1_000 if smoke else 1_000_000
    repeat = 1 if smoke else 5
    t0 = time.perf_counter()
    entries = synthetic_entries(n)
    build_s = time.perf_counter() - t0

    outcome = verify_chain(entries)
    assert outcome.ok and outcome.checked == n, outcome
    deep_n = min(n, 20_000)
    deep_outcome = verify_chain(entries[:deep_n], deep=True)
    assert deep_outcome.ok, deep_outcome
    deep_s = best_of(lambda: verify_chain(entries[:deep_n], deep=True), 1)

    payloads = [e.payload for e in entries]
    canonicals = [canonical_metadata(e) for e in entries]
    assert bare_hash_loop(payloads, canonicals) == entries[-1].entry_hash
    verify_s, bare_s = float("inf"), float("inf")
    for _ in range(repeat):  # interleaved, best of each: the machine is shared, both see the same load
        verify_s = min(verify_s, best_of(lambda: verify_chain(entries), 1))
        bare_s = min(bare_s, best_of(lambda: bare_hash_loop(payloads, canonicals), 1))

    hashes = [e.entry_hash for e in entries]
    tree_root = root(hashes)
    merkle_s = best_of(lambda: root(hashes), repeat)

    def incremental() -> bytes:
        frontier = MerkleFrontier()
        for h in hashes:
            frontier.append(h)
        return frontier.root()

    assert incremental() == tree_root
    frontier_s = best_of(incremental, 1)

    rate = n / verify_s
    bare_rate = n / bare_s
    return result(
        "audit_verify",
        smoke=smoke,
        workload={
            "entries": n,
            "headers_per_entry": 8,
            "mean_payload_bytes": round(sum(len(p) for p in payloads if p) / max(1, n), 1),
            "tombstone_share": 0.02,
            "build_s": round(build_s, 2),
        },
        measured={
            "verify_chain_s": round(verify_s, 3),
            "verify_entries_per_s": round(rate),
            "checked": outcome.checked,
            "deep_verify_entries_per_s": round(deep_n / deep_s),
            "merkle_root_s": round(merkle_s, 3),
            "merkle_root_entries_per_s": round(n / merkle_s),
            "frontier_append_entries_per_s": round(n / frontier_s),
            "merkle_root_hex": tree_root.hex(),
            "goal_met": rate >= GOAL_PER_S,
        },
        baseline={"bare_hash_loop_s": round(bare_s, 3), "bare_hash_entries_per_s": round(bare_rate)},
        ratio={
            "verify_vs_bare_hashing": round(rate / bare_rate, 3),
            "verify_vs_goal": round(rate / GOAL_PER_S, 3),
        },
        goal=f">= {GOAL_PER_S:,} entries/s for verify_chain (issue 6 item 9)",
    )


if __name__ == "__main__":
    print(write(run()))
