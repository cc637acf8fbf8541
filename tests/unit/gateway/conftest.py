"""Fixtures of the gateway unit tests: a stand-in upstream on a real port and an embedded gateway."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts import topics
from contracts.envelope import new_envelope, to_headers
from contracts.segments import SegmentAssigned, SegmentChanged, ServicePolicy
from services.gateway import app as gateway_app
from services.gateway.app import GatewayHost
from services.gateway.settings import GatewaySettings
from services.runtime.auth import issue_token
from services.runtime.bus.memory import MemoryBus
from tests.unit.gateway.standin import Served, StandInState, free_port, standin_app

SECRET = "unit-test-secret-0123456789abcdef0123456789"


@pytest.fixture
async def standin() -> AsyncIterator[tuple[Served, StandInState]]:
    state = StandInState()
    served = await Served(standin_app(state)).start()
    yield served, state
    await served.stop()


class Gateway:
    """An embedded gateway host, its bus and an ASGI client, with token and event helpers."""

    def __init__(self, host: GatewayHost, bus: MemoryBus) -> None:
        self.host = host
        self.bus = bus
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=host.app), base_url="http://gw")

    def token(
        self, subject: str, *roles: str, customer_id: str | None = None, partner_id: str | None = None
    ) -> str:
        return issue_token(
            self.host.settings, subject=subject, roles=roles, customer_id=customer_id, partner_id=partner_id
        )

    def auth(self, subject: str, *roles: str, **ids: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(subject, *roles, **ids)}"}

    async def publish(
        self, topic: str, key: str, type_: str, payload: Any, at: datetime | None = None
    ) -> None:
        env = new_envelope(source="segflow/test", type=type_, subject=key, payload=payload, time=at)
        assert env.data is not None
        await self.bus.publish(topic, key.encode(), env.data, to_headers(env))

    async def assign(
        self,
        dimension: str,
        entity: str,
        segment: str,
        tier: int = 1,
        *,
        partners: tuple[str, ...] = (),
        revenue: float | None = 1000.0,
        lead: int = 2,
    ) -> None:
        event = assigned(dimension, entity, segment, tier, partners=partners, revenue=revenue, lead=lead)
        await self.publish(
            topics.SEGMENTS_ASSIGNMENTS, f"{dimension}:{entity}", SegmentAssigned.EVENT_TYPE, event
        )

    async def tombstone(self, dimension: str, entity: str) -> None:
        await self.bus.publish(topics.SEGMENTS_ASSIGNMENTS, f"{dimension}:{entity}".encode(), None, [])

    async def change(
        self, dimension: str, entity: str, old: str | None, new: str, reasons: list[str], at: datetime
    ) -> None:
        event = SegmentChanged(
            dimension=dimension,
            entity_id=entity,
            old_segment=old,
            new_segment=new,  # type: ignore[arg-type]
            reasons=reasons,
            changed_at=at,
        )
        await self.publish(
            topics.SEGMENTS_CHANGES, f"{dimension}:{entity}", SegmentChanged.EVENT_TYPE, event, at
        )

    async def settle(self, predicate: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
        await wait_for(predicate, timeout)


def assigned(
    dimension: str,
    entity: str,
    segment: str,
    tier: int = 1,
    *,
    partners: tuple[str, ...] = (),
    revenue: float | None = 1000.0,
    lead: int = 2,
) -> SegmentAssigned:
    return SegmentAssigned(
        dimension=dimension,  # type: ignore[arg-type]
        entity_id=entity,
        segment=segment,
        tier=tier,
        abc="A",
        xyz="X",
        service_policy=ServicePolicy(
            service_level_type="cycle",
            service_level_target=0.98,
            otif_target=0.95,
            promise_lead_time_days=lead,
            backorder_strategy="win",
        ),
        ruleset_version="v1",
        ruleset_hash="h" * 64,
        reasons=[f"{segment} by rule"],
        partner_ids=list(partners),
        valid_from=datetime(2024, 1, 1, tzinfo=UTC),
        revenue=revenue,
        margin=None if revenue is None else revenue * 0.25,
    )


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


def settings_for(tmp_path: Path, upstream_url: str, **extra: Any) -> GatewaySettings:
    urls = dict(
        classifier_url=upstream_url,
        allocator_url=upstream_url,
        policy_url=upstream_url,
        audit_url=upstream_url,
    )
    urls.update({k: v for k, v in extra.items() if k.endswith("_url")})
    rest = {k: v for k, v in extra.items() if not k.endswith("_url")}
    base: dict[str, Any] = dict(
        data_dir=tmp_path,
        mode="embedded",
        env="test",
        jwt_secret=SECRET,
        gateway_upstream_retries=2,
        gateway_webhook_backoff_s=0.05,
    )
    base.update(rest)
    return GatewaySettings(**base, **urls)


@pytest.fixture
async def make_gateway(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Gateway]]]:
    started: list[Gateway] = []

    async def make(upstream_url: str | None = None, **extra: Any) -> Gateway:
        url = upstream_url or f"http://127.0.0.1:{free_port()}"  # nothing listens there
        bus = MemoryBus()
        settings = settings_for(tmp_path / f"gw{len(started)}", url, **extra)
        host = gateway_app.build(settings, bus=bus)
        await host.start()
        gateway = Gateway(host, bus)
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        await gateway.client.aclose()
        await gateway.host.stop()


@pytest.fixture
async def gw(
    make_gateway: Callable[..., Awaitable[Gateway]], standin: tuple[Served, StandInState]
) -> Gateway:
    return await make_gateway(standin[0].url)
