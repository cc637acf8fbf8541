"""The proxy table: every planner, approver, finance and admin route the gateway forwards upstream.

Role families (admin passes every check): reads of segments, runs, rule sets, policies, KPIs and alerts
need planner, approver or finance; writes that prepare work (rule sets, runs, override requests,
proposals) need planner; decisions (approve/reject overrides, activate rule sets, publish proposals) need
approver, and nobody decides their own override (four-eyes, checked here and by the classifier).
Financial fields are masked for everyone but finance and admin.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from fastapi import Request

from services.gateway.atp_cache import remember_atp
from services.gateway.proxy_spec import (
    CREATED_RESPONSES,
    REQUIRED,
    Dimension,
    ProxyRoute,
    path_id,
    path_param,
    query,
)
from services.gateway.proxying import PROXY_RESPONSES, call_json
from services.runtime.auth import Principal
from services.runtime.problems import Problem

READ = ("planner", "approver", "finance")
PLAN = ("planner",)
DECIDE = ("approver",)
PLAN_OR_FINANCE = ("planner", "finance")
PLAN_OR_SERVICE = ("planner", "service")
CSV_200 = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}
AUDIT_EXPORT_200 = {
    200: {
        "description": "the audit service's export, passed through",
        "content": {"application/json": {}, "text/csv": {}, "application/x-ndjson": {}, "text/plain": {}},
    }
}


async def refuse_own_override(request: Request, principal: Principal, values: Mapping[str, Any]) -> None:
    """Four-eyes: the requester of a pending override may not approve or reject it (403)."""
    override_id = values["override_id"]
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


async def keep_atp_snapshot(request: Request, values: Mapping[str, Any], data: Any) -> None:
    """Every ATP answer that passes through becomes the snapshot degraded promises answer from."""
    await remember_atp(request.app.state.host, values["sku"], values["site"], data, source="atp")


def _segment_filters() -> tuple[Any, ...]:
    return (
        query("dimension", Dimension | None),
        query("segment", str | None, max_length=256),
        query("abc", Literal["A", "B", "C"] | None),
        query("xyz", Literal["X", "Y", "Z"] | None),
        query("region", str | None, max_length=256),
        query("q", str | None, max_length=256),
    )


def _route(
    name: str,
    method: Literal["GET", "POST"],
    path: str,
    upstream: Any,
    roles: tuple[str, ...],
    summary: str,
    tag: str,
    **rest: Any,
) -> ProxyRoute:
    return ProxyRoute(name, method, path, upstream, roles, summary, tag, **rest)


SEQ = {"ge": 0, "le": 2**62}
# fmt: off
CLASSIFIER: list[ProxyRoute] = [
    _route("list_segments", "GET", "/v1/segments", "classifier", READ, "Members of segments (paged, filtered)",
           "segments", params=(*_segment_filters(), query("cursor", str | None, max_length=512),
                               query("limit", int, 50, ge=1, le=1000))),
    _route("segment_matrix", "GET", "/v1/segments/matrix", "classifier", READ, "ABC x XYZ counts per cell",
           "segments", params=(query("dimension", Dimension, "product"),)),
    _route("export_segments_upstream", "GET", "/v1/segments/export.csv", "classifier", READ, "Members as CSV",
           "segments", params=_segment_filters(), kind="text", media_type="text/csv",
           responses={**CSV_200, **PROXY_RESPONSES}),
    _route("segment_detail", "GET", "/v1/segments/{dimension}/{entity_id}", "classifier", READ,
           "One entity: segment, explanation, history", "segments",
           params=(path_param("dimension", Dimension), path_id("entity_id"))),
    _route("classify_preview", "POST", "/v1/classify/preview", "classifier", PLAN, "Classify without storing",
           "segments", body="any"),
    _route("list_rulesets", "GET", "/v1/rulesets", "classifier", READ, "Rule set versions", "rulesets"),
    _route("create_ruleset", "POST", "/v1/rulesets", "classifier", PLAN, "Store a new rule set version",
           "rulesets", body="any"),
    _route("validate_ruleset", "POST", "/v1/rulesets/validate", "classifier", PLAN, "Validate a rule set",
           "rulesets", body="any"),
    _route("get_ruleset", "GET", "/v1/rulesets/{version}", "classifier", READ, "One rule set version",
           "rulesets", params=(path_id("version"),)),
    _route("ruleset_impact", "POST", "/v1/rulesets/{version}/impact", "classifier", PLAN,
           "Impact of a rule set version", "rulesets", params=(path_id("version"),), body="any"),
    _route("activate_ruleset", "POST", "/v1/rulesets/{version}/activate", "classifier", DECIDE,
           "Activate a rule set (approver)", "rulesets", params=(path_id("version"),), body="empty"),
    _route("start_run", "POST", "/v1/runs", "classifier", PLAN, "Start a classification run", "runs",
           body="any", status_code=202),
    _route("latest_run", "GET", "/v1/runs/latest", "classifier", READ,
           "The latest run (progress, counts, migration)", "runs"),
    _route("get_run", "GET", "/v1/runs/{run_id}", "classifier", READ, "One run", "runs",
           params=(path_id("run_id"),)),
    _route("request_override", "POST", "/v1/overrides", "classifier", PLAN, "Request an override (four-eyes)",
           "overrides", body="any", status_code=201, responses=CREATED_RESPONSES),
    _route("list_overrides", "GET", "/v1/overrides", "classifier", ("planner", "approver"),
           "Overrides by status", "overrides",
           params=(query("status", Literal["pending", "approved", "rejected", "expired"] | None),)),
    _route("approve_override", "POST", "/v1/overrides/{override_id}/approve", "classifier", DECIDE,
           "Approve (approver, not the requester)", "overrides", params=(path_id("override_id"),),
           body="any", check=refuse_own_override),
    _route("reject_override", "POST", "/v1/overrides/{override_id}/reject", "classifier", DECIDE,
           "Reject (approver, not the requester)", "overrides", params=(path_id("override_id"),),
           body="any", check=refuse_own_override),
]

POLICY: list[ProxyRoute] = [
    _route("policy_parameters", "GET", "/v1/policy/parameters", "policy", READ,
           "Published inventory parameters", "policy",
           params=(query("sku", str | None, max_length=256), query("site", str | None, max_length=256),
                   query("segment", str | None, max_length=256),
                   query("limit", int | None, ge=1, le=5000))),
    _route("policy_compute", "POST", "/v1/policy/compute", "policy", PLAN, "Compute parameters (stateless)",
           "policy", body="any"),
    _route("policy_simulate", "POST", "/v1/policy/simulate", "policy", PLAN, "Simulate a policy (stateless)",
           "policy", body="any"),
    _route("create_proposal", "POST", "/v1/policy/proposals", "policy", PLAN, "Propose a policy change",
           "policy", body="any", status_code=202, responses=CREATED_RESPONSES),
    _route("get_proposal", "GET", "/v1/policy/proposals/{proposal_id}", "policy", PLAN, "One proposal",
           "policy", params=(path_id("proposal_id"),)),
    _route("publish_proposal", "POST", "/v1/policy/proposals/{proposal_id}/publish", "policy", DECIDE,
           "Publish (approver)", "policy", params=(path_id("proposal_id"),), body="empty"),
    _route("reconciliation", "GET", "/v1/policy/reconciliation", "policy", PLAN_OR_FINANCE,
           "ERP vs policy reconciliation", "policy",
           params=(query("threshold", float | None, ge=0, le=1e9, description="relative delta flagged beyond"),
                   query("absolute", float | None, ge=0, le=1e12,
                         description="and absolute delta flagged beyond"),
                   query("flagged_only", bool | None))),
    _route("kpis", "GET", "/v1/kpis", "policy", READ, "KPI series per segment", "kpis",
           params=(query("segment", str | None, max_length=256),
                   query("kpi", Literal["line_fill_rate", "otif", "perfect_order"] | None),
                   query("window", int | None, ge=1, le=104, description="rolling window in weeks"),
                   query("by", Literal["segment", "region", "product_line"] | None))),
    _route("alerts", "GET", "/v1/alerts", "policy", READ, "KPI alerts", "kpis",
           params=(query("status", Literal["open", "cleared"] | None),
                   query("segment", str | None, max_length=256))),
]

ALLOCATOR: list[ProxyRoute] = [
    _route("atp", "GET", "/v1/atp", "allocator", PLAN_OR_SERVICE, "ATP by day for a sku@site", "allocation",
           params=(query("sku", str, REQUIRED, min_length=1, max_length=256),
                   query("site", str, REQUIRED, min_length=1, max_length=256)),
           on_answer=keep_atp_snapshot),
    _route("allocations", "GET", "/v1/allocations", "allocator", PLAN_OR_SERVICE,
           "Recent allocation decisions", "allocation",
           params=(query("sku", str | None, min_length=1, max_length=256),
                   query("site", str | None, min_length=1, max_length=256),
                   query("limit", int | None, ge=1, le=1000))),
    _route("backorder_run", "POST", "/v1/backorders/runs", "allocator", PLAN, "Start a backorder run",
           "allocation", body="any"),
    _route("get_backorder_run", "GET", "/v1/backorders/runs/{run_id}", "allocator", PLAN,
           "One backorder run", "allocation", params=(path_id("run_id"),)),
]

AUDIT: list[ProxyRoute] = [
    _route("audit_entries", "GET", "/v1/audit/entries", "audit", PLAN_OR_FINANCE, "Audit log entries", "audit",
           params=(query("subject", str | None, max_length=512), query("type", str | None, max_length=256),
                   query("topic", str | None, max_length=256),
                   query("key", str | None, max_length=512, description="record key, e.g. customer:C1"),
                   query("from_", str | None, alias="from", max_length=64,
                         description="event time >= (RFC 3339)"),
                   query("to", str | None, max_length=64, description="event time < (RFC 3339)"),
                   query("cursor", str | None, max_length=512),
                   query("limit", int, 100, ge=1, le=1000))),
    _route("audit_segment", "GET", "/v1/audit/segments/{dimension}/{entity_id}", "audit", PLAN_OR_FINANCE,
           "Segment as of a time", "audit",
           params=(path_param("dimension", Dimension), path_id("entity_id"),
                   query("as_of", str | None, max_length=64))),
    _route("audit_verify", "GET", "/v1/audit/verify", "audit", PLAN_OR_FINANCE, "Verify the hash chain",
           "audit"),
    _route("audit_checkpoint", "GET", "/v1/audit/checkpoints/latest", "audit", PLAN_OR_FINANCE,
           "Latest Merkle checkpoint", "audit"),
    _route("audit_inclusion", "GET", "/v1/audit/proofs/inclusion/{seq}", "audit", PLAN_OR_FINANCE,
           "Inclusion proof", "audit", params=(path_param("seq", int, **SEQ),)),
    _route("audit_consistency", "GET", "/v1/audit/proofs/consistency", "audit", PLAN_OR_FINANCE,
           "Consistency proof", "audit",
           params=(query("from_", int, REQUIRED, alias="from", **SEQ), query("to", int, REQUIRED, **SEQ))),
    _route("audit_erasure", "POST", "/v1/audit/erasures", "audit", ("admin",), "Erase personal data (admin)",
           "audit", body="any"),
    _route("audit_export", "GET", "/v1/audit/export", "audit", ("finance",), "Export the audit log", "audit",
           params=(query("from_", int | None, alias="from", description="first seq", **SEQ),
                   query("to", int | None, description="end seq (exclusive)", **SEQ)),
           kind="text", responses={**AUDIT_EXPORT_200, **PROXY_RESPONSES}),
]
# fmt: on

PROXY_ROUTES: tuple[ProxyRoute, ...] = (*CLASSIFIER, *POLICY, *ALLOCATOR, *AUDIT)
