"""bench/e2e_load smoke run: one small rate step through the REAL classifier, policy and audit processes (test
PostgreSQL and Kafka) produces a well-formed result where every published record reached every service that
applies it, and a classification run's segment events reached policy and the audit log."""

from __future__ import annotations

import asyncio
import math

from bench import e2e_load
from tests.support import realchain_workload as wl


async def test_e2e_load_smoke_applies_every_record(database_url: str, kafka_bootstrap: str) -> None:
    res = await asyncio.to_thread(e2e_load.run, True)
    assert res["benchmark"] == "e2e_load" and res["smoke"] is True
    rate, seconds = e2e_load.SMOKE_RATES[0], e2e_load.SMOKE_STEP_S
    # the workload, counted independently: the same seeded stream, orders counted by kind
    items = wl.stream(
        e2e_load.SEED, int(rate * seconds), customers=e2e_load.CUSTOMERS, products=e2e_load.PRODUCTS
    )
    orders = sum(1 for i in items if i.kind == "order")
    for side in ("measured", "baseline"):
        (step,) = res[side]["steps"]
        assert step["offered_per_s"] == rate
        assert step["published"] == int(rate * seconds) == 50
        assert step["applied"] == step["published"]  # nothing lost end to end
        assert 0 < step["lag"]["p50_ms"] <= step["lag"]["p99_ms"] <= step["lag"]["max_ms"]
    (step,) = res["measured"]["steps"]
    assert step["orders"] == orders > 0
    # end-to-end lag of an order is the latest service's: never below any single service's
    for name in e2e_load.SERVICES:
        assert step["lag_by_service"][name]["max_ms"] <= step["lag"]["max_ms"] + 1e-6
        samples = step["rss_mib_over_time"][name]
        assert samples and all(mib > 0 and not math.isnan(mib) for _t, mib in samples)
    chain = step["segment_chain"]
    # 100 products, each with demand or not, get exactly one assignment in the first product run
    assert chain["run_status"] == "succeeded"
    assert chain["segment_assigned"] == e2e_load.PRODUCTS
    assert chain["segment_events"] >= chain["segment_assigned"]
    assert chain["to_policy_s"] > 0 and chain["to_audit_s"] > 0
    assert set(res["ratio"]) == {
        "achieved_throughput_vs_raw_kafka_at_top_rate",
        "p99_lag_vs_raw_kafka_at_top_rate",
    }
    assert isinstance(res["measured"]["statement"], str)
