"""bench/e2e_load smoke run: the stepped load produces a well-formed result where every published
order line was applied end to end (on the test PostgreSQL and Kafka)."""

from __future__ import annotations

import asyncio

from bench import e2e_load


async def test_e2e_load_smoke_applies_every_line(database_url: str, kafka_bootstrap: str) -> None:
    res = await asyncio.to_thread(e2e_load.run, True)
    assert res["benchmark"] == "e2e_load" and res["smoke"] is True
    for side in ("measured", "baseline"):
        (step,) = res[side]["steps"]
        assert step["published"] == step["offered_per_s"] * 5 == 250
        assert step["applied"] == step["published"]  # nothing lost end to end
        assert step["lag"]["p50_ms"] <= step["lag"]["p99_ms"] <= step["lag"]["max_ms"]
    assert res["measured"]["steps"][0]["rss_mib_over_time"]
    assert set(res["ratio"]) == {
        "achieved_throughput_vs_raw_kafka_at_top_rate",
        "p99_lag_vs_raw_kafka_at_top_rate",
    }
