"""Embedded mode: all five services in one process on one in-process bus and SQLite files.

Each service's ``services.<name>.app`` module provides ``build(settings, bus=...) -> ServiceHost`` and
may provide ``async def on_sample_loaded(host)`` (e.g. the classifier runs its first classification).
Every service still gets its own port (gateway 8000, classifier 8001, allocator 8002, policy 8003,
audit 8004) so the gateway reaches them over HTTP exactly as in distributed mode.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn

from contracts.topics import all_topics
from services.ingest import IngestReport, ingest
from services.runtime.bus.memory import MemoryBus
from services.runtime.host import ServiceHost
from services.runtime.settings import SERVICE_PORTS, Settings

SERVICE_NAMES = ("classifier", "allocator", "policy", "audit", "gateway")


def service_module(name: str) -> Any:
    if name not in SERVICE_NAMES:
        raise ValueError(f"unknown service {name!r}; one of {', '.join(SERVICE_NAMES)}")
    return importlib.import_module(f"services.{name}.app")


def build_hosts(settings: Settings, bus: MemoryBus) -> dict[str, ServiceHost]:
    return {name: service_module(name).build(settings, bus=bus) for name in SERVICE_NAMES}


async def start_embedded(settings: Settings) -> tuple[MemoryBus, dict[str, ServiceHost]]:
    """Create the shared bus and topics, then start every service host (database, relay, consumers)."""
    bus = MemoryBus(namespace=settings.topic_namespace)
    await bus.ensure_topics(all_topics())
    hosts = build_hosts(settings, bus)
    for host in hosts.values():
        await host.start()
    return bus, hosts


async def wait_until_idle(
    hosts: dict[str, ServiceHost], *, settle_s: float = 0.5, timeout_s: float = 600
) -> None:
    """Wait until every consumer has caught up with its topics and every outbox is empty."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    quiet_since: float | None = None
    while loop.time() < deadline:
        busy = False
        for host in hosts.values():
            if await host.relay.backlog() > 0:
                busy = True
            for consumer in host.consumers:
                if any(v > 0 for v in (await consumer.lag()).values()):
                    busy = True
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = loop.time()
        elif loop.time() - quiet_since >= settle_s:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("the embedded services did not become idle in time")


async def load_sample(
    bus: MemoryBus,
    hosts: dict[str, ServiceHost],
    sample: Path,
    *,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
    product_percent: int = 100,
) -> IngestReport:
    """Ingest the shipped Online Retail sample, wait for the services, then run their sample hooks."""
    report = await ingest(
        bus, sample, "online-retail", limit=limit, progress=progress, product_percent=product_percent
    )
    await wait_until_idle(hosts)
    for name, host in hosts.items():
        hook = getattr(service_module(name), "on_sample_loaded", None)
        if hook is not None:
            await hook(host)
    await wait_until_idle(hosts)
    return report


async def serve_embedded(settings: Settings, hosts: dict[str, ServiceHost]) -> None:
    """Serve every host's HTTP app on its port until interrupted."""
    servers = [
        uvicorn.Server(
            uvicorn.Config(
                host.app, host=settings.host, port=SERVICE_PORTS[name], log_config=None, lifespan="on"
            )
        )
        for name, host in hosts.items()
    ]
    await asyncio.gather(*(s.serve() for s in servers))
