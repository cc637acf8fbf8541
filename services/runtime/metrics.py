"""Prometheus metrics of every segflow service: one registry, the metric names dashboards rely on.

The bus, outbox relay, consumers and HTTP layer record into these; ``/metrics`` renders ``REGISTRY``.
Every metric carries a ``service`` label so that the embedded mode (five services, one process) keeps
their series apart.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

# seconds; handlers and HTTP calls are expected in the sub-millisecond to seconds range
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

CONSUMED = Counter(
    "segflow_consumed_records_total",
    "Records a consumer finished with, by outcome (ok | duplicate | dlq | retry).",
    ["service", "topic", "outcome"],
    registry=REGISTRY,
)
DLQ_RECORDS = Counter(
    "segflow_dlq_records_total",
    "Records dead-lettered to segflow.dlq.v1, by the kind of reason (e.g. schema, envelope, unknown_unit).",
    ["service", "topic", "reason_kind"],
    registry=REGISTRY,
)
HANDLER_SECONDS = Histogram(
    "segflow_handler_seconds",
    "Time spent handling one consumed record, including its database transaction.",
    ["service", "topic"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "segflow_consumer_lag_records",
    "Records between a consumer group's committed offset and the partition's end.",
    ["service", "group", "topic", "partition"],
    registry=REGISTRY,
)
OUTBOX_BACKLOG = Gauge(
    "segflow_outbox_backlog_rows",
    "Outbox rows written but not yet published by the relay.",
    ["service"],
    registry=REGISTRY,
)
PUBLISHED = Counter(
    "segflow_published_records_total",
    "Records published to the bus (relay or direct producer).",
    ["service", "topic"],
    registry=REGISTRY,
)
HTTP_REQUESTS = Counter(
    "segflow_http_requests_total",
    "HTTP requests served, by route template (not raw path), method and status code.",
    ["service", "method", "route", "status"],
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "segflow_http_request_seconds",
    "HTTP request latency from first byte received to response complete.",
    ["service", "method", "route", "status"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
PROMISE_SECONDS = Histogram(
    "segflow_promise_seconds",
    "Order promise latency, by outcome (e.g. confirmed, partial, rejected, degraded).",
    ["service", "outcome"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
CACHE_LOOKUPS = Counter(
    "segflow_cache_lookups_total",
    "Lookups of an in-process result cache (e.g. the policy KPI reads), by cache and outcome: hit, miss "
    "(computed), shared (awaited a computation another request started).",
    ["service", "cache", "outcome"],
    registry=REGISTRY,
)


def render() -> tuple[bytes, str]:
    """The Prometheus text exposition of ``REGISTRY`` and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
