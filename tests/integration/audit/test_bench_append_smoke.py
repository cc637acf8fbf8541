"""Smoke run of bench/audit_append.py (needs the real PostgreSQL: its baseline is asyncpg COPY)."""

from __future__ import annotations

import pytest

from bench import audit_append


def test_append_bench_smoke_runs_and_the_appended_chain_verifies(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEGFLOW_TEST_DATABASE_URL", database_url)
    res = audit_append.run(smoke=True)
    assert res["benchmark"] == "audit_append" and res["smoke"] is True
    assert res["measured"]["verified"] is True
    assert res["measured"]["entries"] == res["workload"]["records"] == res["baseline"]["rows"]
    assert res["measured"]["tree_heads"] >= 1
    assert res["ratio"]["append_vs_copy_hash"] > 0
    for side in ("measured", "baseline"):  # load-independent costs: Python always, PostgreSQL when local
        assert res[side]["python_cpu_us_per_record"] > 0
        pg = res[side]["postgres_cpu_us_per_record"]
        assert pg is None or pg >= 0
