"""The audit verification benchmark still runs and its measured work is correct (not its speed)."""

from __future__ import annotations

from bench.audit_verify import run, synthetic_entries
from services.audit.domain.chain import verify_chain
from services.audit.domain.merkle import root


def test_bench_smoke_shape_and_correct_work() -> None:
    res = run(smoke=True)
    assert res["benchmark"] == "audit_verify" and res["smoke"] is True
    assert set(res) >= {"workload", "measured", "baseline", "ratio", "goal", "machine"}
    assert res["workload"]["entries"] == 1_000
    assert res["measured"]["checked"] == 1_000
    assert res["measured"]["verify_entries_per_s"] > 0 and res["baseline"]["bare_hash_entries_per_s"] > 0
    assert res["ratio"]["verify_vs_bare_hashing"] > 0
    entries = synthetic_entries(1_000)
    assert res["measured"]["merkle_root_hex"] == root([e.entry_hash for e in entries]).hex()
    assert verify_chain(entries, deep=True).ok
    assert sum(e.payload is None for e in entries) == 20  # the 2% tombstones really are there
