"""Benchmark: Monte Carlo of order-up-to policies, 10,000 SKUs x 52 weeks x 200 paths, with the domain
simulator (metrics, confidence intervals, mixed-policy logic) against the bare inventory recursion in
numpy on the same random draws (same generator, same chunks), in the same run. Goal: within 1.5x."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from bench._common import best_of, result, write
from services.policy.domain.demand_draws import DemandModel, truncated_normal
from services.policy.domain.simulate import CHUNK_ELEMENTS, InventoryPolicy, simulate


def workload(items: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    d = rng.gamma(3.0, 30.0, items)
    sd = d * rng.uniform(0.1, 0.5, items)
    lead = rng.integers(1, 6, items)
    big_s = d * (lead + 1) + stats.norm.ppf(0.95) * sd * np.sqrt(lead + 1)
    return {"d": d, "sd": sd, "lead": lead, "S": big_s}


def domain_run(w: dict[str, np.ndarray], paths: int, periods: int, seed: int) -> Any:
    n = w["d"].shape[0]
    policy = InventoryPolicy(
        np.full(n, "order_up_to"), np.full(n, np.nan), w["S"], np.full(n, np.nan), np.ones(n, dtype=np.int64)
    )
    demand = DemandModel(np.full(n, "normal"), w["d"], w["sd"])
    return simulate(
        policy, demand, w["lead"].astype(float), 0.0, w["S"], paths=paths, periods=periods, seed=seed
    )


def bare_run(w: dict[str, np.ndarray], paths: int, periods: int, seed: int) -> np.ndarray:
    """Minimal base-stock recursion (receive, serve, order up to S) returning the mean fill rate per item."""
    rng = np.random.default_rng(seed)
    n = w["d"].shape[0]
    chunk = max(1, CHUNK_ELEMENTS // (paths * periods))
    fill = np.empty(n)
    for first in range(0, n, chunk):
        part = slice(first, min(n, first + chunk))
        d, sd, lead, big_s = w["d"][part], w["sd"][part], w["lead"][part], w["S"][part]
        m = d.shape[0]
        demand = truncated_normal(rng, d[None, :, None], sd[None, :, None], (paths, m, periods))
        window = int(lead.max()) + 2
        pipeline = np.zeros((paths, m, window))
        cols = np.arange(m)
        net = np.broadcast_to(big_s, (paths, m)).copy()
        on_order = np.zeros((paths, m))
        served = np.zeros((paths, m))
        for t in range(periods):
            arriving = pipeline[:, :, t % window].copy()
            pipeline[:, :, t % window] = 0.0
            net += arriving
            on_order -= arriving
            served += np.minimum(demand[:, :, t], np.maximum(net, 0.0))
            net -= demand[:, :, t]
            order = np.maximum(big_s - net - on_order, 0.0)
            pipeline[:, cols, (t + lead + 1) % window] += order
            on_order += order
        fill[first : first + m] = (served / demand.sum(axis=2)).mean(axis=0)
    return fill


def run(smoke: bool = False) -> dict[str, Any]:
    items, paths, periods = (50, 20, 52) if smoke else (10_000, 200, 52)
    repeat = 1 if smoke else 2
    w = workload(items)
    metrics = domain_run(w, paths, periods, seed=9)
    bare_fill = bare_run(w, paths, periods, seed=9)
    correct = bool(np.allclose(metrics.fill_rate.mean, bare_fill, rtol=1e-12, atol=1e-12))
    t_domain = best_of(lambda: domain_run(w, paths, periods, seed=9), repeat)
    t_bare = best_of(lambda: bare_run(w, paths, periods, seed=9), repeat)
    cells = items * paths * periods
    return result(
        "policy_simulate",
        workload={
            "items": items,
            "paths": paths,
            "periods": periods,
            "cells": cells,
            "policy": "order_up_to, CSL 0.95",
        },
        measured={
            "simulate_s": t_domain,
            "cells_per_s": cells / t_domain,
            "same_fill_rate_as_bare": correct,
            "mean_cycle_service_level": float(np.nanmean(metrics.cycle_service_level.mean)),
        },
        baseline={"bare_kernel_s": t_bare, "what": "minimal numpy base-stock recursion on the same draws"},
        ratio={"simulate_vs_bare": t_domain / t_bare},
        goal="simulate_vs_bare <= 1.5",
        smoke=smoke,
    )


if __name__ == "__main__":
    print(write(run()))
