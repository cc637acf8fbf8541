"""The policy benchmarks run on a tiny workload and their measured work is correct (speed not asserted)."""

from __future__ import annotations

from bench import policy_compute, policy_kpis, policy_simulate

KEYS = {"benchmark", "smoke", "when", "machine", "workload", "measured", "baseline", "ratio", "goal"}


def test_policy_compute_smoke() -> None:
    res = policy_compute.run(smoke=True)
    assert set(res) == KEYS and res["smoke"] is True and res["benchmark"] == "policy_compute"
    assert res["measured"]["matches_bare_kernel"] is True
    assert sum(res["workload"]["methods"].values()) == res["workload"]["items"]
    assert res["ratio"]["mixed_vs_bare"] > 0


def test_policy_simulate_smoke() -> None:
    res = policy_simulate.run(smoke=True)
    assert set(res) == KEYS and res["smoke"] is True and res["benchmark"] == "policy_simulate"
    assert res["measured"]["same_fill_rate_as_bare"] is True
    # order-up-to sized for CSL 0.95 should land near it even on a tiny run
    assert 0.85 < res["measured"]["mean_cycle_service_level"] <= 1.0
    assert res["ratio"]["simulate_vs_bare"] > 0


def test_policy_kpis_smoke() -> None:
    res = policy_kpis.run(smoke=True)
    assert set(res) == KEYS and res["smoke"] is True and res["benchmark"] == "policy_kpis"
    sqlite = res["measured"]["sqlite"]
    assert sqlite["cached_equals_uncached"] is True
    assert sqlite["burst_recomputations"] == 1  # 8 concurrent calls after a write: one shared computation
