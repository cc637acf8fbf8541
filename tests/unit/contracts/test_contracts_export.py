"""Generated JSON Schemas and asyncapi.yaml: up to date, deterministic, consistent with the catalog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import yaml

from contracts.export import SCHEMAS_DIR, check, export, render
from contracts.registry import EVENT_MODELS
from contracts.topics import CATALOG, DLQ

ORDER_LINE = {
    "order_id": "SO-1",
    "line_id": "10",
    "customer_id": "1000",
    "customer_source": "SAP-EU",
    "sku": "SKU-1",
    "site": "DC-NL",
    "quantity": 12,
    "unit": "EA",
    "unit_price": 2.5,
    "currency": "EUR",
    "requested_date": "2024-03-12",
    "ordered_at": "2024-03-05T10:00:00Z",
}
ASSIGNMENT: dict[str, Any] = {
    "dimension": "customer",
    "entity_id": "gln:4012345000009",
    "segment": "PLATINUM",
    "tier": 1,
    "service_policy": {
        "service_level_type": "cycle",
        "service_level_target": 0.975,
        "otif_target": 0.95,
        "promise_lead_time_days": 2,
        "backorder_strategy": "win",
    },
    "ruleset_version": "v3",
    "ruleset_hash": "sha256:abc",
    "valid_from": "2024-03-05T10:00:00Z",
}


def test_committed_schemas_are_not_stale() -> None:
    """Fails when a model changed without `python -m contracts.export` being re-run."""
    assert check(SCHEMAS_DIR) == []


def test_export_is_deterministic_and_check_detects_drift(tmp_path: Path) -> None:
    first = export(tmp_path / "a")
    second = export(tmp_path / "b")
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes()
        assert a.read_text().endswith("\n")
    names = {p.name for p in first}
    assert names == {f"{t}.schema.json" for t in EVENT_MODELS} | {"asyncapi.yaml"}
    out = tmp_path / "a"
    assert check(out) == []
    (out / "segflow.order.line.placed.schema.json").write_text("{}\n")
    (out / "segflow.promise.made.schema.json").unlink()
    (out / "segflow.gone.schema.json").write_text("{}\n")
    assert sorted(check(out)) == [
        "segflow.gone.schema.json (orphan)",
        "segflow.order.line.placed.schema.json (stale)",
        "segflow.promise.made.schema.json (missing)",
    ]
    export(out)
    assert check(out) == [] and not (out / "segflow.gone.schema.json").exists()


def test_json_schema_files_are_sorted_and_validate_real_payloads() -> None:
    files = render()
    for event_type in EVENT_MODELS:
        text = files[f"{event_type}.schema.json"]
        schema = json.loads(text)
        assert text == json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["x-ce-type"] == event_type
    order_schema = json.loads(files["segflow.order.line.placed.schema.json"])
    validator = jsonschema.Draft202012Validator(order_schema)
    assert not list(validator.iter_errors(ORDER_LINE))
    assert list(validator.iter_errors({**ORDER_LINE, "quantity": -1}))
    assert list(validator.iter_errors({**ORDER_LINE, "unit": "pcs"}))
    assign_schema = json.loads(files["segflow.segment.assigned.schema.json"])
    good = ASSIGNMENT
    assert not list(jsonschema.Draft202012Validator(assign_schema).iter_errors(good))
    bad = {**good, "service_policy": {**good["service_policy"], "service_level_target": 97.5}}
    assert list(jsonschema.Draft202012Validator(assign_schema).iter_errors(bad))
    assert assign_schema["properties"]["revenue"]["x-financial"] is True


def test_personal_fields_are_marked() -> None:
    schema = json.loads(render()["segflow.customer.upserted.schema.json"])
    contact = schema["$defs"]["Contact"]["properties"]
    assert {k for k, v in contact.items() if v.get("x-personal")} == {"name", "email", "phone"}
    assert "x-personal" not in json.dumps(schema["properties"]["name"])  # a company name is not personal


def _resolve(doc: dict, ref: str) -> dict:
    node = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_asyncapi_document_matches_the_catalog() -> None:
    doc = yaml.safe_load(render()["asyncapi.yaml"])
    assert doc["asyncapi"] == "3.0.0"
    assert doc["servers"]["kafka"]["protocol"] == "kafka"
    by_address = {ch["address"]: (cid, ch) for cid, ch in doc["channels"].items()}
    assert set(CATALOG) | {"segflow.segments.partner.{partner_id}.v1"} == set(by_address)
    for name, spec in CATALOG.items():
        cid, channel = by_address[name]
        kafka = channel["bindings"]["kafka"]
        assert kafka["topic"] == name and kafka["partitions"] == spec.partitions
        assert kafka["topicConfiguration"]["cleanup.policy"] == [spec.cleanup]
        assert kafka["topicConfiguration"]["retention.ms"] == spec.retention_config
        carried = {_resolve(doc, m["$ref"])["name"] for m in channel["messages"].values()}
        assert carried == (set(spec.event_types) if name != DLQ else {"segflow.dlq.record"})
        actions = {
            op["action"] for op in doc["operations"].values() if op["channel"]["$ref"] == f"#/channels/{cid}"
        }
        assert actions == {"send", "receive"}
    for op in doc["operations"].values():
        for message_ref in op["messages"]:
            assert message_ref["$ref"].startswith(op["channel"]["$ref"] + "/messages/")
            _resolve(doc, message_ref["$ref"])
    for event_type in EVENT_MODELS:
        message = doc["components"]["messages"][event_type]
        payload = _resolve(doc, message["payload"]["$ref"])
        assert payload["title"] == EVENT_MODELS[event_type].__name__
        assert message["headers"]["properties"]["ce_type"]["const"] == event_type
    # every $ref in the document resolves
    refs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    assert refs
    for ref in refs:
        _resolve(doc, ref)
    assert orjson.dumps(doc)  # plain JSON-compatible data
