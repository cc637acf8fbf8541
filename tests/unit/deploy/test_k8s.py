"""deploy/k8s: topics as code match the catalog, and the rendered overlays hold what operations need."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from contracts.topics import all_topics
from services.runtime.settings import SERVICE_PORTS

K8S = Path(__file__).resolve().parents[3] / "deploy" / "k8s"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"k8s_{name}", K8S / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


generate_topics = _load("generate_topics")
render = _load("render")


def test_committed_topics_file_is_up_to_date() -> None:
    assert (K8S / "base" / "topics.yaml").read_text() == generate_topics.render(), (
        "run python deploy/k8s/generate_topics.py"
    )
    assert generate_topics.main(["--check"]) == 0


def test_every_catalog_topic_has_its_partitions_and_retention() -> None:
    docs = [d for d in yaml.safe_load_all((K8S / "base" / "topics.yaml").read_text()) if d]
    by_name = {d["spec"]["topicName"]: d for d in docs}
    assert set(by_name) == {s.name for s in all_topics()}
    for spec in all_topics():
        doc = by_name[spec.name]
        assert doc["spec"]["partitions"] == spec.partitions
        assert doc["spec"]["config"]["cleanup.policy"] == spec.cleanup
        expected_retention = -1 if spec.retention_ms is None else spec.retention_ms
        assert doc["spec"]["config"]["retention.ms"] == expected_retention
        assert render.check_kafka_topic(doc) == []


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_overlay_renders_every_service_with_probes_and_config(overlay: str) -> None:
    objects = render.render(K8S / "overlays" / overlay)
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    assert set(deployments) == set(SERVICE_PORTS)
    namespaces = {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"}
    assert len(namespaces) == 1
    for name, dep in deployments.items():
        container = dep["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == ["segflow", "run", name]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["ports"][0]["containerPort"] == SERVICE_PORTS[name]
        assert {"requests", "limits"} <= set(container["resources"])
        refs = {next(iter(r.values()))["name"] for r in container["envFrom"]}
        assert refs == {"segflow-config", "segflow-secrets"}
    hpas = [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"]
    assert {h["spec"]["scaleTargetRef"]["name"] for h in hpas} == set(SERVICE_PORTS)
    assert any(m["type"] == "External" for h in hpas for m in h["spec"]["metrics"])
    jobs = [o for o in objects if o["kind"] == "Job"]
    assert jobs[0]["spec"]["template"]["spec"]["containers"][0]["command"] == ["segflow", "init"]
    secret = next(o for o in objects if o["kind"] == "Secret")
    assert "SEGFLOW_JWT_SECRET" in secret["stringData"]


def test_prod_overlay_patches_replicas_and_image() -> None:
    objects = render.render(K8S / "overlays" / "prod")
    dep = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "classifier")
    assert dep["spec"]["replicas"] == 3
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example.com/segflow:1.0.0"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"  # the patch merged, not replaced
    assert any(o["kind"] == "PodDisruptionBudget" for o in objects)


def test_strategic_merge_rules() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "containers": [{"name": "x", "image": "i", "env": [{"name": "E"}]}]}
    patch = {"a": {"c": [3]}, "containers": [{"name": "x", "image": "j"}, {"name": "y", "image": "k"}]}
    assert render.merge(base, patch) == {
        "a": {"b": 1, "c": [3]},
        "containers": [{"name": "x", "image": "j", "env": [{"name": "E"}]}, {"name": "y", "image": "k"}],
    }


def test_structural_topic_check_rejects_a_bad_topic() -> None:
    bad = {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaTopic",
        "metadata": {"name": "x", "labels": {}},
        "spec": {"partitions": 0, "replicas": 1, "config": {"cleanup.policy": "keep", "retention.ms": 0}},
    }
    assert len(render.check_kafka_topic(bad)) == 4
