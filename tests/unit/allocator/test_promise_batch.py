"""Group commit of concurrent promises (SQLite, embedded): a batch answers every request as if it ran
alone in arrival order, treats a repeated key as a retry, and falls back to one by one on failure."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.allocator import app as allocator_app
from services.allocator import promise_batch, store_promises, store_reserved, store_supply
from services.allocator.promise_views import customer_keys, customer_keys_of
from services.allocator.promising import Promising
from services.allocator.schemas_service import PromiseRequest
from services.runtime.bus.memory import MemoryBus
from services.runtime.host import ServiceHost
from services.runtime.problems import Problem
from services.runtime.settings import Settings

NOW = dt.datetime(2030, 3, 1, 12, tzinfo=dt.UTC).timestamp()
TODAY = dt.date(2030, 3, 1)
STOCK = {"A": 50, "B": 20, "C": 7}


@pytest.fixture
async def host(tmp_path: Any) -> AsyncIterator[ServiceHost]:
    settings = Settings(data_dir=tmp_path, mode="embedded", env="test", jwt_secret="s" * 40)
    built = allocator_app.build(settings, bus=MemoryBus(), hold_ttl_s=600)
    built.state["promising"].clock = lambda: NOW
    await built.start(consume=False)
    async with built.db.unit_of_work() as session:
        for sku, units in STOCK.items():
            await store_supply.set_position(session, sku, "S1", units, NOW)
    yield built
    await built.stop()


def request(key: str, sku: str, quantity: int) -> PromiseRequest:
    return PromiseRequest(idempotency_key=key, customer_id="C", sku=sku, site="S1", quantity=quantity,
                          requested_date=TODAY)  # fmt: skip


def sequential_reference(requests: list[PromiseRequest]) -> list[float]:
    """Each request, in order, gets ``min(quantity, stock left of its sku)`` (all for today, no other demand)."""
    left = {sku: float(units) for sku, units in STOCK.items()}
    out = []
    for r in requests:
        got = min(float(r.quantity), left[r.sku])
        left[r.sku] -= got
        out.append(got)
    return out


async def reserved(host: ServiceHost, sku: str) -> float:
    async with host.db.read() as session:
        return await store_reserved.reserved_total(session, sku, "S1")


async def test_a_batch_answers_as_if_each_ran_alone_in_arrival_order(host: ServiceHost) -> None:
    promising: Promising = host.state["promising"]
    requests = [request(f"k{i}", "ABC"[i % 3], 1 + i % 4) for i in range(90)]
    answers = await asyncio.gather(*(promising.promise(r) for r in requests))
    assert [a["confirmed"] for a in answers] == sequential_reference(requests)
    assert all(
        a["confirmed"] + a["unconfirmed"] == r.quantity for a, r in zip(answers, requests, strict=True)
    )
    assert promising.batcher.batches < len(requests)  # they did share transactions
    for sku, units in STOCK.items():
        assert await reserved(host, sku) == units  # every sku was oversubscribed: all of it is held
    async with host.db.read() as session:
        stored = await store_promises.promises_by_keys(session, [r.idempotency_key for r in requests])
    assert {k: row.confirmed for k, row in stored.items()} == {
        r.idempotency_key: a["confirmed"] for r, a in zip(requests, answers, strict=True)
    }


async def test_a_key_repeated_inside_a_batch_is_a_retry(host: ServiceHost) -> None:
    promising: Promising = host.state["promising"]
    same = request("dup", "A", 5)
    other_body = request("dup", "A", 6)
    results = await asyncio.gather(
        promising.promise(request("x", "A", 1)), promising.promise(same), promising.promise(same),
        promising.promise(other_body), return_exceptions=True,
    )  # fmt: skip
    first, retried, conflict = results[1], results[2], results[3]
    assert isinstance(first, dict) and isinstance(retried, dict)
    assert retried["promise_id"] == first["promise_id"] and retried["confirmed"] == 5
    assert isinstance(conflict, Problem) and conflict.status == 409
    assert await reserved(host, "A") == 1 + 5  # the retry reserved nothing more
    again = await promising.promise(same)  # and a later retry returns the stored answer
    assert again["promise_id"] == first["promise_id"]


async def test_a_failing_batch_is_applied_one_by_one(host: ServiceHost, monkeypatch: Any) -> None:
    promising: Promising = host.state["promising"]
    calls = {"batch": 0}
    real = store_promises.insert_promises

    async def fail_once(session: Any, rows: list[dict[str, Any]]) -> set[str]:
        calls["batch"] += 1
        if calls["batch"] == 1:
            raise RuntimeError("simulated database failure")
        return await real(session, rows)

    monkeypatch.setattr(promise_batch.store_promises, "insert_promises", fail_once)
    requests = [request(f"f{i}", "C", 2) for i in range(6)]
    answers = await asyncio.gather(*(promising.promise(r) for r in requests))
    assert [a["confirmed"] for a in answers] == sequential_reference(requests)  # 2, 2, 2, 1, 0, 0
    assert promising.batcher.fallbacks == 1
    assert await reserved(host, "C") == STOCK["C"]


async def test_batched_customer_look_up_matches_the_one_by_one_rule(host: ServiceHost) -> None:
    async with host.db.unit_of_work() as session:
        await store_reserved.set_customer_source(session, "SAP-EU", "K-1", "gln:4012345000009")
    requests = [
        request("a", "A", 1),  # golden id given directly
        request("b", "A", 1).model_copy(update={"customer_source": "SAP-EU", "customer_id": "K-1"}),  # known
        request("c", "A", 1).model_copy(
            update={"customer_source": "SAP-EU", "customer_id": "K-2"}
        ),  # unknown
        request("d", "A", 1).model_copy(update={"customer_source": "bad source", "customer_id": "K-3"}),
    ]
    async with host.db.read() as session:
        batched = await customer_keys_of(session, requests)
        one_by_one = [await customer_keys(session, r) for r in requests]
    assert batched == one_by_one
    assert batched[0] == ["C"] and batched[1] == ["gln:4012345000009"] and batched[2][0].startswith("src:")
