"""services.runtime.versioned_cache: reuse while the version is covered, one computation per key at a time,
bounded, failures not cached, a departing caller does not cancel the computation others await."""

from __future__ import annotations

import asyncio

import pytest

from services.runtime.metrics import REGISTRY
from services.runtime.versioned_cache import VersionedCache, covers


class Compute:
    """A computation that counts its runs and can be held open until released."""

    def __init__(self, value: str = "v") -> None:
        self.value, self.runs = value, 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self) -> str:
        self.runs += 1
        await self.gate.wait()
        return f"{self.value}{self.runs}"


def test_covers_means_every_counter_at_least_the_wanted_one() -> None:
    assert covers((3, 5), (3, 5)) and covers((4, 5), (3, 5))
    assert not covers((4, 4), (3, 5)) and not covers((3,), (3, 5))


async def test_reused_while_covered_and_recomputed_for_a_newer_version() -> None:
    cache: VersionedCache[str] = VersionedCache("test", "unit")
    compute = Compute()
    assert await cache.get("k", (1, 1), compute) == "v1"
    assert await cache.get("k", (1, 1), compute) == "v1"
    assert await cache.get("k", (0, 1), compute) == "v1"  # an older caller gets the newer result
    assert compute.runs == 1 and (cache.hits, cache.misses) == (2, 1)
    assert await cache.get("k", (1, 2), compute) == "v2"
    assert compute.runs == 2 and cache.misses == 2


async def test_concurrent_callers_share_one_computation() -> None:
    cache: VersionedCache[str] = VersionedCache("test", "unit")
    compute = Compute()
    compute.gate.clear()
    callers = [asyncio.create_task(cache.get("k", (1,), compute)) for _ in range(5)]
    await asyncio.sleep(0.01)
    compute.gate.set()
    assert await asyncio.gather(*callers) == ["v1"] * 5
    assert compute.runs == 1 and (cache.misses, cache.shared, cache.hits) == (1, 4, 0)


async def test_a_newer_version_waits_for_the_running_computation_then_computes_once() -> None:
    cache: VersionedCache[str] = VersionedCache("test", "unit")
    compute = Compute()
    compute.gate.clear()
    old = asyncio.create_task(cache.get("k", (1,), compute))
    await asyncio.sleep(0.01)
    newer = [asyncio.create_task(cache.get("k", (2,), compute)) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert compute.runs == 1  # not started next to the running one
    compute.gate.set()
    assert await old == "v1"
    assert await asyncio.gather(*newer) == ["v2"] * 3
    assert compute.runs == 2 and cache.misses == 2


async def test_a_cancelled_caller_does_not_cancel_the_computation() -> None:
    cache: VersionedCache[str] = VersionedCache("test", "unit")
    compute = Compute()
    compute.gate.clear()
    first = asyncio.create_task(cache.get("k", (1,), compute))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(cache.get("k", (1,), compute))
    await asyncio.sleep(0.01)
    first.cancel()
    compute.gate.set()
    assert await second == "v1"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await cache.get("k", (1,), compute) == "v1" and compute.runs == 1


async def test_a_failure_reaches_every_waiter_and_is_not_cached() -> None:
    cache: VersionedCache[str] = VersionedCache("test", "unit")
    gate = asyncio.Event()
    runs = 0

    async def failing() -> str:
        nonlocal runs
        runs += 1
        await gate.wait()
        raise RuntimeError("database gone")

    callers = [asyncio.create_task(cache.get("k", (1,), failing)) for _ in range(3)]
    await asyncio.sleep(0.01)
    gate.set()
    outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert [str(o) for o in outcomes] == ["database gone"] * 3 and runs == 1
    assert len(cache) == 0
    assert await cache.get("k", (1,), Compute("ok")) == "ok1"


async def test_bounded_least_recently_used_first() -> None:
    cache: VersionedCache[str] = VersionedCache("test", "unit", max_entries=2)
    for key in ("a", "b"):
        await cache.get(key, (1,), Compute(key))
    await cache.get("a", (1,), Compute("unused"))  # a is now the most recent
    await cache.get("c", (1,), Compute("c"))
    assert len(cache) == 2
    again = Compute("b-again")
    assert await cache.get("b", (1,), again) == "b-again1"  # b was evicted
    assert await cache.get("c", (1,), Compute("unused")) == "c1"


async def test_lookups_are_counted_in_the_metrics_registry() -> None:
    name = "unit-metrics"
    cache: VersionedCache[str] = VersionedCache("test", name)
    compute = Compute()
    await cache.get("k", (1,), compute)
    await cache.get("k", (1,), compute)

    def sample(outcome: str) -> float | None:
        labels = {"service": "test", "cache": name, "outcome": outcome}
        return REGISTRY.get_sample_value("segflow_cache_lookups_total", labels)

    assert sample("miss") == 1.0 and sample("hit") == 1.0
