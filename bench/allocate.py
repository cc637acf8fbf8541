"""Benchmark: allocate 100,000 order lines across 5 tiers and 10,000 SKUs with ``allocate_batch``
(strict tier priority, proportional fair share with largest-remainder rounding, ties by due date then id)
against a minimal vectorised numpy kernel measured in the same run (proportional share with floor
rounding: no tie-breaks, no remainder distribution, no explanations). Goal: within 2x of the kernel."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench._common import best_of, result, write
from services.allocator.domain.batch import allocate_batch

FULL = {"lines": 100_000, "skus": 10_000, "tiers": 5}
SMOKE = {"lines": 1_000, "skus": 100, "tiers": 5}


def make_workload(lines: int, skus: int, tiers: int, seed: int = 7) -> dict[str, np.ndarray]:
    """Random lines; each SKU's supply is 30-120 % of its demand, so most SKUs have a short tier."""
    rng = np.random.default_rng(seed)
    sku = rng.integers(0, skus, lines)
    quantity = rng.integers(1, 101, lines)
    demand = np.bincount(sku, weights=quantity, minlength=skus)
    return {
        "sku": sku,
        "tier": rng.integers(1, tiers + 1, lines),
        "quantity": quantity,
        "due": rng.integers(0, 30, lines),
        "line_id": rng.permutation(lines),
        "supply": np.floor(demand * rng.uniform(0.3, 1.2, skus)).astype(np.int64),
    }


def baseline_kernel(
    sku: np.ndarray, tier: np.ndarray, quantity: np.ndarray, supply: np.ndarray
) -> np.ndarray:
    """Minimal priority + proportional share: floor(pool * q / D) per (sku, tier) group, nothing more."""
    order = np.argsort(sku * (int(tier.max()) + 1) + tier)  # (sku, tier) as one int64 key
    s_sku, s_tier, s_qty = sku[order], tier[order], quantity[order]
    boundary = np.ones(order.size, dtype=bool)
    boundary[1:] = (s_sku[1:] != s_sku[:-1]) | (s_tier[1:] != s_tier[:-1])
    starts = np.flatnonzero(boundary)
    group = np.cumsum(boundary) - 1
    demand = np.add.reduceat(s_qty, starts)
    group_sku = s_sku[starts]
    running = np.cumsum(demand)
    first = np.ones(starts.size, dtype=bool)
    first[1:] = group_sku[1:] != group_sku[:-1]
    before = running - demand - (running - demand)[first][np.cumsum(first) - 1]
    pool = np.clip(supply[group_sku] - before, 0, demand)
    allocated = np.empty_like(quantity)
    allocated[order] = pool[group] * s_qty // np.maximum(demand[group], 1)
    return allocated


def run(smoke: bool = False) -> dict[str, Any]:
    size = SMOKE if smoke else FULL
    w = make_workload(size["lines"], size["skus"], size["tiers"])
    repeat = 1 if smoke else 60

    def measured_call() -> np.ndarray:
        return allocate_batch(
            w["sku"], w["tier"], w["quantity"], w["due"], w["line_id"], w["supply"]
        ).allocated

    def baseline_call() -> np.ndarray:
        return baseline_kernel(w["sku"], w["tier"], w["quantity"], w["supply"])

    allocated, floor_only = measured_call(), baseline_call()
    # interleaved so a noisy neighbour on a shared machine disturbs both sides alike; best of each
    measured_s, baseline_s = float("inf"), float("inf")
    for _ in range(repeat):
        measured_s = min(measured_s, best_of(measured_call, 1))
        baseline_s = min(baseline_s, best_of(baseline_call, 1))
    demand = np.bincount(w["sku"], weights=w["quantity"], minlength=size["skus"])
    per_sku = np.bincount(w["sku"], weights=allocated, minlength=size["skus"])
    checks = {
        "sum_per_sku_equals_min_supply_demand": bool(
            np.array_equal(per_sku, np.minimum(w["supply"], demand))
        ),
        "never_above_request": bool((allocated <= w["quantity"]).all()),
        "rounding_within_one_unit_of_floor_kernel": bool(
            ((allocated - floor_only) >= 0).all() and ((allocated - floor_only) <= 1).all()
        ),
    }
    return result(
        "allocate",
        workload={**size, "mode": "proportional", "supply_vs_demand": "30-120 % per SKU", "repeat": repeat},
        measured={
            "name": "allocate_batch (largest remainder, ties by due then id)",
            "seconds": measured_s,
            "lines_per_second": size["lines"] / measured_s,
            "allocated_units": int(allocated.sum()),
            "checks": checks,
        },
        baseline={
            "name": "numpy kernel: proportional share, floor rounding only",
            "seconds": baseline_s,
            "lines_per_second": size["lines"] / baseline_s,
            "allocated_units": int(floor_only.sum()),
        },
        ratio={"time_vs_baseline": measured_s / baseline_s},
        goal="time_vs_baseline <= 2.0",
        smoke=smoke,
    )


if __name__ == "__main__":
    print(write(run()))
