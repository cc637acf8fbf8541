"""KPI and alert routes: rolling KPI series per segment or region, the evaluation step, open alerts,
escalation paths, cost-to-serve and turns per segment (cost masked unless finance/admin)."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from services.policy import kpis, store
from services.policy.cohorts import cohort_report
from services.policy.evaluation import KpiEvaluator
from services.policy.kpi_reads import KpiReads
from services.policy.service_schemas import EscalationRequest, EvaluateRequest
from services.runtime.auth import AUTH_RESPONSES, Principal, mask_financials, require_roles
from services.runtime.problems import Problem, problem_responses

router = APIRouter(tags=["kpis"])
any_role = require_roles()
planners = require_roles("planner", "admin")
RESPONSES = {**problem_responses(400), **AUTH_RESPONSES}


@router.get("/v1/kpis", responses=RESPONSES)
async def kpi_series(
    request: Request,
    segment: str | None = None,
    kpi: Literal["line_fill_rate", "otif", "perfect_order"] | None = None,
    window: int = Query(default=4, ge=1, le=104, description="rolling window in weeks"),
    by: Literal["segment", "region", "product_line"] = "segment",
    principal: Principal = Depends(any_role),
) -> dict[str, Any]:
    """Series per segment, region or product line (product category from master data):
    [{group, kpi, points: [{week_start, value, lines}]}]. Computed once per version of the inputs
    (services.policy.kpi_reads): a call after any committed write sees it."""
    reads: KpiReads = request.app.state.host.state["kpi_reads"]
    table = await reads.table(by, window)
    return {"by": by, "window": window, "series": kpis.series(table, kpi, segment)}


@router.get("/v1/kpis/cohorts", responses={**problem_responses(400, 404), **AUTH_RESPONSES})
async def cohorts(
    request: Request,
    run_id: str = Query(min_length=1, max_length=256, description="the reclassification run"),
    weeks: int = Query(default=8, ge=1, le=104, description="weeks before vs after the change"),
    principal: Principal = Depends(any_role),
) -> dict[str, Any]:
    """Per migration cell (dimension, old -> new segment) of the run: order volume, order lines per week
    and fill rate over the ``weeks`` weeks before vs after each entity's change."""
    async with request.app.state.host.db.read() as session:
        changes = await store.segment_change_rows(session, run_id)
        if not changes:
            raise Problem(404, "Run not found", f"no segment changes of run {run_id}")
        skus = [c.entity_id for c in changes if c.dimension == "product"]
        customers = [c.entity_id for c in changes if c.dimension == "customer"]
        lines = await store.lines_of(session, skus, customers)
        shipped = await store.shipped_by_line(session, [line.order_id for line in lines])
    cells = await asyncio.to_thread(cohort_report, changes, lines, shipped, weeks)
    return {"run_id": run_id, "weeks": weeks, "cells": cells}


@router.post("/v1/kpis/evaluate", responses=RESPONSES)
async def evaluate(
    request: Request, body: EvaluateRequest | None = None, principal: Principal = Depends(planners)
) -> dict[str, Any]:
    """Run the alert evaluation step now (weeks up to ``through``, default: the last completed week)."""
    evaluator: KpiEvaluator = request.app.state.host.state["evaluator"]
    through = store.week_of(body.through) if body is not None and body.through is not None else None
    return await evaluator.evaluate(through)


@router.get("/v1/kpis/cost-to-serve", responses=AUTH_RESPONSES)
async def cost(request: Request, principal: Principal = Depends(any_role)) -> dict[str, Any]:
    reads: KpiReads = request.app.state.host.state["kpi_reads"]
    masked, paths = mask_financials({"items": await reads.cost()}, principal)
    return {**masked, "masked": paths}


@router.get("/v1/alerts", responses=AUTH_RESPONSES)
async def alerts(
    request: Request,
    status: Literal["open", "cleared"] | None = None,
    segment: str | None = None,
    principal: Principal = Depends(any_role),
) -> dict[str, Any]:
    async with request.app.state.host.db.read() as session:
        rows = await store.alert_rows(session, status, segment)
    return {
        "items": [
            {
                "id": r.id,
                "segment": r.segment,
                "kpi": r.kpi,
                "status": r.status,
                "value": r.value,
                "target": r.target,
                "windows_below": r.windows_below,
                "escalation": list(r.escalation),
                "week_start": store.week_start(r.raised_week).isoformat(),
                "raised_at": r.raised_at.isoformat(),
                "cleared_at": r.cleared_at.isoformat() if r.cleared_at else None,
            }
            for r in rows
        ]
    }


@router.get("/v1/alerts/escalation", responses=AUTH_RESPONSES)
async def escalation_table(request: Request, principal: Principal = Depends(any_role)) -> dict[str, Any]:
    evaluator: KpiEvaluator = request.app.state.host.state["evaluator"]
    async with request.app.state.host.db.read() as session:
        paths = await store.escalations(session)
    return {"default": list(evaluator.config.default_escalation), "segments": paths}


@router.put("/v1/alerts/escalation/{segment}", responses=RESPONSES)
async def set_escalation(
    segment: str,
    body: EscalationRequest,
    request: Request,
    principal: Principal = Depends(require_roles("admin")),
) -> dict[str, Any]:
    async with request.app.state.host.db.unit_of_work() as session:
        await store.save_escalation(session, segment, body.path)
    return {"segment": segment, "path": body.path}
