"""Wiring of the policy service: consumers of orders, shipments, inventory, product master data, segment
assignments, segment changes (cohorts) and promises; the proposal runner; the KPI evaluator (after committed batches that carried
shipment events, coalesced: see services.policy.evaluation); the cached KPI reads; the HTTP routers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import topics
from contracts.envelope import Envelope
from services.policy import api, api_echelon, api_kpis, api_proposals, handlers, store
from services.policy.evaluation import AlertSettings, KpiEvaluator
from services.policy.kpi_reads import KpiReads
from services.policy.proposals import ProposalRunner
from services.runtime.bus.base import Bus
from services.runtime.consumer import Handler
from services.runtime.host import ServiceHost
from services.runtime.settings import Settings

TOPICS = [
    topics.ERP_ORDERS,
    topics.WMS_SHIPMENTS,
    topics.WMS_INVENTORY,
    topics.MDM_PRODUCTS,
    topics.SEGMENTS_ASSIGNMENTS,
    topics.SEGMENTS_CHANGES,
    topics.ALLOCATION_PROMISES,
]
RELAY_FALLBACK_POLL_S = 1.0
MIGRATIONS = Path(__file__).parent / "migrations"


def build(
    settings: Settings,
    *,
    bus: Bus | None = None,
    transaction_batch: int = 200,
    alerts: AlertSettings | None = None,
) -> ServiceHost:
    host = ServiceHost("policy", settings, migrations=MIGRATIONS, bus=bus)
    # Every writer of policy outbox rows (the evaluator, the proposal runner) wakes the relay after its
    # commit, so polling is only the fallback for rows a crash left behind: not 20 transactions a second.
    host.relay.interval_s = max(host.relay.interval_s, RELAY_FALLBACK_POLL_S)
    evaluator = KpiEvaluator(host, alerts)
    runner = ProposalRunner(host)

    def marking(handler: Handler) -> Handler:
        async def wrapped(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
            await handler(session, env, event)
            evaluator.mark(handlers.delivery_date(event))

        return wrapped

    table = {
        kind: (marking(h) if kind in handlers.SHIPMENT_TYPES else h) for kind, h in handlers.HANDLERS.items()
    }
    consumer = host.add_consumer(TOPICS, table, transaction_batch=transaction_batch)
    # The handlers publish nothing (only the evaluator and the proposal runner do, and they wake the relay
    # themselves), so a consumer commit does not wake the relay: that was a relay round per batch.
    consumer.after_commit = evaluator.after_commit
    host.routers.extend([api.router, api_echelon.router, api_proposals.router, api_kpis.router])
    host.state["proposals"] = runner
    host.state["evaluator"] = evaluator
    # GET /v1/kpis and cost-to-serve: whole-history results cached per version of their input tables
    reads = KpiReads(host.db, grace_days=7 * evaluator.config.grace_weeks)
    host.state["kpi_reads"] = reads
    stop = host.stop

    async def stop_all() -> None:
        await runner.shutdown()
        await evaluator.shutdown()
        await reads.close()
        await stop()

    host.stop = stop_all  # type: ignore[method-assign]
    return host


DEMO_LEAD_TIME_DAYS = 14.0  # the Online Retail sample has no lead times: an assumed two weeks (demo only)
DEMO_TOP_STOCK_POINTS = 200


async def on_sample_loaded(host: ServiceHost, *, assignment_wait_s: float = 60.0) -> None:
    """`segflow demo`: once the sample is consumed, propose parameters for the top 200 sku@site by ordered
    volume (not published). Lead times the sample lacks are assumed: ``policy_demo_lead_time_days`` from
    settings when set, else DEMO_LEAD_TIME_DAYS; each such item says lead_time_source = "assumed" and
    assumed = ["lead_time"] in its evidence. Waits (bounded) for the classifier's product assignments."""
    lead_days = float(getattr(host.settings, "policy_demo_lead_time_days", None) or DEMO_LEAD_TIME_DAYS)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + assignment_wait_s
    while True:
        behind = [sum((await c.lag()).values()) for c in host.consumers]
        caught_up = not any(behind)
        async with host.db.read() as session:
            assigned = bool(await store.assignment_rows(session))
            points = await store.top_stock_points(session, DEMO_TOP_STOCK_POINTS)
        if (caught_up and assigned) or loop.time() > deadline:
            break
        await asyncio.sleep(0.2)
    if not points:
        return
    runner: ProposalRunner = host.state["proposals"]
    request = {"stock_points": [list(p) for p in points], "assumed_lead_time_days": lead_days, "demo": True}
    host.state["demo_proposal"] = await runner.create(request, "demo")
    await runner.wait()
