"""The HTTP app factory every segflow service uses.

Owns: ``create_app`` (FastAPI with ``/healthz``, ``/readyz``, ``/metrics``), problem+json for every
error (validation errors are 400 naming each field, never 422; unknown paths 404; unhandled errors
500 with the trace id), the OpenAPI rewrite that declares those problem responses, server spans with
W3C ``traceparent`` extraction, request metrics by route template and one JSON access line per request.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.trace import Status, StatusCode
from opentelemetry.util.http import parse_excluded_urls
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.runtime.auth import Authenticator
from services.runtime.logging import configure_logging, get_logger
from services.runtime.metrics import HTTP_REQUESTS, HTTP_SECONDS, render
from services.runtime.problems import (
    PROBLEM_MEDIA_TYPE,
    PROBLEM_SCHEMA_REF,
    Problem,
    ProblemDetail,
    problem_content,
    problem_responses,
    status_phrase,
    validation_problem,
)
from services.runtime.settings import Settings
from services.runtime.telemetry import current_trace_id, setup_tracing

ReadinessCheck = Callable[[], Awaitable[None]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

NOT_READY_PROBLEM_TYPE = "urn:segflow:problem:not-ready"
UNMATCHED_ROUTE = "unmatched"
_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
_UNTRACED_URLS = r"/healthz$,/readyz$,/metrics$"

try:  # private in FastAPI; guarded so an upgrade degrades to scope["route"] instead of failing
    from fastapi.routing import _get_scope_effective_route_context as _effective_route_context
except ImportError:  # pragma: no cover
    _effective_route_context = None  # type: ignore[assignment]

_access_log = get_logger("segflow.access")
_error_log = get_logger("segflow.http")


class Health(BaseModel):
    status: str = "ok"
    service: str


class Readiness(BaseModel):
    status: str = "ready"
    service: str
    checks: dict[str, str]


def create_app(
    *,
    service: str,
    settings: Settings,
    routers: Sequence[APIRouter] = (),
    readiness: Mapping[str, ReadinessCheck] | None = None,
    lifespan: Lifespan | None = None,
    version: str = "0.1.0",
    readiness_timeout_s: float = 2.0,
) -> FastAPI:
    """A FastAPI app for ``service`` with segflow's health, metrics, errors, tracing and auth wiring.

    ``readiness`` maps a dependency name (``kafka``, ``db``) to an async check that raises when the
    dependency is unusable; ``/readyz`` runs them concurrently, each bounded by ``readiness_timeout_s``.
    ``lifespan`` (an async context manager factory taking the app) runs inside the factory's own
    startup (logging configured) and shutdown (spans flushed).
    """
    provider = setup_tracing(service, settings)
    checks: dict[str, ReadinessCheck] = dict(readiness or {})

    @asynccontextmanager
    async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(service, settings)
        _error_log.info("service.starting", version=version, env=settings.env, mode=settings.mode)
        try:
            if lifespan is None:
                yield
            else:
                async with lifespan(app):
                    yield
        finally:
            provider.force_flush(timeout_millis=2000)
            _error_log.info("service.stopped")

    app = FastAPI(title=f"segflow {service}", version=version, lifespan=_lifespan)
    app.state.settings = settings
    app.state.service = service
    app.state.authenticator = Authenticator(settings)
    app.state.tracer_provider = provider

    _install_error_handlers(app)
    _install_health_routes(app, service, checks, readiness_timeout_s)
    for router in routers:
        app.include_router(router)
    app.add_middleware(ObservabilityMiddleware, service=service)
    # outermost of the user middlewares: the server span (W3C traceparent extracted) encloses the rest
    app.add_middleware(
        OpenTelemetryMiddleware,
        excluded_urls=parse_excluded_urls(_UNTRACED_URLS),
        default_span_details=_span_details_before_routing,
        tracer_provider=provider,
        exclude_spans=["receive", "send"],
    )
    _install_openapi_rewrite(app)
    return app


# --------------------------------------------------------------------------- errors


def _install_error_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return exc.to_response(instance=request.url.path, trace_id=current_trace_id())

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problem = validation_problem(exc.errors())
        return problem.to_response(instance=request.url.path, trace_id=current_trace_id())

    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return _http_exception_problem(request, exc).to_response(
            instance=request.url.path, trace_id=current_trace_id()
        )

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)


def _http_exception_problem(request: Request, exc: StarletteHTTPException) -> Problem:
    phrase = status_phrase(exc.status_code)
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None
    if isinstance(exc.detail, str):
        detail = None if exc.detail == phrase else exc.detail
    elif isinstance(exc.detail, list):
        errors = [e if isinstance(e, dict) else {"message": str(e)} for e in exc.detail]
    elif exc.detail is not None:
        detail = json.dumps(exc.detail, default=str)
    if detail is None and exc.status_code == 404:
        detail = f"no resource at {request.url.path}"
    elif detail is None and exc.status_code == 405:
        detail = f"method {request.method} is not allowed on {request.url.path}"
    return Problem(exc.status_code, phrase, detail, errors=errors, headers=exc.headers)


def _span_details_before_routing(scope: Scope) -> tuple[str, dict[str, Any]]:
    # the route is unknown until routing; ObservabilityMiddleware renames the span "{method} {route}"
    return str(scope.get("method") or "HTTP"), {}


def route_template(scope: Scope) -> str:
    """The path template of the route that served ``scope`` (``/v1/items/{item_id}``), or ``unmatched``.

    Raw paths never become metric labels or span names (unbounded cardinality).
    """
    candidates: list[Any] = []
    if _effective_route_context is not None:
        candidates.append(_effective_route_context(scope))  # FastAPI >= 0.13x: includes router prefixes
    candidates.append(scope.get("route"))
    for candidate in candidates:
        template = getattr(candidate, "path_format", None) or getattr(candidate, "path", None)
        if isinstance(template, str) and template:
            return template
    for route in getattr(scope.get("app"), "routes", ()):
        if isinstance(route, Route) and route.matches(scope)[0] == Match.FULL:
            return route.path_format
    return UNMATCHED_ROUTE


def _name_server_span(scope: Scope) -> None:
    span = trace.get_current_span()
    if span.is_recording():
        template = route_template(scope)
        span.update_name(f"{scope.get('method') or 'HTTP'} {template}")
        span.set_attribute("http.route", template)


class ObservabilityMiddleware:
    """Request metrics by route template, one access log line per request, and the last-resort 500.

    Runs inside the OpenTelemetry server span, so the access line and any 500 carry its trace id.
    """

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = int(message["status"])
                response_started = True
                _name_server_span(scope)  # the server span ends with the last body message
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            span = trace.get_current_span()
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            _error_log.exception("http.unhandled_error", method=scope.get("method"), path=scope.get("path"))
            if response_started:
                raise
            status = 500
            response = Problem(500, "Internal Server Error", "an unexpected error occurred").to_response(
                instance=scope.get("path"), trace_id=current_trace_id()
            )
            await response(scope, receive, send)
        finally:
            elapsed = time.perf_counter() - started
            template = route_template(scope)
            method = str(scope.get("method", ""))
            labels = (self.service, method, template, str(status))
            HTTP_REQUESTS.labels(*labels).inc()
            HTTP_SECONDS.labels(*labels).observe(elapsed)
            client = scope.get("client")
            _access_log.info(
                "http.request",
                service=self.service,
                method=method,
                path=scope.get("path"),
                route=template,
                status=status,
                duration_ms=round(elapsed * 1000.0, 3),
                client=client[0] if client else None,
            )


# --------------------------------------------------------------------------- health


def _install_health_routes(
    app: FastAPI, service: str, checks: Mapping[str, ReadinessCheck], timeout_s: float
) -> None:
    @app.get("/healthz", tags=["operations"], response_model=Health, summary="Liveness")
    async def healthz() -> Health:
        """The process is up and serving HTTP (no dependency is checked)."""
        return Health(service=service)

    @app.get(
        "/readyz",
        tags=["operations"],
        response_model=Readiness,
        summary="Readiness",
        responses=problem_responses(503),
    )
    async def readyz() -> Response:
        """Every dependency check passed (200), or a 503 problem naming the failed ones and why."""
        results = await asyncio.gather(*(_run_check(name, fn, timeout_s) for name, fn in checks.items()))
        outcome = dict(results)
        failed = [name for name, state in outcome.items() if state != "ok"]
        if not failed:
            return JSONResponse(Readiness(service=service, checks=outcome).model_dump())
        detail = "; ".join(f"{name}: {outcome[name]}" for name in failed)
        return Problem(
            503,
            "Service not ready",
            f"not ready: {detail}",
            type=NOT_READY_PROBLEM_TYPE,
            headers={"Retry-After": "5"},
            service=service,
            failed=failed,
            checks=outcome,
        ).to_response(instance="/readyz", trace_id=current_trace_id())

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={
            200: {
                "description": "Prometheus text exposition",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    )
    async def metrics() -> Response:
        """All segflow metrics of this process in the Prometheus text format."""
        body, content_type = render()
        return Response(body, media_type=content_type)


async def _run_check(name: str, check: ReadinessCheck, timeout_s: float) -> tuple[str, str]:
    try:
        await asyncio.wait_for(check(), timeout=timeout_s)
    except TimeoutError:
        return name, f"timed out after {timeout_s:g}s"
    except Exception as error:
        message = str(error) or "check failed"
        return name, f"{type(error).__name__}: {message}"
    return name, "ok"


# --------------------------------------------------------------------------- openapi


def _install_openapi_rewrite(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
                servers=app.servers,
            )
            app.openapi_schema = rewrite_openapi_problems(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def rewrite_openapi_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Make an OpenAPI document say what the app does on errors.

    Every FastAPI-generated 422 becomes a 400 problem (validation errors are answered with 400); every
    4xx/5xx response is served as ``application/problem+json``; ``ProblemDetail`` is added to the
    components and the unused ``HTTPValidationError``/``ValidationError`` schemas are dropped.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = ProblemDetail.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem_schema.pop("$defs", {}))
    components["ProblemDetail"] = problem_schema

    for path_item in schema.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in _HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            if responses.pop("422", None) is not None:
                responses.setdefault(
                    "400",
                    {"description": "Bad Request (invalid fields are named)", "content": problem_content()},
                )
            for code, response in responses.items():
                if not (code.isdigit() and int(code) >= 400):
                    continue
                content = response.setdefault("content", {})
                if PROBLEM_MEDIA_TYPE not in content:
                    moved = content.pop("application/json", None)
                    content[PROBLEM_MEDIA_TYPE] = moved or {"schema": {"$ref": PROBLEM_SCHEMA_REF}}

    text = json.dumps(schema.get("paths", {}))
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{unused}" not in text:
            components.pop(unused, None)
    return schema
