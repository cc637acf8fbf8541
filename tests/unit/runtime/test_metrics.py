"""The metric catalogue: exact names and labels the runtime and dashboards rely on, and their exposition."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.runtime import metrics

EXPECTED = {
    # attribute: (exposed family name, type, label names)
    "CONSUMED": ("segflow_consumed_records", "counter", ("service", "topic", "outcome")),
    "DLQ_RECORDS": ("segflow_dlq_records", "counter", ("service", "topic", "reason_kind")),
    "HANDLER_SECONDS": ("segflow_handler_seconds", "histogram", ("service", "topic")),
    "CONSUMER_LAG": ("segflow_consumer_lag_records", "gauge", ("service", "group", "topic", "partition")),
    "OUTBOX_BACKLOG": ("segflow_outbox_backlog_rows", "gauge", ("service",)),
    "PUBLISHED": ("segflow_published_records", "counter", ("service", "topic")),
    "HTTP_REQUESTS": ("segflow_http_requests", "counter", ("service", "method", "route", "status")),
    "HTTP_SECONDS": ("segflow_http_request_seconds", "histogram", ("service", "method", "route", "status")),
    "PROMISE_SECONDS": ("segflow_promise_seconds", "histogram", ("service", "outcome")),
    "CACHE_LOOKUPS": ("segflow_cache_lookups", "counter", ("service", "cache", "outcome")),
}


def _families() -> dict[str, object]:
    body, _ = metrics.render()
    return {family.name: family for family in text_string_to_metric_families(body.decode())}


def _sample(name: str, labels: dict[str, str]) -> float | None:
    body, _ = metrics.render()
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


@pytest.mark.parametrize("attribute", sorted(EXPECTED))
def test_metric_names_types_and_labels(attribute: str) -> None:
    family_name, kind, labels = EXPECTED[attribute]
    metric = getattr(metrics, attribute)
    assert metric._labelnames == labels
    families = _families()
    assert family_name in families
    assert families[family_name].type == kind  # type: ignore[attr-defined]


def test_render_returns_prometheus_text_with_its_content_type() -> None:
    body, content_type = metrics.render()
    assert isinstance(body, bytes)
    assert content_type.startswith("text/plain")
    assert "version=" in content_type
    assert b"# TYPE segflow_consumed_records_total counter" in body


def test_counter_increments_are_exposed() -> None:
    labels = {"service": "metrics-test", "topic": "segflow.erp.orders.v1", "outcome": "duplicate"}
    before = _sample("segflow_consumed_records_total", labels) or 0.0
    metrics.CONSUMED.labels(**labels).inc()
    metrics.CONSUMED.labels(**labels).inc(2)
    assert _sample("segflow_consumed_records_total", labels) == before + 3


def test_gauge_is_set_not_accumulated() -> None:
    labels = {
        "service": "metrics-test",
        "group": "classifier",
        "topic": "segflow.erp.orders.v1",
        "partition": "2",
    }
    metrics.CONSUMER_LAG.labels(**labels).set(40)
    metrics.CONSUMER_LAG.labels(**labels).set(7)
    assert _sample("segflow_consumer_lag_records", labels) == 7.0


def test_histogram_counts_and_sums_observations() -> None:
    labels = {"service": "metrics-test", "outcome": "confirmed"}
    observations = [0.002, 0.03, 0.4]
    count_before = _sample("segflow_promise_seconds_count", labels) or 0.0
    sum_before = _sample("segflow_promise_seconds_sum", labels) or 0.0
    for seconds in observations:
        metrics.PROMISE_SECONDS.labels(**labels).observe(seconds)
    assert _sample("segflow_promise_seconds_count", labels) == count_before + 3
    assert _sample("segflow_promise_seconds_sum", labels) == pytest.approx(sum_before + sum(observations))
    # cumulative buckets: 0.005 holds the first observation only, 0.5 all three
    assert _sample("segflow_promise_seconds_bucket", {**labels, "le": "0.005"}) == count_before + 1
    assert _sample("segflow_promise_seconds_bucket", {**labels, "le": "0.5"}) == count_before + 3


def test_process_metrics_are_exposed() -> None:
    assert "process_cpu_seconds" in _families()
