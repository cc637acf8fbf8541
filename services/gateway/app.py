"""Wiring of the gateway: read-model consumer, upstream clients, webhook worker, rate limiter, routes, UI.

``build(settings, bus=None)`` returns a ``GatewayHost``: a ServiceHost whose start also opens the pooled
upstream clients and the webhook worker (stored in ``host.state``) and whose ``/readyz`` checks each
upstream (classifier, allocator, policy, audit) besides the database and the bus.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from contracts import topics
from services.gateway import api_partner, api_proxy, api_public, handlers
from services.gateway.ratelimit import RateLimiter
from services.gateway.settings import GatewaySettings, gateway_settings
from services.gateway.upstream import UPSTREAMS, Upstreams
from services.gateway.webhook_worker import run_worker
from services.runtime.bus.base import Bus
from services.runtime.host import ServiceHost
from services.runtime.http import create_app
from services.runtime.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
UI_DIR = Path(__file__).resolve().parent / "ui"


class GatewayHost(ServiceHost):
    """A ServiceHost that also owns the upstream clients and the webhook worker."""

    settings: GatewaySettings

    async def start(self, *, consume: bool = True) -> None:
        await super().start(consume=consume)
        self.state["upstreams"] = Upstreams.open(self.settings)
        self.state["webhook_client"] = httpx.AsyncClient(timeout=self.settings.gateway_webhook_timeout_s)
        stop = asyncio.Event()
        self.state["webhook_stop"] = stop
        self.state["webhook_task"] = asyncio.create_task(
            run_worker(self.db, self.state["webhook_client"], self.settings, stop), name="gateway-webhooks"
        )

    async def stop(self) -> None:
        stop = self.state.pop("webhook_stop", None)
        task = self.state.pop("webhook_task", None)
        if stop is not None:
            stop.set()
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        client = self.state.pop("webhook_client", None)
        if client is not None:
            await client.aclose()
        upstreams = self.state.pop("upstreams", None)
        if upstreams is not None:
            await upstreams.close()
        await super().stop()

    def _build_app(self) -> FastAPI:
        host = self

        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            app.state.host = host
            if not host.started:
                await host.start()
            try:
                yield
            finally:
                await host.stop()

        readiness: dict[str, Any] = {"database": self.db.ping, "bus": self.bus.ping}
        for name in UPSTREAMS:
            readiness[name] = _upstream_check(host, name)
        app = create_app(
            service=self.service,
            settings=self.settings,
            routers=self.routers,
            readiness=readiness,
            lifespan=lifespan,
        )
        app.state.host = self
        _mount_ui(app)
        return app


def _upstream_check(host: GatewayHost, name: str) -> Any:
    async def check() -> None:
        upstreams: Upstreams | None = host.state.get("upstreams")
        if upstreams is None:
            raise RuntimeError("gateway not started")
        await upstreams.ping(name)

    return check


def _mount_ui(app: FastAPI) -> None:
    app.mount("/ui", StaticFiles(directory=UI_DIR), name="ui")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(UI_DIR / "index.html")

    @app.get("/docs/", include_in_schema=False)
    async def docs_slash() -> RedirectResponse:
        return RedirectResponse("/docs")


def build(settings: Settings, *, bus: Bus | None = None) -> GatewayHost:
    gw = gateway_settings(settings)
    # the gateway writes no outbox events: its relay need not poll the database 20 times a second
    gw = gw.model_copy(update={"relay_interval_s": max(gw.relay_interval_s, 1.0)})
    host = GatewayHost("gateway", gw, migrations=MIGRATIONS, bus=bus)
    host.add_consumer(
        [topics.SEGMENTS_ASSIGNMENTS, topics.SEGMENTS_CHANGES],
        handlers.HANDLERS,
        tombstone_handler=handlers.on_tombstone,
        transaction_batch=100,
    )
    host.state["rate_limiter"] = RateLimiter(gw.gateway_rate_burst, gw.gateway_rate_per_s)
    host.routers.extend([api_public.router, api_partner.router, api_proxy.router])
    return host
