"""Benchmark: policy parameters for 100,000 sku@site (mixed cycle / fill-rate / periodic) with the domain
entry point, against a bare numpy kernel (ndtri + the sqrt formula, cycle service only) in the same run."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import ndtri

from bench._common import best_of, result, write
from services.policy.domain.compute import compute_policies


def workload(items: int, seed: int = 42) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    kind = rng.random(items)
    fill = kind < 0.4
    periodic = kind > 0.8
    return {
        "d": rng.gamma(2.0, 50.0, items),
        "sd": rng.gamma(2.0, 12.0, items),
        "lead": rng.integers(0, 12, items).astype(float),
        "lead_sd": rng.uniform(0.0, 1.5, items),
        "target": rng.uniform(0.85, 0.995, items),
        "fill": fill,
        "q": np.where(fill & ~periodic, rng.uniform(50, 2000, items), np.nan),
        "review": np.where(periodic, rng.integers(1, 5, items), 0).astype(float),
    }


def bare_kernel(w: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """z = Phi^-1(a); sigma = sqrt(L sd^2 + d^2 sL^2); ROP = d L + z sigma (every item as cycle service)."""
    sigma = np.sqrt(w["lead"] * w["sd"] ** 2 + w["d"] ** 2 * w["lead_sd"] ** 2)
    safety = ndtri(w["target"]) * sigma
    return safety, w["d"] * w["lead"] + safety


def domain(w: dict[str, np.ndarray], cycle_only: bool = False) -> Any:
    n = w["d"].shape[0]
    fill = np.zeros(n, bool) if cycle_only else w["fill"]
    q = np.full(n, np.nan) if cycle_only else w["q"]
    review = np.zeros(n) if cycle_only else w["review"]
    return compute_policies(w["d"], w["sd"], w["lead"], w["lead_sd"], w["target"], fill, q, review, "normal")


def run(smoke: bool = False) -> dict[str, Any]:
    items = 1_000 if smoke else 100_000
    repeat = 1 if smoke else 5
    w = workload(items)
    mixed = domain(w)
    cycle = domain(w, cycle_only=True)
    safety, rop = bare_kernel(w)
    cycle_items = ~w["fill"] & (w["review"] == 0)
    correct = bool(
        np.allclose(cycle.parameters.reorder_point, rop, rtol=1e-12, atol=1e-9)
        and np.allclose(
            mixed.parameters.safety_stock[cycle_items], safety[cycle_items], rtol=1e-12, atol=1e-9
        )
        and np.all(np.isfinite(mixed.parameters.safety_stock))
    )
    t_mixed = best_of(lambda: domain(w), repeat)
    t_cycle = best_of(lambda: domain(w, cycle_only=True), repeat)
    t_bare = best_of(lambda: bare_kernel(w), repeat)
    methods, counts = np.unique(mixed.method, return_counts=True)
    return result(
        "policy_compute",
        workload={"items": items, "methods": dict(zip(methods.tolist(), counts.tolist(), strict=True))},
        measured={
            "mixed_s": t_mixed,
            "mixed_items_per_s": items / t_mixed,
            "cycle_only_s": t_cycle,
            "matches_bare_kernel": correct,
        },
        baseline={"bare_kernel_s": t_bare, "what": "ndtri + sqrt formula, cycle service for every item"},
        ratio={"mixed_vs_bare": t_mixed / t_bare, "cycle_only_vs_bare": t_cycle / t_bare},
        goal="informational: validation + routing overhead over the bare formula; fill-rate items add a Newton solve",
        smoke=smoke,
    )


if __name__ == "__main__":
    print(write(run()))
