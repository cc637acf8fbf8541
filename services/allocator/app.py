"""Wiring of the allocator: consumers of inventory, orders, customer master data and customer segments; the promise,
ATP, quota, allocation and backorder routes; a worker for hold expiry and backorder processing."""

from __future__ import annotations

from pathlib import Path

from contracts import topics
from services.allocator import api, handlers
from services.allocator.locks import PointLocks
from services.allocator.promising import DEFAULT_HOLD_TTL_S, Promising
from services.allocator.worker import DEFAULT_DECISION_RETENTION_S, AllocatorWorker
from services.runtime.bus import Bus
from services.runtime.host import ServiceHost
from services.runtime.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


class AllocatorHost(ServiceHost):
    """A ServiceHost that also runs the allocator worker while consuming."""

    worker: AllocatorWorker

    async def start(self, *, consume: bool = True) -> None:
        await super().start(consume=consume)
        if consume:
            await self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()
        await self.worker.promising.close()
        await super().stop()


def build(
    settings: Settings,
    *,
    bus: Bus | None = None,
    hold_ttl_s: float = DEFAULT_HOLD_TTL_S,
    worker_interval_s: float = 0.5,
    transaction_batch: int = 100,
    decision_retention_s: float = DEFAULT_DECISION_RETENTION_S,
) -> ServiceHost:
    host = AllocatorHost("allocator", settings, migrations=MIGRATIONS, bus=bus)
    promising = Promising(host.db, PointLocks(), host.relay.wake, hold_ttl_s=hold_ttl_s)
    host.worker = AllocatorWorker(
        promising, interval_s=worker_interval_s, decision_retention_s=decision_retention_s
    )

    def after_commit() -> None:
        host.relay.wake()
        host.worker.wake()

    for topic_list, handler_map, name in (
        ([topics.WMS_INVENTORY], handlers.INVENTORY_HANDLERS, "allocator-inventory"),
        ([topics.ERP_ORDERS], handlers.ORDER_HANDLERS, "allocator-orders"),
        ([topics.MDM_CUSTOMERS], handlers.CUSTOMER_HANDLERS, "allocator-customers"),
    ):
        consumer = host.add_consumer(topic_list, handler_map, name=name, transaction_batch=transaction_batch)
        consumer.after_commit = after_commit
    host.add_consumer(
        [topics.SEGMENTS_ASSIGNMENTS],
        handlers.ASSIGNMENT_HANDLERS,
        name="allocator-segments",
        tombstone_handler=handlers.on_assignment_tombstone,
        transaction_batch=transaction_batch,
    )
    host.routers.append(api.router)
    host.state["promising"] = promising
    host.state["worker"] = host.worker
    host.state["background"] = set()
    return host
