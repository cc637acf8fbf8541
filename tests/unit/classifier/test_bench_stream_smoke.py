"""The streaming benchmark still runs (embedded parts) and aggregates every published unit (not speed)."""

from __future__ import annotations

import pytest

from bench.classifier_stream import run


def test_bench_stream_smoke() -> None:
    res = run(smoke=True)
    assert res["benchmark"] == "classifier_stream" and res["smoke"] is True
    assert set(res) >= {"workload", "measured", "baseline", "ratio", "machine", "goal"}
    assert res["workload"]["order_events"] == 600
    measured = res["measured"]
    assert measured["stored_lines"] == 600
    assert measured["stored_quantity"] == pytest.approx(measured["published_quantity"])
    assert res["ratio"]["classifier_over_raw"] > 0
