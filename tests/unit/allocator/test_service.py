"""The allocator service in embedded mode (MemoryBus + SQLite): picture from events, ATP, promises with
idempotency, TTL, confirm/release, quotas, backorder processing, allocation runs and roles."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from contracts import topics
from contracts.envelope import from_kafka
from services.allocator import app as allocator_app
from services.runtime.auth import issue_token
from services.runtime.bus.memory import MemoryBus
from services.runtime.host import ServiceHost
from services.runtime.settings import Settings

from .events import T0, Message, assignment, eventually, order_line, position, receipt

NOW = (T0 + dt.timedelta(hours=12)).timestamp()
TODAY = T0.date()


def day(n: int) -> str:
    return (TODAY + dt.timedelta(days=n)).isoformat()


class Harness:
    def __init__(
        self, host: ServiceHost, bus: MemoryBus, http: httpx.AsyncClient, clock: list[float]
    ) -> None:
        self.host, self.bus, self.http, self.clock = host, bus, http, clock

    async def publish(self, *messages: Message) -> None:
        for topic, key, value, headers in messages:
            await self.bus.publish(topic, key, value, headers)

    async def settle(self) -> None:
        """Wait until every consumer has processed everything published so far."""

        async def done() -> bool:
            for consumer in self.host.consumers:
                for topic in consumer.topics:
                    ends = await self.bus.end_offsets(topic)
                    committed = await self.bus.committed(consumer.group, topic)
                    if any(committed.get(p, 0) < end for p, end in ends.items()):
                        return False
            return True

        await eventually(done)

    async def events(self, type_: str) -> list[dict[str, Any]]:
        await self.host.relay.relay_once()
        out = []
        for record in await self.bus.read_all(topics.ALLOCATION_PROMISES) + await self.bus.read_all(
            topics.ALLOCATION_DECISIONS
        ):
            env = from_kafka(record.value, record.headers)
            if env.type == type_:
                out.append(orjson.loads(env.data or b"{}"))
        return out


def token(settings: Settings, *roles: str, customer_id: str | None = None) -> dict[str, str]:
    jwt = issue_token(settings, subject="t", roles=list(roles), customer_id=customer_id)
    return {"Authorization": f"Bearer {jwt}"}


@pytest.fixture
async def harness(tmp_path: Any) -> AsyncIterator[Harness]:
    settings = Settings(data_dir=tmp_path, mode="embedded", env="test", jwt_secret="s" * 40)
    bus = MemoryBus()
    host = allocator_app.build(settings, bus=bus, hold_ttl_s=600, worker_interval_s=3600)
    clock = [NOW]
    host.state["promising"].clock = lambda: clock[0]
    await host.start()
    transport = httpx.ASGITransport(app=host.app)
    headers = token(settings, "service")
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as http:
        yield Harness(host, bus, http, clock)
    await host.stop()


def reference_atp(on_hand: float, receipts: list[float], orders: list[float]) -> list[float]:
    """Backward consumption written as a plain loop over earlier buckets (latest first)."""
    atp = [r - o for r, o in zip(receipts, orders, strict=True)]
    atp[0] += on_hand
    for t in range(len(atp)):
        for s in range(t - 1, -1, -1):
            if atp[t] >= 0:
                break
            take = min(-atp[t], max(0.0, atp[s]))
            atp[s] -= take
            atp[t] += take
    return atp


async def promise(h: Harness, key: str, quantity: int, customer: str = "C1", **extra: Any) -> httpx.Response:
    body = {"idempotency_key": key, "customer_id": customer, "customer_source": "test", "sku": "SKU",
            "site": "S1", "quantity": quantity, "requested_date": day(0), "reserve": True, **extra}  # fmt: skip
    return await h.http.post("/v1/promise", json=body)


async def stock(h: Harness, on_hand: float = 10) -> None:
    await h.publish(
        position("SKU", "S1", on_hand),
        receipt("R1", "SKU", "S1", 5, TODAY + dt.timedelta(days=3)),
        order_line("O1", "C9", "SKU", "S1", 4, TODAY),
    )
    await h.settle()


async def test_atp_from_the_consumed_picture(harness: Harness) -> None:
    await stock(harness)
    response = await harness.http.get("/v1/atp", params={"sku": "SKU", "site": "S1"})
    assert response.status_code == 200, response.text
    body = response.json()
    receipts = [b["receipts"] for b in body["buckets"]]
    orders = [b["orders"] for b in body["buckets"]]
    assert body["buckets"][0]["date"] == day(0) and receipts[3] == 5 and orders[0] == 4
    assert [b["atp"] for b in body["buckets"]] == reference_atp(10, receipts, orders)
    assert body["promisable"] == 10 + 5 - 4


async def test_promise_confirms_earliest_dates_and_reserves(harness: Harness) -> None:
    await stock(harness)
    response = await promise(harness, "k1", 8)
    assert response.status_code == 200, response.text
    answer = response.json()
    # 6 free today (10 on hand - 4 ordered), the other 2 when the receipt of 5 lands on day 3
    assert answer["confirmations"] == [{"date": day(0), "quantity": 6.0}, {"date": day(3), "quantity": 2.0}]
    assert (
        answer["unconfirmed"] == 0
        and answer["status"] == "held"
        and answer["explanation"]["limited_by"] == "atp"
    )
    atp = (await harness.http.get("/v1/atp", params={"sku": "SKU", "site": "S1"})).json()
    assert atp["promisable"] == 11 - 8
    made = await harness.events("segflow.promise.made")
    assert [e["promise_id"] for e in made] == [answer["promise_id"]]
    second = (await promise(harness, "k2", 5)).json()
    assert second["confirmations"] == [{"date": day(3), "quantity": 3.0}] and second["unconfirmed"] == 2


async def test_retried_key_returns_the_same_answer_and_reserves_once(harness: Harness) -> None:
    await stock(harness)
    first = (await promise(harness, "same", 4)).json()
    again = await asyncio.gather(*(promise(harness, "same", 4) for _ in range(5)))
    assert all(r.status_code == 200 and r.json() == first for r in again)
    atp = (await harness.http.get("/v1/atp", params={"sku": "SKU", "site": "S1"})).json()
    assert atp["promisable"] == 11 - 4
    conflict = await promise(harness, "same", 5)
    assert conflict.status_code == 409
    assert conflict.json()["errors"][0]["field"] == "idempotency_key"


async def test_concurrent_promises_never_oversell(harness: Harness) -> None:
    await harness.publish(position("SKU", "S1", 20))
    await harness.settle()
    responses = await asyncio.gather(*(promise(harness, f"c{i}", 1) for i in range(60)))
    confirmed = sum(r.json()["confirmed"] for r in responses)
    assert confirmed == 20
    assert sum(1 for r in responses if r.json()["confirmed"] == 0) == 40


async def test_hold_expires_and_is_released_by_the_worker(harness: Harness) -> None:
    await stock(harness)
    answer = (await promise(harness, "ttl", 6)).json()
    harness.clock[0] = NOW + 601
    view = (await harness.http.get(f"/v1/promise/{answer['promise_id']}")).json()
    assert view["status"] == "expired" and view["confirmations"] == []
    atp = (await harness.http.get("/v1/atp", params={"sku": "SKU", "site": "S1"})).json()
    assert atp["promisable"] == 11
    await harness.host.state["worker"].run_once()  # the background round may have released it already
    assert (await harness.host.state["worker"].run_once())[0] == 0  # released exactly once
    events = await harness.events("segflow.promise.released")
    assert [e["promise_id"] for e in events] == [answer["promise_id"]]
    late = await harness.http.post(f"/v1/promise/{answer['promise_id']}/confirm")
    assert late.status_code == 409


async def test_confirm_stops_expiry_and_release_frees_stock(harness: Harness) -> None:
    await stock(harness)
    answer = (await promise(harness, "c", 6)).json()
    confirmed = (await harness.http.post(f"/v1/promise/{answer['promise_id']}/confirm")).json()
    assert confirmed["status"] == "confirmed" and confirmed["expires_at"] is None
    harness.clock[0] = NOW + 10_000
    assert (await harness.host.state["worker"].run_once())[0] == 0
    assert (await harness.http.get(f"/v1/promise/{answer['promise_id']}")).json()["confirmed"] == 6
    released = (await harness.http.post(f"/v1/promise/{answer['promise_id']}/release")).json()
    assert released["status"] == "released"
    atp = (await harness.http.get("/v1/atp", params={"sku": "SKU", "site": "S1"})).json()
    assert atp["promisable"] == 11
    assert (await harness.http.post(f"/v1/promise/{answer['promise_id']}/confirm")).status_code == 409
    assert (await harness.http.post("/v1/promise/nope/release")).status_code == 404


async def test_segment_quota_limits_a_promise(harness: Harness) -> None:
    await harness.publish(assignment("GOLD1", "GOLD", 1, "win"), assignment("SIL1", "SILVER", 2, "fill"))
    await stock(harness)
    planner = token(harness.host.settings, "planner")
    quota = {"segment": "SILVER", "kind": "maximum", "basis": "number", "value": 3}
    assert (await harness.http.post("/v1/quotas", json=quota, headers=planner)).status_code == 201
    protect = {"segment": "GOLD", "kind": "minimum", "basis": "number", "value": 5}
    assert (await harness.http.post("/v1/quotas", json=protect, headers=planner)).status_code == 201
    bad = {"segment": "X", "kind": "maximum", "basis": "percent", "value": 1.5}
    assert (await harness.http.post("/v1/quotas", json=bad, headers=planner)).json()["errors"][0][
        "field"
    ] == "value"
    listed = (await harness.http.get("/v1/quotas")).json()["items"]
    assert [q["segment"] for q in listed] == ["SILVER", "GOLD"]
    silver = (await promise(harness, "s1", 8, customer="SIL1")).json()
    assert silver["segment"] == "SILVER" and silver["tier"] == 2
    assert silver["confirmed"] == 3 and silver["explanation"]["limited_by"] == "quota"
    # 11 promisable - 3 SILVER = 8 left; GOLD's minimum of 5 is protected from anyone else
    other = (await promise(harness, "n1", 8, customer="NOSEG")).json()
    assert other["confirmed"] == 8 - 5
    gold = (await promise(harness, "g1", 9, customer="GOLD1")).json()
    assert gold["confirmed"] == 5


async def test_supply_drop_reconfirms_by_strategy_and_emits_changes(harness: Harness) -> None:
    await harness.publish(assignment("W", "GOLD", 1, "win"), assignment("L", "BRONZE", 3, "lose"))
    await harness.publish(position("SKU", "S1", 10))
    await harness.settle()
    lose = (await promise(harness, "l", 6, customer="L")).json()
    win = (await promise(harness, "w", 4, customer="W")).json()
    assert lose["confirmed"] == 6 and win["confirmed"] == 4
    await harness.publish(position("SKU", "S1", 7, minute=1))
    await harness.settle()

    async def lose_cut() -> bool:  # the worker is woken by the consumer's commit
        view = (await harness.http.get(f"/v1/promise/{lose['promise_id']}")).json()
        return bool(view["confirmed"] == 3)

    await eventually(lose_cut)
    assert (await harness.http.get(f"/v1/promise/{win['promise_id']}")).json()["confirmed"] == 4
    assert (await harness.http.get(f"/v1/promise/{lose['promise_id']}")).json()["confirmed"] == 3
    events = await harness.events("segflow.promise.changed")
    assert len(events) == 1 and events[0]["promise_id"] == lose["promise_id"]
    assert events[0]["before"] == [{"date": day(0), "quantity": 6.0}]
    assert events[0]["confirmations"] == [{"date": day(0), "quantity": 3.0}]
    # an on-demand run finds nothing more to change
    planner = token(harness.host.settings, "planner")
    started = await harness.http.post("/v1/backorders/runs", json={"sku": "SKU"}, headers=planner)
    assert started.status_code == 202
    run_id = started.json()["run_id"]

    async def finished() -> bool:
        run = (await harness.http.get(f"/v1/backorders/runs/{run_id}", headers=planner)).json()
        return bool(run["status"] == "done")

    await eventually(finished)
    run = (await harness.http.get(f"/v1/backorders/runs/{run_id}", headers=planner)).json()
    assert run["stock_points"] == 1 and run["changed"] == 0


async def test_allocation_run_by_tier_stores_and_emits_decisions(harness: Harness) -> None:
    await harness.publish(assignment("A", "GOLD", 1, "win"), assignment("B", "SILVER", 2, "fill"),
                          assignment("C", "SILVER", 2, "fill"))  # fmt: skip
    await harness.publish(
        position("SKU", "S1", 10),
        order_line("O-A", "A", "SKU", "S1", 4, TODAY),
        order_line("O-B", "B", "SKU", "S1", 6, TODAY),
        order_line("O-C", "C", "SKU", "S1", 3, TODAY + dt.timedelta(days=1)),
    )
    await harness.settle()
    planner = token(harness.host.settings, "planner")
    response = await harness.http.post("/v1/allocations/runs", json={"sku": "SKU"}, headers=planner)
    assert response.status_code == 201, response.text
    got = {d["order_id"]: d["allocated"] for d in response.json()["decisions"]}
    # tier 1 takes 4; tier 2 splits 6 over 6 and 3: exact 4 and 2 (proportional)
    assert got == {"O-A": 4, "O-B": 4, "O-C": 2}
    listed = (await harness.http.get("/v1/allocations", params={"sku": "SKU"})).json()["items"]
    assert sorted(d["order_id"] for d in listed) == ["O-A", "O-B", "O-C"]
    assert {d["explanation"]["limited_by"] for d in listed if d["order_id"] != "O-A"} == {"supply"}
    events = await harness.events("segflow.allocation.decided")
    assert sorted(e["order_id"] for e in events) == ["O-A", "O-B", "O-C"]


async def test_roles(harness: Harness) -> None:
    settings = harness.host.settings
    customer = token(settings, "customer", customer_id="C1")
    body = {"idempotency_key": "r", "customer_id": "C1", "sku": "SKU", "site": "S1", "quantity": 1,
            "requested_date": day(0)}  # fmt: skip
    assert (await harness.http.post("/v1/promise", json=body, headers=customer)).status_code == 403
    assert (
        await harness.http.get("/v1/atp", params={"sku": "S", "site": "S"}, headers=customer)
    ).status_code == 403
    assert (await harness.http.post("/v1/allocations/runs", json={})).status_code == 403
    assert (
        await harness.http.post("/v1/promise", json=body, headers={"Authorization": "x"})
    ).status_code == 401
    bad = {**body, "quantity": 0}
    response = await harness.http.post("/v1/promise", json=bad)
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "quantity"
