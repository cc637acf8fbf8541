"""Wiring of the audit service: host, signing key, chain writer, capture loop (not a typed consumer: the
audit stores the raw records of every topic), routes."""

from __future__ import annotations

from pathlib import Path

from services.audit import api
from services.audit.capture import CaptureLoop, ChainWriter
from services.audit.config import AuditSettings
from services.audit.keys import load_or_create
from services.runtime.bus import Bus
from services.runtime.host import ServiceHost
from services.runtime.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


class AuditHost(ServiceHost):
    """The runtime host plus the capture loop, started after the consumers and stopped before them."""

    async def start(self, *, consume: bool = True) -> None:
        await super().start(consume=consume)
        if consume:
            await self.state["capture"].start()

    async def stop(self) -> None:
        await self.state["capture"].stop()
        await super().stop()


def build(settings: Settings, *, bus: Bus | None = None, audit: AuditSettings | None = None) -> AuditHost:
    audit = audit or AuditSettings()
    host = AuditHost("audit", settings, migrations=MIGRATIONS, bus=bus)
    signing = load_or_create(settings, audit)
    writer = ChainWriter(host.db, signing, audit)
    host.state.update(
        audit=audit, signing=signing, writer=writer, capture=CaptureLoop(host.bus, writer, audit)
    )
    host.routers.append(api.router)
    return host
