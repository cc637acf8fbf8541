"""The promise benchmark still runs end to end and its measured work is correct (speed is not asserted)."""

from __future__ import annotations

from bench.allocator_promise import SMOKE, run


def test_smoke_run_shape_and_checks() -> None:
    res = run(smoke=True)
    assert res["benchmark"] == "allocator_promise" and res["smoke"] is True
    expected = round(SMOKE["rate"] * SMOKE["seconds"])
    assert res["measured"]["requests"] == expected == res["baseline"]["requests"]
    assert res["measured"]["errors"] == 0 and res["measured"]["confirmed_units"] == expected
    assert all(res["measured"]["checks"].values()), res["measured"]
    assert res["ratio"]["p99_vs_baseline"] > 0 and res["measured"]["throughput_rps"] > 0
