"""The app factory: problem+json errors (400 naming fields, never 422), health, readiness, metrics,
OpenAPI declarations, server spans from a traceparent header and the JSON access log."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
import structlog
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, Field

from services.runtime.auth import AUTH_RESPONSES, Authenticator, Principal, require_roles
from services.runtime.http import create_app
from services.runtime.logging import configure_logging
from services.runtime.metrics import REGISTRY
from services.runtime.problems import PROBLEM_MEDIA_TYPE, Problem, problem_responses
from services.runtime.settings import Settings
from services.runtime.telemetry import setup_tracing

SECRET = "test-secret-for-http-tests-0123456789abcdef"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"


class ServiceLevel(BaseModel):
    target: float = Field(gt=0, lt=1)


class Line(BaseModel):
    sku: str
    quantity: int = Field(gt=0)
    service_level: ServiceLevel


class Order(BaseModel):
    items: list[Line]


def _router() -> APIRouter:
    router = APIRouter()

    @router.post("/orders", status_code=201)
    async def create_order(order: Order) -> dict[str, int]:
        return {"lines": len(order.items)}

    @router.get("/items/{item_id}")
    async def get_item(item_id: int, limit: int = Query(10, ge=1, le=100)) -> dict[str, int]:
        return {"item_id": item_id, "limit": limit}

    @router.get("/conflict", responses=problem_responses(409))
    async def conflict() -> dict[str, str]:
        raise Problem(409, "Conflict", "rule set version 3 is already active", current_version=3)

    @router.get("/missing")
    async def missing() -> dict[str, str]:
        raise HTTPException(status_code=404, detail="order o-1 not found")

    @router.get("/boom")
    async def boom() -> dict[str, str]:
        raise RuntimeError("database exploded")

    @router.get("/secure", responses=AUTH_RESPONSES)
    async def secure(principal: Principal = Depends(require_roles("planner"))) -> dict[str, str]:
        return {"subject": principal.subject}

    return router


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state; give the next test the state this one found."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def _settings() -> Settings:
    return Settings(env="test", mode="embedded", jwt_secret=SECRET)


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    setup_tracing("test", _settings(), extra_processors=[SimpleSpanProcessor(exporter)])
    return exporter


@pytest.fixture
def app(exporter: InMemorySpanExporter) -> FastAPI:
    return create_app(service="webtest", settings=_settings(), routers=[_router()])


@asynccontextmanager
async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def _order(target: float) -> dict[str, object]:
    return {"items": [{"sku": "SKU-1", "quantity": 5, "service_level": {"target": target}}]}


async def test_service_level_given_as_percent_is_400_naming_the_field(app: FastAPI) -> None:
    async with _client(app) as client:
        response = await client.post("/orders", json=_order(97.5))
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    body = response.json()
    assert body["status"] == 400
    fields = {e["field"]: e for e in body["errors"]}
    assert "items.0.service_level.target" in fields
    assert fields["items.0.service_level.target"]["type"] == "less_than"
    assert fields["items.0.service_level.target"]["location"] == "body"
    assert "items.0.service_level.target" in body["detail"]


async def test_valid_body_passes_and_fraction_is_accepted(app: FastAPI) -> None:
    async with _client(app) as client:
        response = await client.post("/orders", json=_order(0.975))
    assert response.status_code == 201
    assert response.json() == {"lines": 1}


async def test_every_invalid_field_is_named(app: FastAPI) -> None:
    payload = {"items": [{"quantity": 0, "service_level": {"target": 0}}]}
    async with _client(app) as client:
        response = await client.post("/orders", json=payload)
    assert response.status_code == 400
    named = {(e["field"], e["type"]) for e in response.json()["errors"]}
    assert named == {
        ("items.0.sku", "missing"),
        ("items.0.quantity", "greater_than"),
        ("items.0.service_level.target", "greater_than"),
    }


async def test_malformed_json_is_400_naming_body(app: FastAPI) -> None:
    async with _client(app) as client:
        response = await client.post(
            "/orders", content=b'{"items": [', headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == ["body"]
    assert errors[0]["type"] == "json_invalid"


async def test_missing_body_is_400_naming_body(app: FastAPI) -> None:
    async with _client(app) as client:
        response = await client.post("/orders")
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["body"]


async def test_bad_path_and_query_parameters_are_400_with_their_location(app: FastAPI) -> None:
    async with _client(app) as client:
        response = await client.get("/items/abc", params={"limit": 1000})
    assert response.status_code == 400
    located = {(e["field"], e["location"]) for e in response.json()["errors"]}
    assert located == {("item_id", "path"), ("limit", "query")}


async def test_unknown_path_is_404_problem(app: FastAPI) -> None:
    async with _client(app) as client:
        response = await client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    body = response.json()
    assert body["status"] == 404
    assert body["title"] == "Not Found"
    assert body["type"] == "about:blank"
    assert body["instance"] == "/no/such/thing"


async def test_wrong_method_is_405_problem_with_allow_header(app: FastAPI) -> None:
    async with _client(app) as client:
        response = await client.delete("/orders")
    assert response.status_code == 405
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    assert "POST" in response.headers["allow"]


async def test_http_exception_keeps_status_and_detail(app: FastAPI) -> None:
    async with _client(app) as client:
        response = await client.get("/missing")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    assert response.json()["detail"] == "order o-1 not found"


async def test_raised_problem_keeps_extension_members(app: FastAPI) -> None:
    async with _client(app) as client:
        response = await client.get("/conflict")
    assert response.status_code == 409
    body = response.json()
    assert body["title"] == "Conflict"
    assert body["detail"] == "rule set version 3 is already active"
    assert body["current_version"] == 3


async def test_unhandled_error_is_500_problem_with_the_request_trace_id(
    app: FastAPI, exporter: InMemorySpanExporter
) -> None:
    traceparent = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"
    stream = io.StringIO()
    configure_logging("webtest", _settings(), stream=stream)
    async with _client(app) as client:
        response = await client.get("/boom", headers={"traceparent": traceparent})
    assert response.status_code == 500
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    body = response.json()
    assert body["status"] == 500
    assert "database exploded" not in json.dumps(body)  # internals never leak
    assert body["trace_id"] == TRACE_ID
    server = [
        s
        for s in exporter.get_finished_spans()
        if s.kind == SpanKind.SERVER and format(s.context.trace_id, "032x") == TRACE_ID
    ]
    assert len(server) == 1
    assert server[0].status.status_code == StatusCode.ERROR
    assert any(event.name == "exception" for event in server[0].events)
    logged = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    (error,) = [entry for entry in logged if entry["event"] == "http.unhandled_error"]
    assert error["trace_id"] == TRACE_ID
    assert error["level"] == "error"
    assert "RuntimeError: database exploded" in error["exception"]


async def test_healthz_is_liveness_only(exporter: InMemorySpanExporter) -> None:
    async def never_ready() -> None:
        raise ConnectionError("kafka unreachable")

    app = create_app(service="webtest", settings=_settings(), readiness={"kafka": never_ready})
    async with _client(app) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": "webtest"}


async def test_readyz_is_200_when_every_check_passes(exporter: InMemorySpanExporter) -> None:
    calls: list[str] = []

    async def db_ok() -> None:
        calls.append("db")

    async def kafka_ok() -> None:
        calls.append("kafka")

    app = create_app(service="webtest", settings=_settings(), readiness={"db": db_ok, "kafka": kafka_ok})
    async with _client(app) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "service": "webtest", "checks": {"db": "ok", "kafka": "ok"}}
    assert sorted(calls) == ["db", "kafka"]


async def test_readyz_is_503_naming_the_failed_check_and_why(exporter: InMemorySpanExporter) -> None:
    async def db_ok() -> None:
        return None

    async def kafka_down() -> None:
        raise ConnectionError("broker 127.0.0.1:9092 refused the connection")

    async def hangs() -> None:
        await asyncio.Event().wait()

    app = create_app(
        service="webtest",
        settings=_settings(),
        readiness={"db": db_ok, "kafka": kafka_down, "allocator": hangs},
        readiness_timeout_s=0.05,
    )
    async with _client(app) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    body = response.json()
    assert sorted(body["failed"]) == ["allocator", "kafka"]
    assert body["checks"]["db"] == "ok"
    assert "ConnectionError" in body["checks"]["kafka"]
    assert "refused the connection" in body["checks"]["kafka"]
    assert "timed out" in body["checks"]["allocator"]
    assert "kafka" in body["detail"] and "allocator" in body["detail"]


async def test_readyz_with_no_checks_is_ready(app: FastAPI) -> None:
    async with _client(app) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {}


async def test_metrics_count_requests_by_route_template(app: FastAPI) -> None:
    labels = {"service": "webtest", "method": "GET", "route": "/items/{item_id}", "status": "200"}
    before = REGISTRY.get_sample_value("segflow_http_requests_total", labels) or 0.0
    count_before = REGISTRY.get_sample_value("segflow_http_request_seconds_count", labels) or 0.0
    async with _client(app) as client:
        for item in (1, 2, 3):
            assert (await client.get(f"/items/{item}")).status_code == 200
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    key = tuple(sorted(labels.items()))
    assert samples[("segflow_http_requests_total", key)] == before + 3
    assert samples[("segflow_http_request_seconds_count", key)] == count_before + 3
    # raw paths never become label values
    assert not any(dict(k[1]).get("route") == "/items/1" for k in samples)


async def test_unmatched_paths_share_one_route_label(app: FastAPI) -> None:
    labels = {"service": "webtest", "method": "GET", "route": "unmatched", "status": "404"}
    before = REGISTRY.get_sample_value("segflow_http_requests_total", labels) or 0.0
    async with _client(app) as client:
        await client.get("/random/a")
        await client.get("/random/b")
    assert REGISTRY.get_sample_value("segflow_http_requests_total", labels) == before + 2


async def test_openapi_declares_400_problems_and_never_422(app: FastAPI) -> None:
    async with _client(app) as client:
        schema = (await client.get("/openapi.json")).json()
    assert '"422"' not in json.dumps(schema)
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert "ProblemDetail" in schema["components"]["schemas"]
    ref = {"$ref": "#/components/schemas/ProblemDetail"}
    for path, method in (("/orders", "post"), ("/items/{item_id}", "get")):
        declared = schema["paths"][path][method]["responses"]
        assert declared["400"]["content"][PROBLEM_MEDIA_TYPE]["schema"] == ref
    # routes without inputs do not pretend to answer 400
    assert "400" not in schema["paths"]["/healthz"]["get"]["responses"]
    assert (
        schema["paths"]["/conflict"]["get"]["responses"]["409"]["content"][PROBLEM_MEDIA_TYPE]["schema"]
        == ref
    )
    secure = schema["paths"]["/secure"]["get"]["responses"]
    assert set(secure) >= {"401", "403"}
    assert all(PROBLEM_MEDIA_TYPE in secure[c]["content"] for c in ("401", "403"))
    assert "503" in schema["paths"]["/readyz"]["get"]["responses"]
    assert "text/plain" in schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    # every error response in the document is problem+json
    for item in schema["paths"].values():
        for operation in item.values():
            for code, response in operation["responses"].items():
                if int(code) >= 400:
                    assert list(response["content"]) == [PROBLEM_MEDIA_TYPE]


async def test_traceparent_header_yields_a_server_span_in_that_trace(
    app: FastAPI, exporter: InMemorySpanExporter
) -> None:
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    async with _client(app) as client:
        response = await client.get("/items/7", headers={"traceparent": f"00-{trace_id}-b7ad6b7169203331-01"})
    assert response.status_code == 200
    server = [
        s
        for s in exporter.get_finished_spans()
        if s.kind == SpanKind.SERVER and format(s.context.trace_id, "032x") == trace_id
    ]
    assert len(server) == 1
    assert server[0].parent is not None and format(server[0].parent.span_id, "016x") == "b7ad6b7169203331"
    assert server[0].name == "GET /items/{item_id}"


async def test_access_log_line_carries_trace_id(app: FastAPI) -> None:
    stream = io.StringIO()
    configure_logging("webtest", _settings(), stream=stream)
    trace_id = "11112222333344445555666677778888"
    async with _client(app) as client:
        await client.get("/items/9", headers={"traceparent": f"00-{trace_id}-1111222233334444-01"})
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    access = [
        entry for entry in lines if entry.get("event") == "http.request" and entry.get("path") == "/items/9"
    ]
    assert len(access) == 1
    entry = access[0]
    assert entry["trace_id"] == trace_id
    assert entry["route"] == "/items/{item_id}"
    assert entry["status"] == 200
    assert entry["service"] == "webtest"
    assert entry["level"] == "info"
    assert entry["duration_ms"] >= 0


async def test_app_state_and_composed_lifespan(exporter: InMemorySpanExporter) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        events.append("start")
        app.state.started = True
        yield
        events.append("stop")

    settings = _settings()
    app = create_app(service="webtest", settings=settings, lifespan=lifespan, version="9.9.9")
    assert app.state.settings is settings
    assert app.state.service == "webtest"
    assert isinstance(app.state.authenticator, Authenticator)
    async with app.router.lifespan_context(app):
        assert events == ["start"]
        async with _client(app) as client:
            assert (await client.get("/healthz")).status_code == 200
        assert app.state.started is True
    assert events == ["start", "stop"]
    assert app.version == "9.9.9"


async def test_prefixed_routers_are_labelled_with_their_full_template(exporter: InMemorySpanExporter) -> None:
    outer = APIRouter(prefix="/v1")
    inner = APIRouter(prefix="/skus")

    @inner.get("/{sku}/atp")
    async def atp(sku: str) -> dict[str, str]:
        return {"sku": sku}

    outer.include_router(inner)
    app = create_app(service="prefixed", settings=_settings(), routers=[outer])
    labels = {"service": "prefixed", "method": "GET", "route": "/v1/skus/{sku}/atp", "status": "200"}
    before = REGISTRY.get_sample_value("segflow_http_requests_total", labels) or 0.0
    async with _client(app) as client:
        assert (await client.get("/v1/skus/A-1/atp")).json() == {"sku": "A-1"}
    assert REGISTRY.get_sample_value("segflow_http_requests_total", labels) == before + 1
    names = {s.name for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER}
    assert "GET /v1/skus/{sku}/atp" in names
