"""Stateful routes under /v1/policy: proposals (planner, admin), published parameters and the ERP
reconciliation report (any authenticated role)."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request

from services.policy import store
from services.policy.domain.reconcile import reconcile
from services.policy.proposals import PASSED, PUBLISHED, ProposalRunner
from services.policy.service_schemas import ProposalRequest
from services.runtime.auth import AUTH_RESPONSES, Principal, require_roles
from services.runtime.problems import Problem, problem_responses

router = APIRouter(prefix="/v1/policy", tags=["policy"])
planners = require_roles("planner", "admin")
any_role = require_roles()


def _runner(request: Request) -> ProposalRunner:
    runner: ProposalRunner = request.app.state.host.state["proposals"]
    return runner


def _proposal(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": row.status,
        "progress": row.progress,
        "request": row.request,
        "created_by": row.created_by,
        "created_at": row.created_at.isoformat(),
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
        "passed": row.passed,
        "items": row.items or [],
        "skipped": row.skipped or [],
        "error": row.error,
        "published_at": row.published_at.isoformat() if row.published_at else None,
    }


@router.post("/proposals", status_code=202, responses={**problem_responses(400), **AUTH_RESPONSES})
async def create_proposal(
    body: ProposalRequest, request: Request, principal: Principal = Depends(planners)
) -> dict[str, Any]:
    """Start a proposal for the matching sku@site (computation and simulation gate run in a worker)."""
    proposal_id = await _runner(request).create(body.model_dump(mode="json"), principal.subject)
    return {"id": proposal_id, "status": "pending"}


@router.get("/proposals/{proposal_id}", responses={**problem_responses(404), **AUTH_RESPONSES})
async def get_proposal(
    proposal_id: str, request: Request, principal: Principal = Depends(planners)
) -> dict[str, Any]:
    async with request.app.state.host.db.read() as session:
        row = await store.get_proposal(session, proposal_id)
    if row is None:
        raise Problem(404, "Proposal not found", f"no proposal {proposal_id}")
    return _proposal(row)


@router.post("/proposals/{proposal_id}/publish", responses={**problem_responses(404, 409), **AUTH_RESPONSES})
async def publish_proposal(
    proposal_id: str, request: Request, principal: Principal = Depends(planners)
) -> dict[str, Any]:
    """Publish every item's policy.published; 409 with the evidence unless the gate passed."""
    async with request.app.state.host.db.read() as session:
        row = await store.get_proposal(session, proposal_id)
    if row is None:
        raise Problem(404, "Proposal not found", f"no proposal {proposal_id}")
    if row.status == PUBLISHED:
        raise Problem(
            409, "Proposal already published", f"published at {row.published_at}", status_now=row.status
        )
    if row.status != PASSED:
        failed = [
            {
                k: item.get(k)
                for k in ("sku", "site", "metric", "service_level_target", "lower", "met", "evidence")
            }
            for item in (row.items or [])
            if not item.get("met")
        ]
        detail = (
            "the simulation gate did not pass: a lower confidence bound is below its target"
            if row.status == "held"
            else f"the proposal is {row.status}"
        )
        raise Problem(409, "Proposal not publishable", detail, proposal_status=row.status, evidence=failed)
    published = await _runner(request).publish(proposal_id, principal.subject)
    return {"id": proposal_id, "status": PUBLISHED, "published": published}


@router.get("/parameters", responses=AUTH_RESPONSES)
async def list_parameters(
    request: Request,
    sku: str | None = None,
    site: str | None = None,
    segment: str | None = None,
    limit: int = Query(default=500, ge=1, le=5000),
    principal: Principal = Depends(any_role),
) -> dict[str, Any]:
    """The policies in force (latest published per sku@site)."""
    async with request.app.state.host.db.read() as session:
        rows = await store.parameter_rows(session, sku, site, segment, limit)
    return {"items": [dict(r.payload) for r in rows]}


@router.get("/reconciliation", responses={**problem_responses(400), **AUTH_RESPONSES})
async def reconciliation(
    request: Request,
    threshold: float = Query(default=0.1, ge=0, description="relative delta beyond which a row is flagged"),
    absolute: float = Query(default=0.0, ge=0, description="and absolute delta beyond which it is flagged"),
    flagged_only: bool = False,
    principal: Principal = Depends(any_role),
) -> dict[str, Any]:
    """Latest computed SS / ROP per sku@site vs the ERP's values from product master data."""
    async with request.app.state.host.db.read() as session:
        rows = await store.computed_rows(session)
    items: list[dict[str, Any]] = []
    for name in ("safety_stock", "reorder_point"):
        with_erp = [r for r in rows if getattr(r, f"erp_{name}") is not None]
        if not with_erp:
            continue
        check = reconcile(
            np.array([getattr(r, name) for r in with_erp]),
            np.array([getattr(r, f"erp_{name}") for r in with_erp]),
            absolute,
            threshold,
        )
        for i, r in enumerate(with_erp):
            items.append(
                {
                    "sku": r.sku,
                    "site": r.site,
                    "segment": r.segment,
                    "parameter": name,
                    "computed": float(getattr(r, name)),
                    "erp": float(getattr(r, f"erp_{name}")),
                    "delta": float(check.delta[i]),
                    "relative_delta": float(check.relative_delta[i])
                    if np.isfinite(check.relative_delta[i])
                    else None,
                    "direction": int(check.direction[i]),
                    "flagged": bool(check.flagged[i]),
                    "proposal_id": r.proposal_id,
                }
            )
    if flagged_only:
        items = [i for i in items if i["flagged"]]
    return {"threshold": threshold, "absolute": absolute, "items": items}
