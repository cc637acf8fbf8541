"""Trace context through Kafka headers, producer/consumer spans, the process tracer provider, and
structured logs that carry the current trace id."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
import structlog
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from services.runtime.logging import configure_logging, get_logger
from services.runtime.settings import Settings
from services.runtime.telemetry import (
    consume_span,
    current_trace_id,
    extract_context,
    inject_headers,
    produce_span,
    setup_tracing,
    tracer,
)

HEX32 = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state; give the next test the state this one found."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def _settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "mode": "embedded",
        "jwt_secret": "telemetry-test-secret-0123456789",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    setup_tracing("telemetry-test", _settings(), extra_processors=[SimpleSpanProcessor(exporter)])
    return exporter


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def test_setup_tracing_is_idempotent_and_adds_a_processor_once(exporter: InMemorySpanExporter) -> None:
    own = InMemorySpanExporter()
    processor = SimpleSpanProcessor(own)
    first = setup_tracing("a", _settings(), extra_processors=[processor])
    second = setup_tracing("b", _settings(), extra_processors=[processor])
    assert first is second
    assert isinstance(first, TracerProvider)
    assert trace.get_tracer_provider() is first
    with tracer().start_as_current_span("once"):
        pass
    assert [s.name for s in own.get_finished_spans()] == ["once"]  # added twice, exported once
    processor.shutdown()


def test_current_trace_id_is_none_outside_a_span_and_32_hex_inside(exporter: InMemorySpanExporter) -> None:
    assert current_trace_id() is None
    with tracer().start_as_current_span("work") as span:
        trace_id = current_trace_id()
        assert trace_id is not None and HEX32.match(trace_id)
        assert trace_id == _hex(span.get_span_context().trace_id, 32)
    assert current_trace_id() is None


def test_trace_context_survives_kafka_headers(exporter: InMemorySpanExporter) -> None:
    headers: list[tuple[str, bytes]] = [("ce_id", b"e-1")]
    with tracer().start_as_current_span("request") as span:
        inject_headers(headers)
        sent = span.get_span_context()
    names = [k for k, _ in headers]
    assert names.count("traceparent") == 1 and "ce_id" in names
    assert all(isinstance(v, bytes) for _, v in headers)
    received = trace.get_current_span(extract_context(headers)).get_span_context()
    assert received.is_valid and received.is_remote
    assert received.trace_id == sent.trace_id
    assert received.span_id == sent.span_id
    traceparent = dict(headers)["traceparent"].decode()
    assert traceparent == f"00-{_hex(sent.trace_id, 32)}-{_hex(sent.span_id, 16)}-01"


def test_inject_replaces_an_existing_traceparent(exporter: InMemorySpanExporter) -> None:
    stale = b"00-11111111111111111111111111111111-2222222222222222-01"
    headers: list[tuple[str, bytes]] = [("traceparent", stale), ("ce_type", b"x")]
    with tracer().start_as_current_span("republish") as span:
        inject_headers(headers)
        trace_id = _hex(span.get_span_context().trace_id, 32)
    values = [v for k, v in headers if k == "traceparent"]
    assert len(values) == 1 and values[0] != stale
    assert values[0].decode().split("-")[1] == trace_id
    assert ("ce_type", b"x") in headers


def test_inject_outside_a_span_adds_nothing() -> None:
    headers: list[tuple[str, bytes]] = [("ce_id", b"1")]
    inject_headers(headers)
    assert headers == [("ce_id", b"1")]


@pytest.mark.parametrize(
    "headers",
    [None, [], [("ce_id", b"1")], [("traceparent", b"garbage")], [("traceparent", None)]],
)
def test_extract_without_valid_context_gives_no_parent(
    headers: list[tuple[str, bytes | None]] | None,
) -> None:
    assert not trace.get_current_span(extract_context(headers)).get_span_context().is_valid


def test_produce_then_consume_is_one_trace(exporter: InMemorySpanExporter) -> None:
    exporter.clear()
    headers: list[tuple[str, bytes]] = []
    with produce_span("segflow.segments.assignments.v1", b"customer:C-1") as producer:
        inject_headers(headers)
    with consume_span("segflow.segments.assignments.v1", 3, 1234, headers) as consumer:
        inside = current_trace_id()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    produced = spans["segflow.segments.assignments.v1 publish"]
    consumed = spans["segflow.segments.assignments.v1 process"]
    assert produced.kind == SpanKind.PRODUCER and consumed.kind == SpanKind.CONSUMER
    assert consumed.context.trace_id == produced.context.trace_id
    assert consumed.parent is not None and consumed.parent.span_id == produced.context.span_id
    assert inside == _hex(produced.context.trace_id, 32)
    assert producer.get_span_context().span_id == produced.context.span_id
    assert consumer.get_span_context().span_id == consumed.context.span_id
    produced_attrs, consumed_attrs = dict(produced.attributes or {}), dict(consumed.attributes or {})
    assert produced_attrs["messaging.system"] == "kafka"
    assert produced_attrs["messaging.destination.name"] == "segflow.segments.assignments.v1"
    assert produced_attrs["messaging.kafka.message.key"] == "customer:C-1"
    assert consumed_attrs["messaging.destination.partition.id"] == "3"
    assert consumed_attrs["messaging.kafka.message.offset"] == 1234


def test_consume_span_without_trace_headers_starts_a_new_trace(exporter: InMemorySpanExporter) -> None:
    exporter.clear()
    with tracer().start_as_current_span("unrelated") as unrelated, consume_span("t", 0, 0, []):
        pass
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert spans["t process"].parent is None  # the extracted (empty) context wins over the ambient span
    assert spans["t process"].context.trace_id != unrelated.get_span_context().trace_id


def test_consume_span_records_handler_errors(exporter: InMemorySpanExporter) -> None:
    exporter.clear()
    with pytest.raises(ValueError), consume_span("t", 0, 7, []):
        raise ValueError("poison record")
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code == trace.StatusCode.ERROR
    assert any(e.name == "exception" for e in span.events)


def test_produce_span_without_key(exporter: InMemorySpanExporter) -> None:
    exporter.clear()
    with produce_span("segflow.kpi.alerts.v1", None):
        pass
    (span,) = exporter.get_finished_spans()
    assert "messaging.kafka.message.key" not in dict(span.attributes or {})


# --------------------------------------------------------------------------- logs


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_structlog_lines_are_json_and_carry_the_trace_id(exporter: InMemorySpanExporter) -> None:
    stream = io.StringIO()
    configure_logging("classifier", _settings(log_level="DEBUG"), stream=stream)
    log = get_logger("segflow.test")
    log.info("outside.span", n=1)
    with tracer().start_as_current_span("handler") as span:
        log.warning("inside.span", entity="C-1")
        ctx = span.get_span_context()
    outside, inside = _lines(stream)
    assert outside["event"] == "outside.span" and outside["n"] == 1
    assert "trace_id" not in outside
    assert inside["event"] == "inside.span"
    assert inside["level"] == "warning"
    assert inside["service"] == "classifier"
    assert inside["logger"] == "segflow.test"
    assert inside["trace_id"] == _hex(ctx.trace_id, 32)
    assert inside["span_id"] == _hex(ctx.span_id, 16)
    assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", str(inside["timestamp"]))


def test_stdlib_loggers_go_through_the_same_formatter(exporter: InMemorySpanExporter) -> None:
    stream = io.StringIO()
    configure_logging("allocator", _settings(), stream=stream)
    with tracer().start_as_current_span("consume") as span:
        logging.getLogger("aiokafka").warning("rebalance %s", "started")
        trace_id = _hex(span.get_span_context().trace_id, 32)
    (line,) = _lines(stream)
    assert line["event"] == "rebalance started"
    assert line["logger"] == "aiokafka"
    assert line["service"] == "allocator"
    assert line["trace_id"] == trace_id


def test_reconfiguring_never_duplicates_lines_and_respects_the_level() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("policy", _settings(log_level="WARNING"), stream=first)
    configure_logging("policy", _settings(log_level="WARNING"), stream=second)
    get_logger("segflow.test").info("dropped")
    get_logger("segflow.test").error("kept", reason="x")
    assert first.getvalue() == ""
    assert [line["event"] for line in _lines(second)] == ["kept"]


def test_exceptions_are_rendered_into_the_line() -> None:
    stream = io.StringIO()
    configure_logging("audit", _settings(), stream=stream)
    try:
        raise RuntimeError("chain broken")
    except RuntimeError:
        get_logger("segflow.test").exception("verify.failed")
    (line,) = _lines(stream)
    assert line["level"] == "error"
    assert "RuntimeError: chain broken" in str(line["exception"])


def test_console_rendering_when_json_is_off() -> None:
    stream = io.StringIO()
    configure_logging("gateway", _settings(log_json=False), stream=stream)
    get_logger("segflow.test").info("hello", who="planner")
    text = stream.getvalue()
    assert "hello" in text and "who=planner" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
