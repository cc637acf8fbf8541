"""Benchmark: classify 1,000,000 products x 104 weekly buckets with the 6-rule DEFAULT_RULESET, against
the bare numpy kernel (argsort + cumsum of the driver, std / mean over the buckets) in the same run.

Goal: engine time within 2x of the kernel time (ratio = engine / kernel). Demand is float32 for both.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench._common import best_of, result, write
from services.classifier.domain.abc import ABC_LABELS
from services.classifier.domain.batch import EntityBatch
from services.classifier.domain.engine import classify
from services.classifier.domain.ruleset import DEFAULT_RULESET
from services.classifier.domain.xyz import XYZ_LABELS

SEED = 20260301


def make_batch(n: int, buckets: int, seed: int = SEED) -> EntityBatch:
    """Seeded synthetic products: lognormal revenue, margin 0-50 %, 1 % strategic, Poisson demand with
    product-specific rate and 0-90 % empty weeks (so all four demand patterns occur). Ids ascending."""
    rng = np.random.default_rng(seed)
    revenue = rng.lognormal(8.0, 1.6, n)
    margin = revenue * rng.uniform(0.0, 0.5, n)
    demand = np.empty((n, buckets), dtype=np.float32)
    rate = rng.gamma(2.0, 3.0, n)
    empty_share = rng.uniform(0.0, 0.9, n)
    step = 65_536
    for start in range(0, n, step):
        stop = min(start + step, n)
        block = rng.poisson(rate[start:stop, None], (stop - start, buckets)).astype(np.float32)
        block[rng.random((stop - start, buckets)) < empty_share[start:stop, None]] = 0.0
        demand[start:stop] = block
    ids = np.char.add("P", np.char.zfill(np.arange(n).astype(str), 7))
    return EntityBatch(
        ids=ids,
        dimension="product",
        measures={"revenue": revenue, "margin": margin},
        demand=demand,
        attributes={"strategic": rng.random(n) < 0.01},
    )


def kernel(revenue: np.ndarray, demand: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bare numpy baseline: sort the driver descending, cumulative sum, CV = std / mean per row."""
    order = np.argsort(-revenue)
    cumulative = np.cumsum(revenue[order])
    with np.errstate(invalid="ignore", divide="ignore"):
        cv = demand.std(axis=1) / demand.mean(axis=1)
    return order, cumulative, cv


def kernel_classes(revenue: np.ndarray, demand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ABC and XYZ labels derived from the kernel's outputs (the reference for the correctness check)."""
    order, cumulative, cv = kernel(revenue, demand)
    before = np.empty_like(cumulative)
    before[0], before[1:] = 0.0, cumulative[:-1]
    share = before / cumulative[-1]
    abc_sorted = np.where(share < 0.8, "A", np.where(share < 0.95, "B", "C"))
    abc = np.empty(revenue.shape[0], dtype=abc_sorted.dtype)
    abc[order] = abc_sorted
    xyz = np.where(np.isnan(cv), "-", np.where(cv <= 0.5, "X", np.where(cv <= 1.0, "Y", "Z")))
    return abc, xyz


def run(smoke: bool = False) -> dict[str, Any]:
    n, buckets = (2_000, 104) if smoke else (1_000_000, 104)
    repeat = 1 if smoke else 3
    batch = make_batch(n, buckets)
    revenue = batch.measures["revenue"]
    outcome = classify(batch, DEFAULT_RULESET, period_index=buckets)
    engine_s = best_of(lambda: classify(batch, DEFAULT_RULESET, period_index=buckets), repeat)
    kernel_s = best_of(lambda: kernel(revenue, batch.demand), repeat)

    abc_ref, xyz_ref = kernel_classes(revenue, batch.demand)
    abc = np.array(ABC_LABELS)[outcome.abc]
    xyz = np.where(outcome.xyz < 0, "-", np.array(XYZ_LABELS)[np.maximum(outcome.xyz, 0)])
    cv_ref = kernel(revenue, batch.demand)[2]
    return result(
        "classify",
        workload={
            "entities": n,
            "buckets": buckets,
            "bucket": "week",
            "demand_dtype": "float32",
            "rules": len(DEFAULT_RULESET["rules"]),
            "seed": SEED,
        },
        measured={
            "engine_s": engine_s,
            "entities_per_s": n / engine_s,
            "segment_counts": outcome.segment_counts(),
            "abc_matches_kernel": int((abc == abc_ref).sum()),
            "xyz_matches_kernel": int((xyz == xyz_ref).sum()),
            "max_cv_difference": float(np.nanmax(np.abs(outcome.cv - cv_ref))),
        },
        baseline={
            "kernel_s": kernel_s,
            "what": "argsort + cumsum of revenue, std / mean over axis 1 (float32)",
        },
        ratio={"engine_over_kernel": engine_s / kernel_s},
        goal="engine_over_kernel <= 2.0",
        smoke=smoke,
    )


if __name__ == "__main__":
    print(write(run()))
