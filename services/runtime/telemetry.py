"""OpenTelemetry tracing for segflow: the process's tracer provider and trace context in Kafka headers.

Owns:
- ``setup_tracing``: one ``TracerProvider`` per process (OTLP/HTTP export when ``otlp_endpoint`` is set);
- W3C trace context (``traceparent``/``tracestate``) carried in Kafka record headers as bytes:
  ``inject_headers`` / ``extract_context``;
- ``produce_span`` / ``consume_span``: PRODUCER and CONSUMER spans with messaging attributes, so one
  trace id spans the HTTP request, the outbox relay's publish and every consumer of the record.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from services.runtime.settings import Settings

TRACE_HEADERS: tuple[str, ...] = ("traceparent", "tracestate")

_PROPAGATOR = TraceContextTextMapPropagator()
_LOCK = threading.Lock()
_provider: TracerProvider | None = None
_added_processors: list[SpanProcessor] = []


def setup_tracing(
    service: str, settings: Settings, *, extra_processors: Sequence[SpanProcessor] = ()
) -> TracerProvider:
    """Install the process-wide tracer provider once and return it.

    The first call creates the provider (resource ``service.name`` = ``service``; in embedded mode the
    first service to start names the process) and, when ``settings.otlp_endpoint`` is set, a batch
    OTLP/HTTP exporter to ``{otlp_endpoint}/v1/traces``. Later calls return the same provider;
    ``extra_processors`` (e.g. a test's in-memory exporter) are added on any call, each at most once.
    """
    global _provider
    with _LOCK:
        if _provider is None:
            provider = TracerProvider(
                resource=Resource.create({"service.name": service, "service.namespace": "segflow"})
            )
            if settings.otlp_endpoint:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

                endpoint = settings.otlp_endpoint.rstrip("/")
                if not endpoint.endswith("/v1/traces"):
                    endpoint += "/v1/traces"
                provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
            trace.set_tracer_provider(provider)
            _provider = provider
        for processor in extra_processors:
            if not any(processor is known for known in _added_processors):
                _provider.add_span_processor(processor)
                _added_processors.append(processor)
        return _provider


def tracer(name: str = "segflow") -> trace.Tracer:
    """A tracer from the global provider (a no-op tracer until ``setup_tracing`` runs, then live)."""
    return trace.get_tracer(name)


def inject_headers(headers: list[tuple[str, bytes]], span: Span | None = None) -> None:
    """Write the current span's (or ``span``'s) ``traceparent``/``tracestate`` into a Kafka header list.

    Existing trace headers are replaced, never duplicated; with no valid span nothing is added.
    """
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span) if span is not None else None)
    if not carrier:
        return
    headers[:] = [(k, v) for k, v in headers if k.lower() not in TRACE_HEADERS]
    for key in TRACE_HEADERS:
        if key in carrier:
            headers.append((key, carrier[key].encode("ascii")))


def extract_context(headers: Sequence[tuple[str, bytes | str | None]] | None) -> Context:
    """The trace context carried in Kafka headers (an empty context when absent or malformed)."""
    carrier: dict[str, str] = {}
    for key, value in headers or ():
        name = key.lower()
        if name in TRACE_HEADERS and value is not None:
            carrier[name] = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    return _PROPAGATOR.extract(carrier)


def current_trace_id() -> str | None:
    """The current span's trace id as 32 lowercase hex digits, or None outside a valid span."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def current_span_id() -> str | None:
    """The current span's id as 16 lowercase hex digits, or None outside a valid span."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.span_id, "016x") if ctx.is_valid else None


def _process_attributes(topic: str, partition: int, offset: int) -> dict[str, str | int]:
    return {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": topic,
        "messaging.destination.partition.id": str(partition),
        "messaging.kafka.offset": offset,
        "messaging.kafka.message.offset": offset,
    }


@contextmanager
def consume_span(
    topic: str, partition: int, offset: int, headers: Sequence[tuple[str, bytes | str | None]] | None
) -> Iterator[Span]:
    """A CONSUMER span ``"{topic} process"``, child of the trace context found in ``headers``."""
    with tracer("segflow.bus").start_as_current_span(
        f"{topic} process",
        context=extract_context(headers),
        kind=SpanKind.CONSUMER,
        attributes=_process_attributes(topic, partition, offset),
    ) as span:
        yield span


def start_process_span(
    topic: str, partition: int, offset: int, headers: Sequence[tuple[str, bytes | str | None]] | None
) -> Span:
    """The CONSUMER span of ``consume_span``, started but not made current: for consumers that handle
    records in batches through a pipeline (the audit capture), which end each span when its record is
    durable."""
    return tracer("segflow.bus").start_span(
        f"{topic} process",
        context=extract_context(headers),
        kind=SpanKind.CONSUMER,
        attributes=_process_attributes(topic, partition, offset),
    )


def _publish_attributes(topic: str, key: bytes | None) -> dict[str, str]:
    attributes: dict[str, str] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "send",
        "messaging.operation.name": "publish",
        "messaging.destination.name": topic,
    }
    if key is not None:
        attributes["messaging.kafka.message.key"] = key.decode("utf-8", "replace")
    return attributes


@contextmanager
def produce_span(topic: str, key: bytes | None) -> Iterator[Span]:
    """A PRODUCER span ``"{topic} publish"``; call ``inject_headers`` inside it to carry the trace on."""
    with tracer("segflow.bus").start_as_current_span(
        f"{topic} publish", kind=SpanKind.PRODUCER, attributes=_publish_attributes(topic, key)
    ) as span:
        yield span


def start_publish_span(topic: str, key: bytes | None, headers: Sequence[tuple[str, bytes]]) -> Span:
    """A PRODUCER span ``"{topic} publish"``, child of the trace context stored in ``headers`` (an outbox
    row remembers the context of the transaction that wrote it). Not made current: the relay publishes a
    whole batch at once, injects each span into its record (``inject_headers(headers, span)``) and ends
    every span after the broker's acknowledgements."""
    return tracer("segflow.bus").start_span(
        f"{topic} publish",
        context=extract_context(headers),
        kind=SpanKind.PRODUCER,
        attributes=_publish_attributes(topic, key),
    )
