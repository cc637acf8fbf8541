"""The public edge: the promise API (rate limited, degraded from the ATP snapshot when the allocator is
down), the customer portal (customer id from the token only), S&OP exports and development tokens."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import httpx
import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from services.gateway import store
from services.gateway.atp_cache import load_atp, schedule_refresh
from services.gateway.domain.degraded import confirm_from_snapshot
from services.gateway.domain.token_bucket import retry_after_header
from services.gateway.proxying import PROXY_RESPONSES, call_json, down_problem, problem_from, upstreams_of
from services.gateway.ratelimit import RateLimiter
from services.gateway.schemas import (
    DevToken,
    DevTokenRequest,
    Entitlements,
    HistoryEntry,
    MySegment,
    PromiseAnswer,
    PromiseRequest,
)
from services.gateway.upstream import UpstreamDown
from services.runtime.auth import AUTH_RESPONSES, Principal, issue_token, mask_financials, require_roles
from services.runtime.problems import Problem, problem_responses

router = APIRouter()
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV"}
}


# --------------------------------------------------------------------------- promise


@router.post(
    "/v1/promise",
    tags=["promise"],
    summary="Promise an order line (e-commerce)",
    response_model=PromiseAnswer,
    responses={**AUTH_RESPONSES, **problem_responses(400, 404, 409, 429, 502, 503)},
)
async def promise(
    request: Request, body: PromiseRequest, principal: Principal = Depends(require_roles("service"))
) -> Response:
    """Proxies the allocator's promise (same idempotency key on every retry). When the allocator is
    down: the last known ATP snapshot answers with ``degraded: true`` and nothing is reserved, or 503
    with Retry-After when SEGFLOW_GATEWAY_DEGRADED_MODE=reject."""
    host = request.app.state.host
    limiter: RateLimiter = host.state["rate_limiter"]
    admitted, wait_s = limiter.take(principal.subject)
    if not admitted:
        raise Problem(
            429,
            "Too Many Requests",
            f"rate limit of {limiter.rate:g} requests/s exceeded",
            headers={"Retry-After": retry_after_header(wait_s)},
        )
    try:
        response = await upstreams_of(request).call(
            "allocator",
            "POST",
            "/v1/promise",
            authorization=request.headers.get("authorization"),
            content=body.model_dump_json(exclude_none=True).encode(),
            idempotency_key=body.idempotency_key,
        )
    except UpstreamDown as error:
        return await _degraded(request, body, error)
    if response.status_code >= 300:
        raise problem_from(response, "allocator")
    return _promised(host, request, body, response)


def _promised(host: Any, request: Request, body: PromiseRequest, response: httpx.Response) -> Response:
    """The allocator's answer with ``degraded: false`` added (decoded and encoded once, by orjson); a
    background ATP refresh of the sku@site is scheduled (at most every gateway_atp_refresh_s)."""
    try:
        data = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise Problem(
            502, "Bad Gateway", "allocator answered a non-JSON body", upstream="allocator"
        ) from None
    if not isinstance(data, dict):
        return Response(response.content, status_code=response.status_code, media_type="application/json")
    resolved_site = data.get("site") if isinstance(data.get("site"), str) else body.site
    schedule_refresh(host, body.sku, body.site, request.headers.get("authorization"), resolved_site)
    data["degraded"] = False
    return Response(orjson.dumps(data), status_code=response.status_code, media_type="application/json")


async def _degraded(request: Request, body: PromiseRequest, error: UpstreamDown) -> JSONResponse:
    host = request.app.state.host
    if host.settings.gateway_degraded_mode == "reject":
        raise down_problem(error)
    snapshot = await load_atp(host, body.sku, body.site)
    if snapshot is None:
        raise Problem(
            503,
            "Upstream unavailable",
            f"allocator is down and no ATP snapshot is known for {body.sku}",
            headers={"Retry-After": "5"},
            upstream="allocator",
        )
    buckets, snapshot_at = snapshot
    ordinal_buckets = [(date.fromisoformat(d).toordinal(), q) for d, q in buckets]
    confirmed, unconfirmed = confirm_from_snapshot(
        ordinal_buckets, body.quantity, body.requested_date.toordinal()
    )
    async with host.db.read() as session:
        assignment = await store.current_assignment(session, f"customer:{body.customer_id}")
    answer = {
        "confirmations": [{"date": date.fromordinal(d).isoformat(), "quantity": q} for d, q in confirmed],
        "unconfirmed": unconfirmed,
        "segment": assignment["segment"] if assignment else None,
        "tier": assignment["tier"] if assignment else None,
        "explanation": {
            "degraded": f"allocator unavailable ({error.reason}); confirmed against the ATP snapshot of "
            f"{snapshot_at} without reserving stock",
        },
        "promise_id": None,
        "degraded": True,
        "snapshot_at": snapshot_at,
    }
    return JSONResponse(answer, status_code=200)


# --------------------------------------------------------------------------- customer portal

customer = require_roles("customer")
PORTAL_RESPONSES = {**AUTH_RESPONSES, **problem_responses(404)}


async def _my_assignment(request: Request, principal: Principal) -> dict[str, Any]:
    if not principal.customer_id:
        raise Problem(403, "Forbidden", "the token carries no customer_id")
    async with request.app.state.host.db.read() as session:
        assignment = await store.current_assignment(session, f"customer:{principal.customer_id}")
    if assignment is None:
        raise Problem(404, "Not Found", "no segment is assigned to your account yet")
    return assignment


def plain_summary(entry: dict[str, Any]) -> str:
    """One sentence a customer understands, e.g. "On 2024-03-01 your segment changed from SILVER to GOLD: ..."."""
    day = str(entry["at"])[:10]
    reasons = "; ".join(r for r in entry["reasons"] if r) or "no reason recorded"
    kind = entry["kind"]
    if kind == "segment.changed":
        if entry["old_segment"]:
            return f"On {day} your segment changed from {entry['old_segment']} to {entry['new_segment']}: {reasons}."
        return f"On {day} you were placed in segment {entry['new_segment']}: {reasons}."
    verb = {
        "override.requested": "a manual change to segment {s} was requested",
        "override.approved": "a manual change to segment {s} was approved",
        "override.rejected": "a manual change to segment {s} was rejected",
        "override.expired": "a manual placement in segment {s} ended",
    }.get(kind, "segment {s}: " + kind)
    return f"On {day} {verb.format(s=entry['new_segment'])}: {reasons}."


@router.get(
    "/v1/me/segment",
    tags=["portal"],
    summary="Your segment",
    response_model=MySegment,
    responses=PORTAL_RESPONSES,
)
async def my_segment(request: Request, principal: Principal = Depends(customer)) -> JSONResponse:
    assignment = await _my_assignment(request, principal)
    _, masked = mask_financials(assignment, principal)
    return JSONResponse(
        {
            "customer_id": principal.customer_id,
            "segment": assignment["segment"],
            "tier": assignment["tier"],
            "valid_from": assignment.get("valid_from"),
            "reasons": assignment.get("reasons") or [],
            "masked_fields": masked,
        }
    )


@router.get(
    "/v1/me/entitlements",
    tags=["portal"],
    summary="What your segment entitles you to",
    response_model=Entitlements,
    responses=PORTAL_RESPONSES,
)
async def my_entitlements(request: Request, principal: Principal = Depends(customer)) -> Entitlements:
    assignment = await _my_assignment(request, principal)
    async with request.app.state.host.db.read() as session:
        entries = await store.history(session, f"customer:{principal.customer_id}")
    policy = assignment.get("service_policy") or {}
    return Entitlements(
        customer_id=str(principal.customer_id),
        segment=assignment["segment"],
        tier=assignment["tier"],
        service_level_type=policy.get("service_level_type"),
        service_level_target=policy.get("service_level_target"),
        otif_target=policy.get("otif_target"),
        promise_lead_time_days=policy.get("promise_lead_time_days"),
        backorder_strategy=policy.get("backorder_strategy"),
        delivery_window_days=policy.get("delivery_window_days"),
        history=[HistoryEntry(**e, summary=plain_summary(e)) for e in entries],
    )


# --------------------------------------------------------------------------- exports


def to_csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return buffer.getvalue()


def csv_attachment(text: str, filename: str) -> Response:
    return Response(
        text, media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


SEGMENT_COLUMNS = [
    "dimension",
    "segment",
    "tier",
    "entities",
    "service_level_type",
    "service_level_target",
    "otif_target",
    "promise_lead_time_days",
    "backorder_strategy",
    "delivery_window_days",
]


@router.get(
    "/v1/exports/segments.csv",
    tags=["exports"],
    summary="Segment-level supply strategy (S&OP)",
    response_class=Response,
    responses={**CSV_RESPONSE, **AUTH_RESPONSES},
)
async def export_segments(
    request: Request, principal: Principal = Depends(require_roles("planner", "finance"))
) -> Response:
    """One row per dimension and segment: entity count, tier and the segment's service policy (read model)."""
    async with request.app.state.host.db.read() as session:
        summary = await store.segment_summary(session)
    rows = [{**{k: v for k, v in s.items() if k != "service_policy"}, **s["service_policy"]} for s in summary]
    return csv_attachment(to_csv(rows, SEGMENT_COLUMNS), "segments.csv")


def flatten_kpis(data: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows of a KPI answer: one per point of each series (series scalars + point scalars)."""
    series = data.get("series", data.get("items", [])) if isinstance(data, dict) else data
    rows: list[dict[str, Any]] = []
    columns: dict[str, None] = {}
    for item in series if isinstance(series, list) else []:
        if not isinstance(item, dict):
            continue
        base = {k: v for k, v in item.items() if not isinstance(v, dict | list)}
        points = item.get("points") or item.get("values") or []
        for point in points if points else [{}]:
            row = {
                **base,
                **(
                    {k: v for k, v in point.items() if not isinstance(v, dict | list)}
                    if isinstance(point, dict)
                    else {}
                ),
            }
            rows.append(row)
            columns.update(dict.fromkeys(row))
    return rows, list(columns) or ["segment", "kpi", "value"]


@router.get(
    "/v1/exports/kpis.csv",
    tags=["exports"],
    summary="KPI summary per segment (S&OP)",
    response_class=Response,
    responses={**CSV_RESPONSE, **PROXY_RESPONSES},
)
async def export_kpis(
    request: Request, principal: Principal = Depends(require_roles("planner", "finance"))
) -> Response:
    _, data = await call_json(request, "policy", "GET", "/v1/kpis")
    masked, _ = mask_financials(data if isinstance(data, dict) else {"series": data}, principal)
    rows, columns = flatten_kpis(masked)
    return csv_attachment(to_csv(rows, columns), "kpis.csv")


# --------------------------------------------------------------------------- development tokens


@router.post(
    "/v1/dev/token",
    tags=["development"],
    summary="Issue a token (development only)",
    response_model=DevToken,
    responses=problem_responses(400, 404),
)
async def dev_token(request: Request, body: DevTokenRequest) -> DevToken:
    """Only when SEGFLOW_ENV=development (404 otherwise): a signed token for the sign-in page."""
    settings = request.app.state.host.settings
    if settings.env != "development":
        raise Problem(404, "Not Found", "development tokens are disabled outside development")
    try:
        token = issue_token(
            settings,
            subject=body.subject,
            roles=body.roles,
            customer_id=body.customer_id,
            partner_id=body.partner_id,
            ttl_s=body.ttl_s,
        )
    except ValueError as error:
        raise Problem(400, "Bad Request", str(error)) from None
    return DevToken(token=token, subject=body.subject, roles=sorted(set(body.roles)))
