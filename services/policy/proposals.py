"""Proposals: compute parameters for the matching stock points, run the simulation gate in a worker
thread (progress stored on the proposal), keep the evidence; publish through the outbox only when the gate
passed (every item's lower confidence bound meets its target).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from contracts import topics
from contracts.policy import ErpDelta, PolicyInputs, PolicyPublished, SimulationSummary
from services.policy import store
from services.policy.domain.proposal import ProposalSettings, ProposedItem, propose
from services.policy.domain.reconcile import reconcile
from services.policy.statistics import assemble
from services.runtime import outbox
from services.runtime.host import ServiceHost
from services.runtime.logging import get_logger

log = get_logger(__name__)
SOURCE = "segflow/policy"
PENDING, RUNNING, PASSED, HELD, FAILED, PUBLISHED = (
    "pending",
    "running",
    "passed",
    "held",
    "failed",
    "published",
)


class ProposalRunner:
    """Starts proposal computations as background tasks and cancels them when the host stops."""

    def __init__(self, host: ServiceHost, erp_threshold: float = 0.1) -> None:
        self.host = host
        self.erp_threshold = erp_threshold
        self.tasks: set[asyncio.Task[None]] = set()

    async def create(self, request: dict[str, Any], created_by: str) -> str:
        proposal_id = str(uuid.uuid4())
        async with self.host.db.unit_of_work() as session:
            await store.create_proposal(
                session,
                {
                    "id": proposal_id,
                    "status": PENDING,
                    "progress": 0.0,
                    "request": request,
                    "created_by": created_by,
                    "created_at": datetime.now(UTC),
                },
            )
        task = asyncio.create_task(self.run(proposal_id, request), name=f"proposal-{proposal_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return proposal_id

    async def wait(self) -> None:
        """Wait for every running proposal (tests, shutdown)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def shutdown(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def run(self, proposal_id: str, request: dict[str, Any]) -> None:
        try:
            await self._run(proposal_id, request)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the proposal records the failure; the service keeps running
            log.error("proposal failed", proposal=proposal_id, error=repr(error))
            async with self.host.db.unit_of_work() as session:
                await store.update_proposal(
                    session, proposal_id, status=FAILED, error=str(error), finished_at=datetime.now(UTC)
                )

    async def _run(self, proposal_id: str, request: dict[str, Any]) -> None:
        db = self.host.db
        async with db.unit_of_work() as session:
            await store.update_proposal(session, proposal_id, status=RUNNING)
        async with db.read() as session:
            last_week = await store.last_order_week(session)
            points = {(p[0], p[1]) for p in request["stock_points"]} if request.get("stock_points") else None
            wanted = [request["sku"]] if request.get("sku") else sorted({p[0] for p in points or ()}) or None
            demand = await store.demand_rows(session, wanted)
            skus = sorted({r.sku for r in demand})
            receipts = await store.receipt_rows(session, skus)
            products = await store.product_rows(session, skus)
            assignments = await store.assignment_rows(session)
        assembled = assemble(
            demand,
            last_week if last_week is not None else 0,
            receipts,
            products,
            assignments,
            sku=request.get("sku"),
            site=request.get("site"),
            segment=request.get("segment"),
            review_period=float(request.get("review_period") or 0.0),
            stock_points=points,
            assumed_lead_time_days=request.get("assumed_lead_time_days"),
        )
        items: list[dict[str, Any]] = []
        passed = False
        if assembled.inputs is not None:
            settings = ProposalSettings(**_settings(request))
            loop = asyncio.get_running_loop()

            def progress(done: int, total: int) -> None:
                asyncio.run_coroutine_threadsafe(self._progress(proposal_id, 0.99 * done / total), loop)

            proposed = await asyncio.to_thread(propose, assembled.inputs, settings, progress)
            erp = {p.sku: p for p in products}
            items = [
                _item(point, result, assembled.inputs, i, erp.get(point.sku), self.erp_threshold, settings)
                for i, (point, result) in enumerate(zip(assembled.points, proposed, strict=True))
            ]
            passed = all(result.met for result in proposed)
        now = datetime.now(UTC)
        async with db.unit_of_work() as session:
            for item in items:
                await store.save_computed(
                    session,
                    {
                        "sku": item["sku"],
                        "site": item["site"],
                        "segment": item["segment"],
                        "safety_stock": item["safety_stock"],
                        "reorder_point": item["reorder_point"],
                        "proposal_id": proposal_id,
                        "computed_at": now,
                    },
                )
            await store.update_proposal(
                session,
                proposal_id,
                status=PASSED if items and passed else HELD,
                progress=1.0,
                passed=bool(items) and passed,
                items=items,
                skipped=assembled.skipped,
                finished_at=now,
            )

    async def _progress(self, proposal_id: str, value: float) -> None:
        async with self.host.db.unit_of_work() as session:
            await store.raise_progress(session, proposal_id, value)

    async def publish(self, proposal_id: str, published_by: str) -> list[dict[str, Any]]:
        """Queue policy.published per item (key sku@site) and record the parameters, in one transaction.
        The caller has checked the proposal passed."""
        now = datetime.now(UTC)
        async with self.host.db.unit_of_work() as session:
            row = await store.get_proposal(session, proposal_id)
            published: list[dict[str, Any]] = []
            for item in row.items:
                event = published_event(item, proposal_id, now)
                key = f"{item['sku']}@{item['site']}"
                await outbox.add_event(
                    session,
                    topic=topics.POLICY_PARAMETERS,
                    key=key,
                    source=SOURCE,
                    type=PolicyPublished.EVENT_TYPE,
                    payload=event,
                    id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"segflow/policy/{proposal_id}/{key}")),
                    time=now,
                )
                payload = event.model_dump(mode="json")
                await store.save_parameters(
                    session,
                    {
                        "sku": item["sku"],
                        "site": item["site"],
                        "segment": item["segment"],
                        "payload": payload,
                        "proposal_id": proposal_id,
                        "published_at": now,
                    },
                )
                published.append(payload)
            await store.update_proposal(
                session, proposal_id, status=PUBLISHED, published_at=now, published_by=published_by
            )
        self.host.relay.wake()
        return published


def _settings(request: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    bounds = request.get("bounds") or {}
    for name in ("min_cover", "max_cover", "min_quantity", "max_quantity"):
        if bounds.get(name) is not None:
            out[name] = float(bounds[name])
    simulation = request.get("simulation") or {}
    for name in ("paths", "periods", "warmup", "seed"):
        if simulation.get(name) is not None:
            out[name] = int(simulation[name])
    if simulation.get("demand_model"):
        out["demand_model"] = simulation["demand_model"]
    if request.get("order_cover_periods") is not None:
        out["order_cover_periods"] = float(request["order_cover_periods"])
    return out


def _item(
    point: Any,
    result: ProposedItem,
    inputs: Any,
    i: int,
    product: Any,
    threshold: float,
    settings: ProposalSettings,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "sku": point.sku,
        "site": point.site,
        "segment": point.segment,
        "pattern": point.pattern,
        "lead_time_source": point.lead_time_source,
        "assumed": ["lead_time"] if point.lead_time_source == "assumed" else [],
        "service_level_type": point.service_level_type,
        "service_level_target": point.target,
        "inputs": {
            "demand_mean": float(inputs.demand_mean[i]),
            "demand_std": float(inputs.demand_std[i]),
            "lead_time_mean": float(inputs.lead_time_mean[i]),
            "lead_time_std": float(inputs.lead_time_std[i]),
            "review_period": result.review_period,
            "distribution": str(inputs.distribution[i]),
            "period": "week",
        },
        "unit": product.base_uom if product is not None else None,
        "paths": settings.paths,
        "periods": settings.periods,
        "seed": settings.seed,
        "demand_model": settings.demand_model,
    }
    item.update(asdict(result))
    item["erp"] = _erp_delta(result, product, threshold)
    return item


def _erp_delta(result: ProposedItem, product: Any, threshold: float) -> dict[str, Any] | None:
    if product is None or (product.erp_safety_stock is None and product.erp_reorder_point is None):
        return None
    out: dict[str, Any] = {
        "erp_safety_stock": product.erp_safety_stock,
        "erp_reorder_point": product.erp_reorder_point,
        "flagged": False,
    }
    for name, erp_value, value in (
        ("safety_stock", product.erp_safety_stock, result.safety_stock),
        ("reorder_point", product.erp_reorder_point, result.reorder_point),
    ):
        if erp_value is None:
            continue
        check = reconcile([value], [erp_value], 0.0, threshold)
        out[f"{name}_delta"] = float(check.delta[0])
        out["flagged"] = out["flagged"] or bool(check.flagged[0])
    return out


def _fraction(value: float | None) -> float | None:
    return None if value is None else min(max(value, 0.0), 1.0)


def published_event(item: dict[str, Any], proposal_id: str, at: datetime) -> PolicyPublished:
    """The policy.published of one proposal item (confidence bounds clipped to [0, 1] for fractions)."""
    evidence = item.get("evidence")
    simulation = None
    if evidence is not None and evidence.get("fill_rate") is not None:
        fill = _fraction(evidence["fill_rate"])
        simulation = SimulationSummary(
            paths=int(item.get("paths") or 1),
            periods=int(item.get("periods") or 1),
            seed=item.get("seed"),
            fill_rate=fill,  # type: ignore[arg-type]
            fill_rate_ci_low=min(_fraction(evidence["fill_rate_ci_low"]) or 0.0, fill or 0.0),
            fill_rate_ci_high=max(_fraction(evidence["fill_rate_ci_high"]) or 1.0, fill or 0.0),
            cycle_service_level=_fraction(evidence.get("cycle_service_level")),
            cycle_service_level_ci_low=_fraction(evidence.get("cycle_service_level_ci_low")),
            cycle_service_level_ci_high=_fraction(evidence.get("cycle_service_level_ci_high")),
            average_on_hand=max(evidence.get("average_on_hand") or 0.0, 0.0),
            stockout_periods=max(evidence.get("stockout_periods") or 0.0, 0.0),
        )
    inputs = item["inputs"]
    erp = item.get("erp")
    return PolicyPublished(
        sku=item["sku"],
        site=item["site"],
        segment=item["segment"],
        method=item["method"],
        service_level_type=item["service_level_type"],
        service_level_target=item["service_level_target"],
        safety_stock=max(item["safety_stock"], 0.0),
        reorder_point=item["reorder_point"],
        order_up_to=item.get("order_up_to"),
        unit=item.get("unit"),
        inputs=PolicyInputs(
            demand_mean=inputs["demand_mean"],
            demand_std=inputs["demand_std"],
            period=inputs["period"],
            lead_time_mean=inputs["lead_time_mean"],
            lead_time_std=inputs["lead_time_std"],
            order_quantity=item.get("order_quantity"),
            review_period=inputs.get("review_period"),
            distribution=inputs["distribution"],
            z=item["z"],
            sigma_lt=item["sigma_lt"],
        ),
        simulation=simulation,
        erp_delta=ErpDelta(**erp) if erp else None,
        proposal_id=proposal_id,
        published_at=at,
    )
