"""Wiring of the policy service: consumers of orders, shipments, inventory, product master data, segment
assignments and promises; the proposal runner; the KPI evaluator (after each committed batch that carried
shipment events); the HTTP routers."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import topics
from contracts.envelope import Envelope
from services.policy import api, api_kpis, api_proposals, handlers
from services.policy.evaluation import AlertSettings, KpiEvaluator
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
    topics.ALLOCATION_PROMISES,
]


def build(
    settings: Settings,
    *,
    bus: Bus | None = None,
    transaction_batch: int = 200,
    alerts: AlertSettings | None = None,
) -> ServiceHost:
    host = ServiceHost("policy", settings, migrations=Path(__file__).parent / "migrations", bus=bus)
    evaluator = KpiEvaluator(host, alerts)
    runner = ProposalRunner(host)

    def marking(handler: Handler) -> Handler:
        async def wrapped(session: AsyncSession, env: Envelope, event: BaseModel) -> None:
            await handler(session, env, event)
            evaluator.mark()

        return wrapped

    table = {
        kind: (marking(h) if kind in handlers.SHIPMENT_TYPES else h) for kind, h in handlers.HANDLERS.items()
    }
    consumer = host.add_consumer(TOPICS, table, transaction_batch=transaction_batch)
    relay_wake = consumer.after_commit

    def after_commit() -> None:
        if relay_wake is not None:
            relay_wake()
        evaluator.after_commit()

    consumer.after_commit = after_commit
    host.routers.extend([api.router, api_proposals.router, api_kpis.router])
    host.state["proposals"] = runner
    host.state["evaluator"] = evaluator
    stop = host.stop

    async def stop_all() -> None:
        await runner.shutdown()
        await evaluator.shutdown()
        await stop()

    host.stop = stop_all  # type: ignore[method-assign]
    return host
