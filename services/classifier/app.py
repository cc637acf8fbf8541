"""Wiring of the classifier: host, consumers (master data; orders, shipments, receipts), routes, runs and
the rebalancing scheduler. ``on_sample_loaded`` classifies the demo data (customer ABC on revenue,
product ABC/XYZ on monthly buckets)."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

from contracts import topics
from services.runtime.bus import Bus
from services.runtime.consumer import replay_dlq
from services.runtime.host import ServiceHost
from services.runtime.logging import get_logger
from services.runtime.settings import Settings

from . import api, rulesets, store
from .domain.ruleset import DEFAULT_RULESET
from .handlers import Handlers
from .masterdata import MasterData
from .runs import RunService

log = get_logger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
TRANSACTION_BATCH = 200
SOURCE_PRIORITY: tuple[str, ...] = ("mdm-golden", "SAP-EU", "SAP-US", "online-retail")


class ClassifierHost(ServiceHost):
    """The runtime host plus the classifier's start-up (seed rule set) and its background tasks."""

    async def start(self, *, consume: bool = True) -> None:
        await super().start(consume=consume)
        await rulesets.seed_default(self.db)
        if self.state.get("scheduler", True):
            self.state["runs"].start_scheduler()

    async def stop(self) -> None:
        await self.state["runs"].stop()
        await super().stop()


def build(
    settings: Settings,
    *,
    bus: Bus | None = None,
    source_priority: tuple[str, ...] = SOURCE_PRIORITY,
    transaction_batch: int = TRANSACTION_BATCH,
) -> ServiceHost:
    host = ClassifierHost("classifier", settings, migrations=MIGRATIONS, bus=bus)
    master = MasterData(source_priority)
    handlers = Handlers(master)
    table = handlers.table()
    mdm = {k: v for k, v in table.items() if k.endswith(".upserted")}
    flow = {k: v for k, v in table.items() if not k.endswith(".upserted")}
    mdm_consumer = host.add_consumer(
        [topics.MDM_CUSTOMERS, topics.MDM_PRODUCTS],
        mdm,
        name="classifier-mdm",
        transaction_batch=transaction_batch,
    )

    async def mdm_lag() -> int:
        return sum((await mdm_consumer.lag()).values())

    master.lag_probe = mdm_lag
    host.add_consumer(
        [topics.ERP_ORDERS, topics.WMS_SHIPMENTS, topics.WMS_INVENTORY],
        flow,
        name="classifier",
        transaction_batch=transaction_batch,
    )
    host.routers.append(api.router)
    host.state["master"] = master
    host.state["runs"] = RunService(host)
    return host


async def wait_caught_up(host: ServiceHost, *, timeout_s: float = 1800.0, poll_s: float = 1.0) -> None:
    """Until every consumer of the host has no lag. Polls every ``poll_s``: on Kafka each lag probe is a
    metadata + offsets round trip that costs the consumers CPU, so it is kept infrequent."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        behind = 0
        for consumer in host.consumers:
            behind += sum((await consumer.lag()).values())
        if behind == 0:
            return
        if loop.time() > deadline:
            raise TimeoutError(f"classifier consumers still {behind} records behind")
        await asyncio.sleep(poll_s)


def monthly_ruleset() -> dict[str, Any]:
    """The default rule set with XYZ on monthly buckets (the demo's product view)."""
    body = copy.deepcopy(DEFAULT_RULESET)
    body["name"] = "default-monthly"
    body["xyz"] = {"bucket": "month", "cutoffs": [0.5, 1.0]}
    return body


async def on_sample_loaded(host: ServiceHost) -> None:
    """Replay what arrived before its master data, then classify customers and products (monthly XYZ)."""
    replayed = await replay_dlq(host.bus, consumer="classifier")
    if replayed:
        log.info("replayed dead-lettered order records after master data", records=replayed)
    await wait_caught_up(host)
    async with host.db.unit_of_work() as session:
        row, _ = await rulesets.create(session, monthly_ruleset(), "demo")
        active = await store.active_ruleset(session)
        if active is None or active.version != row.version:
            await rulesets.activate_version(session, row.version, "demo")
    runs: RunService = host.state["runs"]
    for dimension in ("customer", "product"):
        run_id = await runs.start_run(
            dimension=dimension, ruleset_version=None, trigger="demo", requested_by="demo"
        )
        await runs.wait(run_id)
