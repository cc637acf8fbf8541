"""The allocation benchmark still runs and its measured work is correct (speed is not asserted)."""

from __future__ import annotations

import numpy as np

from bench.allocate import SMOKE, baseline_kernel, make_workload, run
from services.allocator.domain.batch import allocate_batch

from .reference import reference_allocation


def test_smoke_run_shape_and_checks() -> None:
    res = run(smoke=True)
    assert res["benchmark"] == "allocate" and res["smoke"] is True
    assert res["workload"]["lines"] == SMOKE["lines"]
    assert res["measured"]["seconds"] > 0 and res["baseline"]["seconds"] > 0
    assert res["ratio"]["time_vs_baseline"] > 0
    assert all(res["measured"]["checks"].values()), res["measured"]["checks"]


def test_smoke_workload_matches_the_reference() -> None:
    w = make_workload(SMOKE["lines"], SMOKE["skus"], SMOKE["tiers"])
    allocated = allocate_batch(
        w["sku"], w["tier"], w["quantity"], w["due"], w["line_id"], w["supply"]
    ).allocated
    floor_only = baseline_kernel(w["sku"], w["tier"], w["quantity"], w["supply"])
    for s in range(SMOKE["skus"]):
        rows = np.flatnonzero(w["sku"] == s)
        lines = [
            (f"{w['line_id'][i]:06d}", int(w["tier"][i]), int(w["quantity"][i]), int(w["due"][i]))
            for i in rows
        ]
        expected = reference_allocation(lines, int(w["supply"][s]), "proportional")
        assert [int(allocated[i]) for i in rows] == [expected[f"{w['line_id'][i]:06d}"] for i in rows]
        assert all(0 <= allocated[i] - floor_only[i] <= 1 for i in rows)
