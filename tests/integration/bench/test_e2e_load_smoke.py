"""bench/e2e_load smoke run: one small rate step through real ledger processes produces a well-formed
result where every published order line was applied end to end (on the test PostgreSQL and Kafka)."""

from __future__ import annotations

import asyncio

from bench import e2e_load


async def test_e2e_load_smoke_applies_every_line(database_url: str, kafka_bootstrap: str) -> None:
    res = await asyncio.to_thread(e2e_load.run, True)
    assert res["benchmark"] == "e2e_load" and res["smoke"] is True
    rate, seconds = e2e_load.SMOKE_RATES[0], e2e_load.SMOKE_STEP_S
    for side in ("measured", "baseline"):
        (step,) = res[side]["steps"]
        assert step["offered_per_s"] == rate
        assert step["published"] == int(rate * seconds) == 50
        assert step["applied"] == step["published"]  # nothing lost end to end
        assert step["lag"]["p50_ms"] <= step["lag"]["p99_ms"] <= step["lag"]["max_ms"]
    (step,) = res["measured"]["steps"]
    assert step["ledger_processes"] == 2 and step["transaction_batch"] == 100
    assert step["rss_mib_over_time"] and all(mib > 0 for _t, mib in step["rss_mib_over_time"])
    # the end state: every line (warm-up + measured) counted and echoed once; quantities from a plain loop
    end = step["end_state"]
    lines = [*range(-e2e_load.WARMUP_LINES, 0), *range(step["published"])]
    assert end["lines_counted"] == end["assignments_echoed"] == len(lines) == end["expected_lines"]
    assert end["quantity_total"] == sum(float(i % 7 + 1) for i in lines)
    assert set(res["ratio"]) == {
        "achieved_throughput_vs_raw_kafka_at_top_rate",
        "p99_lag_vs_raw_kafka_at_top_rate",
    }
    assert isinstance(res["measured"]["statement"], str)
