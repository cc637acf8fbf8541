"""Helpers for the classifier service tests: events onto a bus, polling, tokens, an HTTP client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel

from contracts import topics
from contracts.envelope import deterministic_id, new_envelope, to_headers
from contracts.erp import OrderLineCancelled, OrderLineChanged, OrderLinePlaced
from contracts.mdm import CustomerUpserted, ProductUpserted
from services.runtime.auth import issue_token
from services.runtime.settings import Settings

SOURCE = "SAP-EU"
T0 = datetime(2024, 1, 1, 9, tzinfo=UTC)


async def publish(
    bus: Any, topic: str, key: str, event_type: str, payload: BaseModel, record_key: str, at: datetime = T0
) -> None:
    env = new_envelope(
        source=f"test/{SOURCE}",
        type=event_type,
        subject=key,
        payload=payload,
        id=deterministic_id("test", record_key),
        time=at,
    )
    assert env.data is not None
    await bus.publish(topic, key.encode(), env.data, to_headers(env))


async def customer(
    bus: Any, source_id: str, *, source: str = SOURCE, at: datetime = T0, **fields: Any
) -> None:
    values: dict[str, Any] = {"name": f"Customer {source_id}", "region": "EU", "country": "DE"}
    values.update(fields)
    event = CustomerUpserted(source=source, source_id=source_id, updated_at=at, **values)
    await publish(
        bus,
        topics.MDM_CUSTOMERS,
        f"{source}:{source_id}",
        event.EVENT_TYPE,
        event,
        f"customer:{source}:{source_id}:{at.isoformat()}:{sorted(values.items())}",
        at,
    )


async def product(
    bus: Any, source_id: str, *, source: str = SOURCE, at: datetime = T0, **fields: Any
) -> None:
    values: dict[str, Any] = {
        "name": f"Product {source_id}",
        "base_uom": "EA",
        "lifecycle": "active",
        "category": "general",
    }
    values.update(fields)
    event = ProductUpserted(source=source, source_id=source_id, updated_at=at, **values)
    await publish(
        bus,
        topics.MDM_PRODUCTS,
        f"{source}:{source_id}",
        event.EVENT_TYPE,
        event,
        f"product:{source}:{source_id}:{at.isoformat()}:{sorted(map(str, values.items()))}",
        at,
    )


def line(
    order_id: str,
    line_id: str,
    customer_id: str,
    sku: str,
    quantity: float,
    price: float,
    at: datetime,
    *,
    unit: str = "EA",
    cost: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "line_id": line_id,
        "customer_id": customer_id,
        "customer_source": SOURCE,
        "sku": sku,
        "site": "DC1",
        "quantity": quantity,
        "unit": unit,
        "unit_price": price,
        "currency": "EUR",
        "unit_cost": cost,
        "requested_date": at.date(),
        "ordered_at": at,
        **extra,
    }


async def place(bus: Any, **kwargs: Any) -> None:
    event = OrderLinePlaced(**line(**kwargs))
    await publish(
        bus,
        topics.ERP_ORDERS,
        event.order_id,
        event.EVENT_TYPE,
        event,
        f"placed:{event.order_id}:{event.line_id}",
        event.ordered_at,
    )


async def change(bus: Any, changed_at: datetime, **kwargs: Any) -> None:
    event = OrderLineChanged(**line(**kwargs), changed_at=changed_at)
    await publish(
        bus,
        topics.ERP_ORDERS,
        event.order_id,
        event.EVENT_TYPE,
        event,
        f"changed:{event.order_id}:{event.line_id}:{changed_at.isoformat()}",
        changed_at,
    )


async def cancel(
    bus: Any,
    order_id: str,
    line_id: str,
    customer_id: str,
    sku: str,
    at: datetime,
    quantity: float | None = None,
    unit: str | None = None,
) -> None:
    event = OrderLineCancelled(
        order_id=order_id,
        line_id=line_id,
        customer_id=customer_id,
        customer_source=SOURCE,
        sku=sku,
        site="DC1",
        quantity=quantity,
        unit=unit,
        cancelled_at=at,
    )
    await publish(
        bus,
        topics.ERP_ORDERS,
        order_id,
        event.EVENT_TYPE,
        event,
        f"cancelled:{order_id}:{line_id}:{at.isoformat()}",
        at,
    )


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)


def client(host: Any, settings: Settings, subject: str, roles: list[str], **claims: Any) -> httpx.AsyncClient:
    token = issue_token(settings, subject=subject, roles=roles, **claims)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=host.app),
        base_url="http://t",
        headers={"Authorization": f"Bearer {token}"},
    )


async def run_and_wait(http: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await http.post("/v1/runs", json=body)
    assert response.status_code == 202, response.text
    run_id = response.json()["run_id"]
    result: dict[str, Any] = {}

    async def done() -> bool:
        nonlocal result
        result = (await http.get(f"/v1/runs/{run_id}")).json()
        return result["status"] in ("succeeded", "failed")

    await eventually(done)
    assert result["status"] == "succeeded", result
    return result


def day(year: int, month: int, d: int) -> datetime:
    return datetime(year, month, d, 12, tzinfo=UTC)
