"""Render a kustomization without a kustomize binary, and validate it offline (``make lint-k8s``).

Supports exactly what deploy/k8s uses: ``resources`` (files and directories), strategic-merge
``patches`` by kind + name (maps merge recursively, lists of named items merge by ``name``, other lists
replace), then the ``namespace``, ``labels`` (metadata only) and ``images`` transformers.
``--validate`` checks every object against the Kubernetes OpenAPI schemas with the
``kubernetes-validate`` package (strict: unknown fields fail), and the Strimzi KafkaTopic CRD objects
by structure. Usage: ``render.py [--validate] DIR...`` (prints the rendered YAML when not validating).
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import yaml

KUBERNETES_VERSION = "1.30.0"
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
Obj = dict[str, Any]


def _docs(path: Path) -> list[Obj]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def merge(base: Any, patch: Any) -> Any:
    """Strategic merge: maps recursively, lists of maps with ``name`` by name, anything else replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(i, dict) and "name" in i for i in base + patch)
    ):
        out_list = [copy.deepcopy(i) for i in base]
        index = {item["name"]: n for n, item in enumerate(out_list)}
        for item in patch:
            if item["name"] in index:
                out_list[index[item["name"]]] = merge(out_list[index[item["name"]]], item)
            else:
                out_list.append(copy.deepcopy(item))
        return out_list
    return copy.deepcopy(patch)


def _pod_specs(obj: Obj) -> list[Obj]:
    spec = obj.get("spec", {})
    if obj["kind"] == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    template = spec.get("template", {})
    return [template["spec"]] if "spec" in template else []


def render(directory: Path) -> list[Obj]:
    """The objects of the kustomization in ``directory``, transformed as kustomize would."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    objects: list[Obj] = []
    for resource in kustomization.get("resources", []):
        path = (directory / resource).resolve()
        objects += render(path) if path.is_dir() else _docs(path)
    for patch in kustomization.get("patches", []):
        for doc in _docs(directory / patch["path"]):
            key = (doc["kind"], doc["metadata"]["name"])
            targets = [i for i, o in enumerate(objects) if (o["kind"], o["metadata"]["name"]) == key]
            if not targets:
                raise ValueError(f"{directory}: patch {patch['path']} matches no {key}")
            for i in targets:
                objects[i] = merge(objects[i], doc)
    if namespace := kustomization.get("namespace"):
        for obj in objects:
            if obj["kind"] == "Namespace":
                obj["metadata"]["name"] = namespace
            elif obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = namespace
    for label in kustomization.get("labels", []):
        for obj in objects:
            obj["metadata"].setdefault("labels", {}).update(label["pairs"])
    for image in kustomization.get("images", []):
        for obj in objects:
            for pod in _pod_specs(obj):
                for container in pod.get("containers", []) + pod.get("initContainers", []):
                    name, _, tag = container["image"].partition(":")
                    if name == image["name"]:
                        new_name = image.get("newName", name)
                        new_tag = image.get("newTag", tag)
                        container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name
    return objects


def check_kafka_topic(obj: Obj) -> list[str]:
    """Structural check of a Strimzi KafkaTopic (a CRD the Kubernetes schemas do not know)."""
    errors = []
    if obj.get("apiVersion") != "kafka.strimzi.io/v1beta2":
        errors.append("apiVersion must be kafka.strimzi.io/v1beta2")
    if not obj["metadata"].get("labels", {}).get("strimzi.io/cluster"):
        errors.append("metadata.labels['strimzi.io/cluster'] is required")
    spec = obj.get("spec", {})
    if set(spec) - {"topicName", "partitions", "replicas", "config"}:
        errors.append(
            f"unknown spec fields {sorted(set(spec) - {'topicName', 'partitions', 'replicas', 'config'})}"
        )
    if not isinstance(spec.get("partitions"), int) or spec["partitions"] < 1:
        errors.append("spec.partitions must be a positive integer")
    if not isinstance(spec.get("replicas"), int) or not 1 <= spec["replicas"] <= 32767:
        errors.append("spec.replicas must be an integer in 1..32767")
    config = spec.get("config", {})
    if config.get("cleanup.policy") not in {"delete", "compact", "compact,delete"}:
        errors.append("spec.config['cleanup.policy'] must be delete or compact")
    retention = config.get("retention.ms")
    if not isinstance(retention, int) or (retention < 1 and retention != -1):
        errors.append("spec.config['retention.ms'] must be -1 or a positive integer")
    return errors


def validate(objects: list[Obj]) -> list[str]:
    import kubernetes_validate

    errors = []
    seen: set[tuple[str, str, str]] = set()
    for obj in objects:
        ident = (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if ident in seen:
            errors.append(f"duplicate object {ident}")
        seen.add(ident)
        if obj["kind"] == "KafkaTopic":
            errors += [f"{ident}: {e}" for e in check_kafka_topic(obj)]
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except Exception as exc:  # ValidationError, InvalidSchemaError, SchemaNotFoundError
            errors.append(f"{ident}: {type(exc).__name__}: {getattr(exc, 'message', exc)}")
    return errors


def main(argv: list[str]) -> int:
    check = "--validate" in argv
    failed = False
    for directory in (Path(a) for a in argv if a != "--validate"):
        objects = render(directory)
        if not check:
            print(yaml.safe_dump_all(objects, sort_keys=False), end="")
            continue
        errors = validate(objects)
        for error in errors:
            print(f"{directory}: {error}", file=sys.stderr)
        failed |= bool(errors)
        print(f"{directory}: {len(objects)} objects, {len(errors)} errors")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
