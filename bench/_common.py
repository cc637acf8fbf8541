"""Shared plumbing for benchmarks: machine facts, timing helpers and the JSON result format.

Every benchmark module exposes ``run(smoke: bool = False) -> dict`` returning the dict built by
``result(...)`` and is runnable as ``python -m bench.<name>`` (writes bench/results/<name>.json).
A smoke run uses a tiny workload so the test suite keeps the benchmark working; it asserts nothing
about speed.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """The facts a reader needs to compare two result files."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        mem_gib = round(pages / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {
        "cpu": cpu or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def best_of(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Minimum wall time of ``repeat`` calls in seconds (the least disturbed run)."""
    best = float("inf")
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def percentiles(samples_s: list[float] | np.ndarray) -> dict[str, float]:
    """p50/p90/p99/max of latency samples, reported in milliseconds."""
    arr = np.asarray(samples_s, dtype=float) * 1000.0
    if arr.size == 0:
        return {
            "p50_ms": float("nan"),
            "p90_ms": float("nan"),
            "p99_ms": float("nan"),
            "max_ms": float("nan"),
        }
    return {
        "p50_ms": float(np.percentile(arr, 50)),
        "p90_ms": float(np.percentile(arr, 90)),
        "p99_ms": float(np.percentile(arr, 99)),
        "max_ms": float(arr.max()),
    }


def result(
    name: str,
    *,
    workload: dict[str, Any],
    measured: dict[str, Any],
    baseline: dict[str, Any],
    ratio: dict[str, float],
    goal: str | None = None,
    smoke: bool = False,
) -> dict[str, Any]:
    """The one result shape: workload, machine, measured, baseline (same run) and their ratio."""
    return {
        "benchmark": name,
        "smoke": smoke,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "workload": workload,
        "measured": measured,
        "baseline": baseline,
        "ratio": ratio,
        "goal": goal,
    }


def write(res: dict[str, Any]) -> Path:
    """Write a result to bench/results/<benchmark>.json (smoke runs go to <benchmark>.smoke.json)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    suffix = ".smoke.json" if res.get("smoke") else ".json"
    path = RESULTS_DIR / f"{res['benchmark']}{suffix}"
    path.write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    return path
