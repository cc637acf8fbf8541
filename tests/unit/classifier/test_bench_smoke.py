"""The classify benchmark still runs and its engine output agrees with the bare kernel (not speed)."""

from __future__ import annotations

from bench.classify import run


def test_bench_smoke() -> None:
    res = run(smoke=True)
    assert res["benchmark"] == "classify" and res["smoke"] is True
    assert set(res) >= {"workload", "measured", "baseline", "ratio", "machine", "goal"}
    n = res["workload"]["entities"]
    assert n == 2_000 and res["workload"]["buckets"] == 104
    measured = res["measured"]
    assert measured["abc_matches_kernel"] == n
    assert measured["xyz_matches_kernel"] == n
    assert measured["max_cv_difference"] < 1e-5  # kernel std runs in float32
    assert sum(measured["segment_counts"].values()) == n
    assert res["ratio"]["engine_over_kernel"] > 0
