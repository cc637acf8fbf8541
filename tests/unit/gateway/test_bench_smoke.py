"""The gateway benchmark runs end to end on a tiny workload and its measured work is correct."""

from __future__ import annotations

import asyncio

from bench import gateway_promise


async def test_gateway_promise_bench_smoke() -> None:
    res = await asyncio.to_thread(gateway_promise.run, True)  # it runs its own event loops
    assert res["benchmark"] == "gateway_promise" and res["smoke"] is True
    assert res["workload"]["requests"] == 20
    for key in ("p50_gateway_over_direct", "p99_gateway_over_direct", "p50_masked_over_unmasked"):
        assert res["ratio"][key] > 0
    assert (
        res["measured"]["via_gateway"]["p50_ms"] > 0 and res["baseline"]["direct_to_allocator"]["p50_ms"] > 0
    )
    assert res["measured"]["via_gateway"]["achieved_per_s"] > 0
