"""The forwarded routes: one generic route per row of ``proxy_table.PROXY_ROUTES``.

``endpoint_for(route)`` builds the FastAPI endpoint of a row: its signature (the row's path and query
parameters with their validation, the request body if any, and the role dependency) is what FastAPI
validates and documents; its body checks the object-level rule, forwards the call with the caller's
Authorization header and answers the upstream's JSON (financial fields masked, ``masked_fields``
listed) or its text as is. Routes keep the operation ids they had as hand-written functions.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from services.gateway.proxy_spec import REQUIRED, Param, ProxyRoute
from services.gateway.proxy_table import PROXY_ROUTES
from services.gateway.proxying import call_json, forward_text, masked_response
from services.runtime.auth import Principal, require_roles
from services.runtime.problems import Problem

Endpoint = Callable[..., Awaitable[Response]]
_KEYWORD = inspect.Parameter.KEYWORD_ONLY


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


def upstream_path(route: ProxyRoute, values: dict[str, Any]) -> str:
    """The row's upstream path with each path parameter filled in as one percent-encoded segment."""
    path = route.upstream_path or route.path
    for param in route.path_params:
        value = values[param.name]
        path = path.replace("{" + param.name + "}", seg(value) if isinstance(value, str) else str(value))
    return path


def upstream_query(route: ProxyRoute, values: dict[str, Any]) -> dict[str, Any]:
    """The row's query parameters that were given, under their wire names ("from_" goes as "from")."""
    return {p.wire_name: values[p.name] for p in route.query_params if values.get(p.name) is not None}


def _fastapi_default(param: Param) -> Any:
    marker = Query if param.where == "query" else Path
    extra: dict[str, Any] = dict(param.constraints)
    if param.alias:
        extra["alias"] = param.alias
    return marker(param.default, **extra)


def endpoint_signature(route: ProxyRoute) -> inspect.Signature:
    """request, the row's parameters, the body (when the row takes one) and the role dependency."""
    params = [inspect.Parameter("request", _KEYWORD, annotation=Request)]
    for param in route.params:
        params.append(
            inspect.Parameter(
                param.name, _KEYWORD, annotation=param.annotation, default=_fastapi_default(param)
            )
        )
    if route.body == "any":
        body = Body(default_factory=dict, description="passed to the owning service as is")
        params.append(inspect.Parameter("body", _KEYWORD, annotation=dict[str, Any], default=body))
    roles = Depends(require_roles(*route.roles))
    params.append(inspect.Parameter("principal", _KEYWORD, annotation=Principal, default=roles))
    return_type = JSONResponse if route.kind == "json" else Response
    return inspect.Signature(params, return_annotation=return_type)


def endpoint_for(route: ProxyRoute) -> Endpoint:
    """The endpoint of one table row (see the module docstring for what it does)."""

    async def endpoint(request: Request, principal: Principal, **values: Any) -> Response:
        if route.check is not None:
            await route.check(request, principal, values)
        path = upstream_path(route, values)
        params = upstream_query(route, values)
        if route.kind == "text":
            return await forward_text(
                request, route.upstream, path, params=params, media_type=route.media_type
            )
        json_body = values.get("body", {}) if route.body != "none" else None
        status, data = await call_json(
            request, route.upstream, route.method, path, params=params, json_body=json_body
        )
        if route.on_answer is not None:
            await route.on_answer(request, values, data)
        if not route.mask:
            return JSONResponse(data, status_code=status)
        return masked_response(status, data, principal)

    endpoint.__name__ = endpoint.__qualname__ = route.name
    endpoint.__doc__ = None
    endpoint.__signature__ = endpoint_signature(route)  # type: ignore[attr-defined]
    return endpoint


def add_proxy_route(router: APIRouter, route: ProxyRoute) -> None:
    router.add_api_route(
        route.path,
        endpoint_for(route),
        methods=[route.method],
        name=route.name,
        tags=[route.tag],
        summary=route.summary,
        status_code=route.status_code,
        responses=dict(route.responses),
        response_class=JSONResponse if route.kind == "json" else Response,
    )


def build_router(routes: tuple[ProxyRoute, ...] = PROXY_ROUTES) -> APIRouter:
    """One APIRouter holding a route per table row, in table order."""
    router = APIRouter()
    for route in routes:
        add_proxy_route(router, route)
    return router


router = build_router()

__all__ = ["REQUIRED", "build_router", "endpoint_for", "router", "seg"]
