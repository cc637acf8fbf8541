"""Planner, approver, finance and admin routes: role checks here, then forwarded to the owning service.

Role families (admin passes every check): reads of segments, runs, rule sets, policies, KPIs and alerts
need planner, approver or finance; writes that prepare work (rule sets, runs, override requests,
proposals) need planner; decisions (approve/reject overrides, activate rule sets, publish proposals) need
approver, and nobody decides their own override (four-eyes, checked here and by the classifier).
Financial fields are masked for everyone but finance and admin.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from services.gateway.atp_cache import remember_atp
from services.gateway.proxying import (
    JSON_OBJECT,
    PROXY_RESPONSES,
    call_json,
    forward,
    forward_text,
    masked_response,
)
from services.runtime.auth import Principal, require_roles
from services.runtime.problems import Problem

router = APIRouter()
Dimension = Literal["customer", "product", "customer_product", "supplier"]


def Id() -> Any:
    return Path(min_length=1, max_length=256, pattern=r"^[^/]+$")


OPTS: dict[str, Any] = {"responses": {**JSON_OBJECT, **PROXY_RESPONSES}, "response_class": JSONResponse}
CREATED_OPTS: dict[str, Any] = {
    "responses": {**PROXY_RESPONSES, 201: JSON_OBJECT[200], 202: JSON_OBJECT[200]},
    "response_class": JSONResponse,
}
reader = require_roles("planner", "approver", "finance")
planner = require_roles("planner")
approver = require_roles("approver")
finance_reader = require_roles("planner", "finance")
auditor = require_roles("planner", "finance")
planner_only = require_roles("planner")
finance_only = require_roles("finance")
AnyBody = Body(default_factory=dict, description="passed to the owning service as is")


def seg(value: str) -> str:
    """A path parameter as one URL path segment: percent-encoded; "." and ".." refused (no traversal)."""
    if value in (".", ".."):
        raise Problem(
            400,
            "Bad Request",
            "invalid identifier",
            errors=[{"field": "id", "message": "not an id", "type": "value_error", "location": "path"}],
        )
    return quote(value, safe="")


def _q(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


# --------------------------------------------------------------------------- classifier


@router.get("/v1/segments", tags=["segments"], summary="Members of segments (paged, filtered)", **OPTS)
async def list_segments(
    request: Request,
    dimension: Dimension | None = None,
    segment: str | None = Query(None, max_length=256),
    abc: Literal["A", "B", "C"] | None = None,
    xyz: Literal["X", "Y", "Z"] | None = None,
    region: str | None = Query(None, max_length=256),
    q: str | None = Query(None, max_length=256),
    cursor: str | None = Query(None, max_length=512),
    limit: int = Query(50, ge=1, le=1000),
    principal: Principal = Depends(reader),
) -> JSONResponse:
    params = _q(
        dimension=dimension, segment=segment, abc=abc, xyz=xyz, region=region, q=q, cursor=cursor, limit=limit
    )
    return await forward(request, principal, "classifier", "GET", "/v1/segments", params=params)


@router.get("/v1/segments/matrix", tags=["segments"], summary="ABC x XYZ counts per cell", **OPTS)
async def segment_matrix(
    request: Request, dimension: Dimension = "product", principal: Principal = Depends(reader)
) -> JSONResponse:
    return await forward(
        request, principal, "classifier", "GET", "/v1/segments/matrix", params={"dimension": dimension}
    )


@router.get(
    "/v1/segments/export.csv",
    tags=["segments"],
    summary="Members as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}, **PROXY_RESPONSES},
)
async def export_segments_upstream(
    request: Request,
    dimension: Dimension | None = None,
    segment: str | None = Query(None, max_length=256),
    abc: Literal["A", "B", "C"] | None = None,
    xyz: Literal["X", "Y", "Z"] | None = None,
    region: str | None = Query(None, max_length=256),
    q: str | None = Query(None, max_length=256),
    principal: Principal = Depends(reader),
) -> Response:
    params = _q(dimension=dimension, segment=segment, abc=abc, xyz=xyz, region=region, q=q)
    return await forward_text(
        request, "classifier", "/v1/segments/export.csv", params=params, media_type="text/csv"
    )


@router.get(
    "/v1/segments/{dimension}/{entity_id}",
    tags=["segments"],
    summary="One entity: segment, explanation, history",
    **OPTS,
)
async def segment_detail(
    request: Request, dimension: Dimension, entity_id: str = Id(), principal: Principal = Depends(reader)
) -> JSONResponse:
    return await forward(
        request, principal, "classifier", "GET", f"/v1/segments/{dimension}/{seg(entity_id)}"
    )


@router.post("/v1/classify/preview", tags=["segments"], summary="Classify without storing", **OPTS)
async def classify_preview(
    request: Request, body: dict[str, Any] = AnyBody, principal: Principal = Depends(planner)
) -> JSONResponse:
    return await forward(request, principal, "classifier", "POST", "/v1/classify/preview", json_body=body)


@router.get("/v1/rulesets", tags=["rulesets"], summary="Rule set versions", **OPTS)
async def list_rulesets(request: Request, principal: Principal = Depends(reader)) -> JSONResponse:
    return await forward(request, principal, "classifier", "GET", "/v1/rulesets")


@router.post("/v1/rulesets", tags=["rulesets"], summary="Store a new rule set version", **OPTS)
async def create_ruleset(
    request: Request, body: dict[str, Any] = AnyBody, principal: Principal = Depends(planner)
) -> JSONResponse:
    return await forward(request, principal, "classifier", "POST", "/v1/rulesets", json_body=body)


@router.post("/v1/rulesets/validate", tags=["rulesets"], summary="Validate a rule set", **OPTS)
async def validate_ruleset(
    request: Request, body: dict[str, Any] = AnyBody, principal: Principal = Depends(planner)
) -> JSONResponse:
    return await forward(request, principal, "classifier", "POST", "/v1/rulesets/validate", json_body=body)


@router.get("/v1/rulesets/{version}", tags=["rulesets"], summary="One rule set version", **OPTS)
async def get_ruleset(
    request: Request, version: str = Id(), principal: Principal = Depends(reader)
) -> JSONResponse:
    return await forward(request, principal, "classifier", "GET", f"/v1/rulesets/{seg(version)}")


@router.post(
    "/v1/rulesets/{version}/impact", tags=["rulesets"], summary="Impact of a rule set version", **OPTS
)
async def ruleset_impact(
    request: Request,
    version: str = Id(),
    body: dict[str, Any] = AnyBody,
    principal: Principal = Depends(planner),
) -> JSONResponse:
    return await forward(
        request, principal, "classifier", "POST", f"/v1/rulesets/{seg(version)}/impact", json_body=body
    )


@router.post(
    "/v1/rulesets/{version}/activate", tags=["rulesets"], summary="Activate a rule set (approver)", **OPTS
)
async def activate_ruleset(
    request: Request, version: str = Id(), principal: Principal = Depends(approver)
) -> JSONResponse:
    return await forward(
        request, principal, "classifier", "POST", f"/v1/rulesets/{seg(version)}/activate", json_body={}
    )


@router.post("/v1/runs", tags=["runs"], summary="Start a classification run", status_code=202, **OPTS)
async def start_run(
    request: Request, body: dict[str, Any] = AnyBody, principal: Principal = Depends(planner)
) -> JSONResponse:
    return await forward(request, principal, "classifier", "POST", "/v1/runs", json_body=body)


@router.get("/v1/runs/latest", tags=["runs"], summary="The latest run (progress, counts, migration)", **OPTS)
async def latest_run(request: Request, principal: Principal = Depends(reader)) -> JSONResponse:
    return await forward(request, principal, "classifier", "GET", "/v1/runs/latest")


@router.get("/v1/runs/{run_id}", tags=["runs"], summary="One run", **OPTS)
async def get_run(
    request: Request, run_id: str = Id(), principal: Principal = Depends(reader)
) -> JSONResponse:
    return await forward(request, principal, "classifier", "GET", f"/v1/runs/{seg(run_id)}")


@router.post(
    "/v1/overrides",
    tags=["overrides"],
    summary="Request an override (four-eyes)",
    status_code=201,
    **CREATED_OPTS,
)
async def request_override(
    request: Request, body: dict[str, Any] = AnyBody, principal: Principal = Depends(planner)
) -> JSONResponse:
    return await forward(request, principal, "classifier", "POST", "/v1/overrides", json_body=body)


@router.get("/v1/overrides", tags=["overrides"], summary="Overrides by status", **OPTS)
async def list_overrides(
    request: Request,
    status: Literal["pending", "approved", "rejected", "expired"] | None = None,
    principal: Principal = Depends(require_roles("planner", "approver")),
) -> JSONResponse:
    return await forward(request, principal, "classifier", "GET", "/v1/overrides", params=_q(status=status))


async def _refuse_own_override(request: Request, principal: Principal, override_id: str) -> None:
    _, data = await call_json(request, "classifier", "GET", "/v1/overrides", params={"status": "pending"})
    items = data.get("items", data) if isinstance(data, dict) else data
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or str(item.get("id", item.get("override_id"))) != override_id:
            continue
        if item.get("requested_by") == principal.subject:
            raise Problem(
                403,
                "Forbidden",
                "four-eyes: you cannot decide an override you requested",
                type="urn:segflow:problem:four-eyes",
            )


@router.post(
    "/v1/overrides/{override_id}/approve",
    tags=["overrides"],
    summary="Approve (approver, not the requester)",
    **OPTS,
)
async def approve_override(
    request: Request,
    override_id: str = Id(),
    body: dict[str, Any] = AnyBody,
    principal: Principal = Depends(approver),
) -> JSONResponse:
    await _refuse_own_override(request, principal, override_id)
    return await forward(
        request, principal, "classifier", "POST", f"/v1/overrides/{seg(override_id)}/approve", json_body=body
    )


@router.post(
    "/v1/overrides/{override_id}/reject",
    tags=["overrides"],
    summary="Reject (approver, not the requester)",
    **OPTS,
)
async def reject_override(
    request: Request,
    override_id: str = Id(),
    body: dict[str, Any] = AnyBody,
    principal: Principal = Depends(approver),
) -> JSONResponse:
    await _refuse_own_override(request, principal, override_id)
    return await forward(
        request, principal, "classifier", "POST", f"/v1/overrides/{seg(override_id)}/reject", json_body=body
    )


# --------------------------------------------------------------------------- policy


@router.get("/v1/policy/parameters", tags=["policy"], summary="Published inventory parameters", **OPTS)
async def policy_parameters(
    request: Request,
    sku: str | None = Query(None, max_length=256),
    site: str | None = Query(None, max_length=256),
    segment: str | None = Query(None, max_length=256),
    limit: int | None = Query(None, ge=1, le=5000),
    principal: Principal = Depends(reader),
) -> JSONResponse:
    params = _q(sku=sku, site=site, segment=segment, limit=limit)
    return await forward(request, principal, "policy", "GET", "/v1/policy/parameters", params=params)


@router.post("/v1/policy/compute", tags=["policy"], summary="Compute parameters (stateless)", **OPTS)
async def policy_compute(
    request: Request, body: dict[str, Any] = AnyBody, principal: Principal = Depends(planner)
) -> JSONResponse:
    return await forward(request, principal, "policy", "POST", "/v1/policy/compute", json_body=body)


@router.post("/v1/policy/simulate", tags=["policy"], summary="Simulate a policy (stateless)", **OPTS)
async def policy_simulate(
    request: Request, body: dict[str, Any] = AnyBody, principal: Principal = Depends(planner)
) -> JSONResponse:
    return await forward(request, principal, "policy", "POST", "/v1/policy/simulate", json_body=body)


@router.post(
    "/v1/policy/proposals",
    tags=["policy"],
    summary="Propose a policy change",
    status_code=202,
    **CREATED_OPTS,
)
async def create_proposal(
    request: Request, body: dict[str, Any] = AnyBody, principal: Principal = Depends(planner)
) -> JSONResponse:
    return await forward(request, principal, "policy", "POST", "/v1/policy/proposals", json_body=body)


@router.get("/v1/policy/proposals/{proposal_id}", tags=["policy"], summary="One proposal", **OPTS)
async def get_proposal(
    request: Request, proposal_id: str = Id(), principal: Principal = Depends(planner_only)
) -> JSONResponse:
    return await forward(request, principal, "policy", "GET", f"/v1/policy/proposals/{seg(proposal_id)}")


@router.post(
    "/v1/policy/proposals/{proposal_id}/publish", tags=["policy"], summary="Publish (approver)", **OPTS
)
async def publish_proposal(
    request: Request, proposal_id: str = Id(), principal: Principal = Depends(approver)
) -> JSONResponse:
    return await forward(
        request, principal, "policy", "POST", f"/v1/policy/proposals/{seg(proposal_id)}/publish", json_body={}
    )


@router.get("/v1/policy/reconciliation", tags=["policy"], summary="ERP vs policy reconciliation", **OPTS)
async def reconciliation(
    request: Request,
    threshold: float | None = Query(None, ge=0, le=1e9, description="relative delta flagged beyond"),
    absolute: float | None = Query(None, ge=0, le=1e12, description="and absolute delta flagged beyond"),
    flagged_only: bool | None = None,
    principal: Principal = Depends(finance_reader),
) -> JSONResponse:
    params = _q(threshold=threshold, absolute=absolute, flagged_only=flagged_only)
    return await forward(request, principal, "policy", "GET", "/v1/policy/reconciliation", params=params)


@router.get("/v1/kpis", tags=["kpis"], summary="KPI series per segment", **OPTS)
async def kpis(
    request: Request,
    segment: str | None = Query(None, max_length=256),
    kpi: Literal["line_fill_rate", "otif", "perfect_order"] | None = None,
    window: int | None = Query(None, ge=1, le=104, description="rolling window in weeks"),
    by: Literal["segment", "region", "product_line"] | None = None,
    principal: Principal = Depends(reader),
) -> JSONResponse:
    params = _q(segment=segment, kpi=kpi, window=window, by=by)
    return await forward(request, principal, "policy", "GET", "/v1/kpis", params=params)


@router.get("/v1/alerts", tags=["kpis"], summary="KPI alerts", **OPTS)
async def alerts(
    request: Request,
    status: Literal["open", "cleared"] | None = None,
    segment: str | None = Query(None, max_length=256),
    principal: Principal = Depends(reader),
) -> JSONResponse:
    params = _q(status=status, segment=segment)
    return await forward(request, principal, "policy", "GET", "/v1/alerts", params=params)


# --------------------------------------------------------------------------- allocator


@router.get("/v1/atp", tags=["allocation"], summary="ATP by day for a sku@site", **OPTS)
async def atp(
    request: Request,
    sku: str = Query(min_length=1, max_length=256),
    site: str = Query(min_length=1, max_length=256),
    principal: Principal = Depends(require_roles("planner", "service")),
) -> JSONResponse:
    status, data = await call_json(request, "allocator", "GET", "/v1/atp", params=_q(sku=sku, site=site))
    await remember_atp(request.app.state.host, sku, site, data, source="atp")
    return masked_response(status, data, principal)


@router.get("/v1/allocations", tags=["allocation"], summary="Recent allocation decisions", **OPTS)
async def allocations(
    request: Request,
    sku: str | None = Query(None, min_length=1, max_length=256),
    site: str | None = Query(None, min_length=1, max_length=256),
    limit: int | None = Query(None, ge=1, le=1000),
    principal: Principal = Depends(require_roles("planner", "service")),
) -> JSONResponse:
    params = _q(sku=sku, site=site, limit=limit)
    return await forward(request, principal, "allocator", "GET", "/v1/allocations", params=params)


@router.post("/v1/backorders/runs", tags=["allocation"], summary="Start a backorder run", **OPTS)
async def backorder_run(
    request: Request, body: dict[str, Any] = AnyBody, principal: Principal = Depends(planner)
) -> JSONResponse:
    return await forward(request, principal, "allocator", "POST", "/v1/backorders/runs", json_body=body)


@router.get("/v1/backorders/runs/{run_id}", tags=["allocation"], summary="One backorder run", **OPTS)
async def get_backorder_run(
    request: Request, run_id: str = Id(), principal: Principal = Depends(planner_only)
) -> JSONResponse:
    return await forward(request, principal, "allocator", "GET", f"/v1/backorders/runs/{seg(run_id)}")


# --------------------------------------------------------------------------- audit


@router.get("/v1/audit/entries", tags=["audit"], summary="Audit log entries", **OPTS)
async def audit_entries(
    request: Request,
    subject: str | None = Query(None, max_length=512),
    type: str | None = Query(None, max_length=256),
    topic: str | None = Query(None, max_length=256),
    key: str | None = Query(None, max_length=512, description="record key, e.g. customer:C1"),
    from_: str | None = Query(None, alias="from", max_length=64, description="event time >= (RFC 3339)"),
    to: str | None = Query(None, max_length=64, description="event time < (RFC 3339)"),
    cursor: str | None = Query(None, max_length=512),
    limit: int = Query(100, ge=1, le=1000),
    principal: Principal = Depends(auditor),
) -> JSONResponse:
    params = _q(subject=subject, type=type, topic=topic, key=key, to=to, cursor=cursor, limit=limit)
    params.update(_q(**{"from": from_}))
    return await forward(request, principal, "audit", "GET", "/v1/audit/entries", params=params)


@router.get(
    "/v1/audit/segments/{dimension}/{entity_id}", tags=["audit"], summary="Segment as of a time", **OPTS
)
async def audit_segment(
    request: Request,
    dimension: Dimension,
    entity_id: str = Id(),
    as_of: str | None = Query(None, max_length=64),
    principal: Principal = Depends(auditor),
) -> JSONResponse:
    path = f"/v1/audit/segments/{dimension}/{seg(entity_id)}"
    return await forward(request, principal, "audit", "GET", path, params=_q(as_of=as_of))


@router.get("/v1/audit/verify", tags=["audit"], summary="Verify the hash chain", **OPTS)
async def audit_verify(request: Request, principal: Principal = Depends(auditor)) -> JSONResponse:
    return await forward(request, principal, "audit", "GET", "/v1/audit/verify")


@router.get("/v1/audit/checkpoints/latest", tags=["audit"], summary="Latest Merkle checkpoint", **OPTS)
async def audit_checkpoint(request: Request, principal: Principal = Depends(auditor)) -> JSONResponse:
    return await forward(request, principal, "audit", "GET", "/v1/audit/checkpoints/latest")


@router.get("/v1/audit/proofs/inclusion/{seq}", tags=["audit"], summary="Inclusion proof", **OPTS)
async def audit_inclusion(
    request: Request, seq: int = Path(ge=0, le=2**62), principal: Principal = Depends(auditor)
) -> JSONResponse:
    return await forward(request, principal, "audit", "GET", f"/v1/audit/proofs/inclusion/{seq}")


@router.get("/v1/audit/proofs/consistency", tags=["audit"], summary="Consistency proof", **OPTS)
async def audit_consistency(
    request: Request,
    from_: int = Query(alias="from", ge=0, le=2**62),
    to: int = Query(ge=0, le=2**62),
    principal: Principal = Depends(auditor),
) -> JSONResponse:
    params = {"from": from_, "to": to}
    return await forward(request, principal, "audit", "GET", "/v1/audit/proofs/consistency", params=params)


@router.post("/v1/audit/erasures", tags=["audit"], summary="Erase personal data (admin)", **OPTS)
async def audit_erasure(
    request: Request, body: dict[str, Any] = AnyBody, principal: Principal = Depends(require_roles("admin"))
) -> JSONResponse:
    return await forward(request, principal, "audit", "POST", "/v1/audit/erasures", json_body=body)


@router.get(
    "/v1/audit/export",
    tags=["audit"],
    summary="Export the audit log",
    response_class=Response,
    responses={
        200: {
            "description": "the audit service's export, passed through",
            "content": {"application/json": {}, "text/csv": {}, "application/x-ndjson": {}, "text/plain": {}},
        },
        **PROXY_RESPONSES,
    },
)
async def audit_export(
    request: Request,
    from_: int | None = Query(None, alias="from", ge=0, le=2**62, description="first seq"),
    to: int | None = Query(None, ge=0, le=2**62, description="end seq (exclusive)"),
    principal: Principal = Depends(finance_only),
) -> Response:
    params = _q(to=to)
    params.update(_q(**{"from": from_}))
    return await forward_text(request, "audit", "/v1/audit/export", params=params)
