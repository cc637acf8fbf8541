"""deploy/observability: the dashboard and alert rules parse and name only metrics the runtime exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client.metrics_core import Metric

from services.runtime.metrics import REGISTRY

OBSERVABILITY = Path(__file__).resolve().parents[3] / "deploy" / "observability"
PROMQL_WORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "offset", "inf", "nan",
}  # fmt: skip


def exported_series_names() -> set[str]:
    """Every series name REGISTRY can expose, derived from the metric families (a Prometheus rule)."""
    names: set[str] = set()
    families: list[Metric] = list(REGISTRY.collect())
    for family in families:
        suffixes = {
            "counter": ("_total", "_created"),
            "histogram": ("_bucket", "_sum", "_count", "_created"),
            "summary": ("_sum", "_count", "_created"),
        }.get(family.type, ("",))
        names.update(family.name + s for s in suffixes)
        names.update(sample.name for sample in family.samples)
    return names


def metric_names(expr: str) -> set[str]:
    """Metric names referenced by a PromQL expression: identifiers that are not functions, keywords,
    label names (inside {} or by/without/on/ignoring (...)) or string contents."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    found = set()
    for match in re.finditer(r"(?<![\w.])([A-Za-z_:][A-Za-z0-9_:]*)\b(\s*\()?", text):
        word, call = match.group(1), match.group(2)
        if call or word.lower() in PROMQL_WORDS:
            continue
        found.add(word)
    return found


def dashboard_exprs() -> list[str]:
    dashboard = json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


def rules() -> list[dict[str, object]]:
    doc = yaml.safe_load((OBSERVABILITY / "prometheus-rules.yaml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_metric_name_extraction_ignores_functions_labels_and_keywords() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (service, le) (rate(a_seconds_bucket{route="/x",status=~"5.."}[5m])))'
        " / clamp_min(b_total offset 5m, 1e-9) > 0 and on (service) c_gauge"
    )
    assert metric_names(expr) == {"a_seconds_bucket", "b_total", "c_gauge"}


def test_every_dashboard_metric_is_exported_by_the_runtime() -> None:
    exported = exported_series_names()
    exprs = dashboard_exprs()
    assert exprs
    used = set().union(*(metric_names(e) for e in exprs))
    assert used <= exported, used - exported
    for required in (
        "segflow_consumer_lag_records",
        "segflow_handler_seconds_bucket",
        "segflow_dlq_records_total",
        "segflow_outbox_backlog_rows",
        "segflow_promise_seconds_bucket",
        "segflow_http_requests_total",
    ):
        assert required in used, f"no dashboard panel on {required}"


def test_dashboard_panels_are_well_formed() -> None:
    dashboard = json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["title"] and panel["targets"]
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])


def test_every_alert_rule_uses_exported_metrics_and_has_a_summary() -> None:
    exported = exported_series_names()
    all_rules = rules()
    names = {r["alert"] for r in all_rules}
    assert {
        "SegflowConsumerLagGrowing",
        "SegflowDeadLetters",
        "SegflowOutboxBacklog",
        "SegflowPromiseLatencyHigh",
        "SegflowNotReady",
    } <= names
    for rule in all_rules:
        expr = rule["expr"]
        assert isinstance(expr, str)
        used = metric_names(expr)
        assert used, rule["alert"]
        assert used <= exported, (rule["alert"], used - exported)
        assert rule["annotations"]["summary"]  # type: ignore[index]
        assert rule["labels"]["severity"] in {"warning", "critical"}  # type: ignore[index]
        assert re.fullmatch(r"\d+[smh]", str(rule["for"]))


def test_an_unknown_metric_would_be_caught() -> None:
    assert "segflow_no_such_metric" not in exported_series_names()
    assert "segflow_outbox_backlog_rows" in exported_series_names()
