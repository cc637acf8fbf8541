"""The promise benchmark still runs end to end and its measured work is correct (speed is not asserted)."""

from __future__ import annotations

from bench.allocator_promise import SMOKE, run


def test_smoke_run_shape_and_checks() -> None:
    res = run(smoke=True)
    assert res["benchmark"] == "allocator_promise" and res["smoke"] is True
    expected = round(SMOKE["rates"][0] * SMOKE["seconds"])
    measured = res["measured"]
    assert measured["requests"] == expected == res["baseline"]["requests"]
    # request i asks for 1 + i % 3 units; every one is confirmed in full (ample stock)
    assert measured["requested_units"] == sum(1 + i % 3 for i in range(expected))
    assert measured["errors"] == 0 and measured["confirmed_units"] == measured["requested_units"]
    assert all(measured["checks"].values()), measured
    assert res["ratio"]["p99_vs_baseline"] > 0 and measured["throughput_rps"] > 0
    assert set(res["workload"]) >= {"rates_rps", "seconds_per_run", "skus", "database"}
    assert [step["rate_rps"] for step in measured["steps"]] == SMOKE["rates"]
    assert measured["kept_up_to_rps"] in (None, *SMOKE["rates"])
