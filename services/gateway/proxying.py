"""Forwarding a caller's request to an upstream: auth header, status mapping, masking of financials.

Status mapping: 2xx passes through; 400/401/403/404/409 pass through as problems; an upstream that is
down answers 503 with Retry-After; any other upstream status becomes 502. Every JSON object answer
passes through ``mask_financials`` and carries ``masked_fields`` (empty for finance/admin).
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from services.gateway.upstream import UpstreamDown, Upstreams
from services.runtime.auth import AUTH_RESPONSES, Principal, mask_financials
from services.runtime.problems import PROBLEM_MEDIA_TYPE, Problem, problem_responses

PASSED_THROUGH = frozenset({400, 401, 403, 404, 409})
PROXY_RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    **problem_responses(400, 404, 409, 502, 503),
}
JSON_OBJECT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the upstream's answer (financial fields masked unless finance/admin)",
        "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
    },
}


def upstreams_of(request: Request) -> Upstreams:
    upstreams: Upstreams | None = request.app.state.host.state.get("upstreams")
    if upstreams is None:
        raise Problem(503, "Service Unavailable", "the gateway is starting", headers={"Retry-After": "1"})
    return upstreams


def down_problem(error: UpstreamDown) -> Problem:
    return Problem(
        503,
        "Upstream unavailable",
        f"{error.upstream} is not reachable ({error.reason})",
        headers={"Retry-After": "5"},
        upstream=error.upstream,
    )


def problem_from(response: httpx.Response, upstream: str) -> Problem:
    status = response.status_code if response.status_code in PASSED_THROUGH else 502
    body: dict[str, Any] = {}
    try:
        parsed = response.json()
        if isinstance(parsed, dict):
            body = parsed
    except ValueError:
        pass
    detail = body.get("detail") if isinstance(body.get("detail"), str) else None
    if status == 502:
        detail = f"{upstream} answered HTTP {response.status_code}"
    errors = body.get("errors")
    valid = isinstance(errors, list) and all(
        isinstance(e, dict) and all(isinstance(e.get(k), str) for k in ("field", "message", "type"))
        for e in errors
    )
    title = str(body.get("title") or "") or None
    return Problem(status, title, detail, errors=errors if valid else None, upstream=upstream)


async def call_json(
    request: Request,
    upstream: str,
    method: str,
    path: str,
    *,
    params: dict[str, Any] | None = None,
    json_body: Any = None,
    idempotency_key: str | None = None,
) -> tuple[int, Any]:
    """(status, parsed JSON) of a successful upstream call; raises a Problem otherwise."""
    try:
        response = await upstreams_of(request).call(
            upstream,
            method,
            path,
            authorization=request.headers.get("authorization"),
            params=params,
            json_body=json_body,
            idempotency_key=idempotency_key,
        )
    except UpstreamDown as error:
        raise down_problem(error) from None
    if response.status_code >= 300:
        raise problem_from(response, upstream)
    try:
        return response.status_code, response.json() if response.content else {}
    except ValueError:
        raise Problem(502, "Bad Gateway", f"{upstream} answered a non-JSON body", upstream=upstream) from None


def masked_response(status: int, data: Any, principal: Principal) -> JSONResponse:
    """The answer with financial fields masked for non-finance callers and the masked paths listed."""
    if isinstance(data, dict):
        body, masked = mask_financials(data, principal)
        return JSONResponse({**body, "masked_fields": masked}, status_code=status)
    wrapped, masked = mask_financials({"items": data}, principal)
    return JSONResponse(wrapped["items"], status_code=status, headers={"X-Masked-Fields": ",".join(masked)})


async def forward(
    request: Request,
    principal: Principal,
    upstream: str,
    method: str,
    path: str,
    *,
    params: dict[str, Any] | None = None,
    json_body: Any = None,
) -> JSONResponse:
    status, data = await call_json(request, upstream, method, path, params=params, json_body=json_body)
    return masked_response(status, data, principal)


async def forward_text(
    request: Request,
    upstream: str,
    path: str,
    *,
    params: dict[str, Any] | None = None,
    media_type: str | None = None,
) -> Response:
    """A non-JSON upstream answer (CSV export) passed through as is."""
    try:
        response = await upstreams_of(request).call(
            upstream, "GET", path, authorization=request.headers.get("authorization"), params=params
        )
    except UpstreamDown as error:
        raise down_problem(error) from None
    if response.status_code >= 300:
        raise problem_from(response, upstream)
    return Response(
        response.content, media_type=media_type or response.headers.get("content-type", "text/plain")
    )


__all__ = ["JSON_OBJECT", "PROBLEM_MEDIA_TYPE", "PROXY_RESPONSES", "call_json", "forward", "forward_text"]
