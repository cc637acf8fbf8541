"""A service host: the lifecycle every service shares (database, migrations, bus, relay, consumers, HTTP).

A service's ``app.py`` builds one ``ServiceHost``, adds its consumers and routers, and exposes
``host.app``. Start order: database -> migrations -> bus -> topics from the catalog -> outbox relay ->
consumers; stop is the reverse. In embedded mode several hosts share one in-process bus, which the
host then does not start or stop itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaError
from fastapi import APIRouter, FastAPI
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential

from contracts.topics import all_topics
from services.runtime.bus import Bus, build_bus
from services.runtime.consumer import EventConsumer, Handler, TombstoneHandler
from services.runtime.db import Database, is_infrastructure_error
from services.runtime.http import create_app
from services.runtime.logging import get_logger
from services.runtime.migrate import upgrade
from services.runtime.outbox import OutboxRelay
from services.runtime.settings import Settings

log = get_logger(__name__)


class ServiceHost:
    """Owns one service's moving parts and their order of start and stop."""

    def __init__(
        self,
        service: str,
        settings: Settings,
        *,
        migrations: Path,
        bus: Bus | None = None,
        db: Database | None = None,
    ) -> None:
        self.service = service
        self.settings = settings
        self.migrations = migrations
        self.owns_bus = bus is None
        self.bus = bus if bus is not None else build_bus(settings, client_id=f"segflow-{service}")
        self.db = db or Database(service, settings)
        self.relay = OutboxRelay(
            service, self.db, self.bus, batch=settings.relay_batch, interval_s=settings.relay_interval_s
        )
        self.consumers: list[EventConsumer] = []
        self.routers: list[APIRouter] = []
        self.state: dict[str, Any] = {}
        self.started = False
        self._app: FastAPI | None = None
        self._lag_task: asyncio.Task[None] | None = None
        self.lag_interval_s = 15.0

    def add_consumer(
        self,
        topics: Sequence[str],
        handlers: Mapping[str, Handler],
        *,
        name: str | None = None,
        tombstone_handler: TombstoneHandler | None = None,
        transaction_batch: int = 1,
    ) -> EventConsumer:
        consumer = EventConsumer(
            service=self.service,
            name=name or self.service,
            bus=self.bus,
            db=self.db,
            topics=topics,
            handlers=handlers,
            tombstone_handler=tombstone_handler,
            max_retries=self.settings.consumer_max_retries,
            retry_backoff_s=self.settings.consumer_retry_backoff_s,
            after_commit=self.relay.wake,
            transaction_batch=transaction_batch,
        )
        self.consumers.append(consumer)
        return consumer

    async def _reach_dependencies(self) -> None:
        """Database up and migrated, bus up with the catalog's topics. A dependency that is not reachable
        yet (a connection refused, PostgreSQL starting, a broker without a leader) is retried with
        exponential backoff for up to ``settings.startup_wait_s``, so a service started before its parts
        waits for them; after that the last error is raised and the process exits (the orchestrator's
        restart policy takes over). Anything else (bad credentials, a broken migration) fails at once."""
        retrying = AsyncRetrying(
            stop=stop_after_delay(self.settings.startup_wait_s),
            wait=wait_exponential(multiplier=0.2, max=5.0),
            retry=retry_if_exception(_unreachable),
            before_sleep=lambda state: log.warning(
                "dependency not reachable yet; waiting",
                attempt=state.attempt_number,
                error=repr(state.outcome.exception()) if state.outcome else None,
            ),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await self.db.start()
                await upgrade(self.db, self.migrations)
                if self.owns_bus:
                    await self.bus.start()
                await self.bus.ensure_topics(all_topics())

    async def start(self, *, consume: bool = True) -> None:
        await self._reach_dependencies()
        await self.relay.start()
        if consume:
            for c in self.consumers:
                await c.start()
        if self.consumers:
            self._lag_task = asyncio.create_task(self._refresh_lag(), name=f"{self.service}-lag")
        self.started = True

    async def _refresh_lag(self) -> None:
        """Keep the consumer-lag and outbox-backlog gauges current for /metrics (dashboards, autoscaling)."""
        while True:
            await asyncio.sleep(self.lag_interval_s)
            try:
                for c in self.consumers:
                    await c.lag()
                await self.relay.backlog()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # metrics are best effort; the next round tries again
                log.debug("lag refresh failed", error=str(exc))

    async def stop(self) -> None:
        if self._lag_task is not None:
            self._lag_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lag_task
            self._lag_task = None
        for c in reversed(self.consumers):
            await c.stop()
        await self.relay.stop()
        if self.owns_bus:
            await self.bus.stop()
        await self.db.stop()
        self.started = False

    @property
    def app(self) -> FastAPI:
        if self._app is None:
            self._app = self._build_app()
        return self._app

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

        app = create_app(
            service=self.service,
            settings=self.settings,
            routers=self.routers,
            readiness={"database": self.db.ping, "bus": self.bus.ping},
            lifespan=lifespan,
        )
        app.state.host = self
        return app


def _unreachable(exc: BaseException) -> bool:
    """A dependency that may come up by itself: a database infrastructure error, a retriable Kafka
    error (connection, no leader yet), a refused or reset socket."""
    if isinstance(exc, KafkaError):
        return bool(exc.retriable)
    return is_infrastructure_error(exc) or isinstance(exc, ConnectionError | OSError | TimeoutError)
