"""Event payload models through the registry: strictness, units, service levels, field-path reasons."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from contracts.allocation import AllocationDecided, PromiseChanged, PromiseMade
from contracts.envelope import from_kafka, new_envelope, to_headers
from contracts.erp import OrderLineCancelled, OrderLinePlaced, ShipmentLineShipped
from contracts.mdm import CustomerUpserted, ProductUpserted
from contracts.registry import EVENT_MODELS, EventValidationError, event_type_of, parse_event
from contracts.segments import OverrideApproved, SegmentAssigned

T = "2024-03-05T10:00:00Z"


def order_line(**overrides: Any) -> dict[str, Any]:
    line = {
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
        "ordered_at": T,
    }
    line.update(overrides)
    return line


def assignment(**overrides: Any) -> dict[str, Any]:
    body = {
        "dimension": "customer",
        "entity_id": "gln:4012345000009",
        "segment": "PLATINUM",
        "tier": 1,
        "abc": "A",
        "service_policy": {
            "service_level_type": "cycle",
            "service_level_target": 0.975,
            "otif_target": 0.95,
            "promise_lead_time_days": 2,
            "backorder_strategy": "win",
        },
        "ruleset_version": "v3",
        "ruleset_hash": "sha256:abc",
        "reasons": ["abc=A on revenue", "strategic account"],
        "valid_from": T,
        "revenue": 125000.0,
        "margin": 31000.0,
    }
    body.update(overrides)
    return body


def parse(event_type: str, payload: dict[str, Any]) -> Any:
    env = new_envelope(source="test", type=event_type, subject="k", payload=payload)
    return parse_event(from_kafka(env.data, to_headers(env)))


def test_valid_order_line_parses_from_the_wire() -> None:
    model = parse("segflow.order.line.placed", order_line(unit_cost=1.25, promo=True))
    assert isinstance(model, OrderLinePlaced)
    assert model.quantity == 12.0 and model.unit == "EA" and model.unit_cost == 1.25 and model.promo
    assert model.requested_date == date(2024, 3, 12)
    assert model.ordered_at == datetime(2024, 3, 5, 10, tzinfo=UTC)
    assert parse("segflow.order.line.placed", order_line()).unit_cost is None  # cost may be missing


def test_service_level_97_5_is_rejected_naming_the_field_never_clamped() -> None:
    body = assignment()
    body["service_policy"] = {**body["service_policy"], "service_level_target": 97.5}
    with pytest.raises(EventValidationError) as caught:
        parse("segflow.segment.assigned", body)
    assert "service_policy.service_level_target" in caught.value.reason
    assert caught.value.errors[0]["loc"] == ["service_policy", "service_level_target"]
    for edge in (0.0, 1.0, -0.5):
        body["service_policy"] = {**body["service_policy"], "service_level_target": edge}
        with pytest.raises(EventValidationError, match="service_level_target"):
            parse("segflow.segment.assigned", body)


def test_unknown_fields_are_ignored() -> None:
    model = parse("segflow.order.line.placed", order_line(erp_internal_flag="X", extra={"nested": 1}))
    assert isinstance(model, OrderLinePlaced)
    assert "erp_internal_flag" not in model.model_dump()


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("quantity", "12", "quantity"),  # no string -> number coercion
        ("quantity", 0, "quantity"),
        ("quantity", -1, "quantity"),
        ("unit", "pcs", "unit"),  # not a UN/ECE Rec 20 code
        ("unit", "EACH", "unit"),
        ("currency", "eur", "currency"),
        ("promo", "true", "promo"),  # no string -> bool coercion
        ("ordered_at", "2024-03-05T10:00:00", "ordered_at"),  # naive time
        ("ordered_at", 1709632800, "ordered_at"),  # unix number: unit ambiguous
        ("requested_date", "05/03/2024", "requested_date"),
        ("order_id", "", "order_id"),
        ("order_id", 17, "order_id"),
    ],
)
def test_strict_types_and_units(field: str, value: Any, fragment: str) -> None:
    with pytest.raises(EventValidationError) as caught:
        parse("segflow.order.line.placed", order_line(**{field: value}))
    assert caught.value.reason.startswith("segflow.order.line.placed: ")
    assert fragment in caught.value.reason


def test_missing_required_field_is_named() -> None:
    body = order_line()
    del body["sku"]
    with pytest.raises(EventValidationError, match=r"sku: Field required"):
        parse("segflow.order.line.placed", body)


def test_unknown_type_and_tombstone() -> None:
    env = new_envelope(source="s", type="segflow.nope", subject=None, payload={})
    with pytest.raises(EventValidationError) as caught:
        parse_event(env)
    assert caught.value.reason == "unknown event type segflow.nope"
    tomb = new_envelope(source="s", type="segflow.segment.assigned", subject="customer:1", payload=None)
    with pytest.raises(EventValidationError, match="tombstone"):
        parse_event(tomb)


def test_registry_types_match_model_constants() -> None:
    assert len(EVENT_MODELS) == 23
    for event_type, model in EVENT_MODELS.items():
        assert event_type.startswith("segflow.")
        assert event_type_of(model) == event_type
    with pytest.raises(KeyError):
        event_type_of(ValidationError)  # type: ignore[arg-type]


def test_model_round_trip_through_envelope() -> None:
    placed = OrderLinePlaced.model_validate(order_line(), strict=False)
    env = new_envelope(source="erp/SAP-EU", type=event_type_of(placed), subject="SO-1", payload=placed)
    assert parse_event(from_kafka(env.data, to_headers(env))) == placed


def test_cancellation_quantity_needs_unit() -> None:
    base = {
        "order_id": "SO-1",
        "line_id": "10",
        "customer_id": "1000",
        "customer_source": "SAP-EU",
        "sku": "SKU-1",
        "site": "DC-NL",
        "cancelled_at": T,
    }
    assert parse("segflow.order.line.cancelled", base).quantity is None
    assert parse("segflow.order.line.cancelled", {**base, "quantity": 2, "unit": "CS"}).unit == "CS"
    with pytest.raises(EventValidationError, match="quantity and unit"):
        parse("segflow.order.line.cancelled", {**base, "quantity": 2})
    assert OrderLineCancelled.EVENT_TYPE == "segflow.order.line.cancelled"


def test_shipment_costs_need_currency() -> None:
    base = {
        "order_id": "SO-1",
        "line_id": "10",
        "sku": "SKU-1",
        "site": "DC",
        "quantity": 5,
        "unit": "EA",
        "shipped_at": T,
    }
    assert isinstance(parse("segflow.shipment.line.shipped", base), ShipmentLineShipped)
    with pytest.raises(EventValidationError, match="currency"):
        parse("segflow.shipment.line.shipped", {**base, "freight_cost": 12.0})
    ok = parse("segflow.shipment.line.shipped", {**base, "freight_cost": 12.0, "currency": "USD"})
    assert ok.freight_cost == 12.0


def test_customer_identifiers_are_validated_and_normalised() -> None:
    base = {"source": "SAP-EU", "source_id": "1000", "name": "ACME", "region": "EU", "country": "DE"}
    base["updated_at"] = T
    model = parse("segflow.customer.upserted", {**base, "gln": "4012345000009", "vat": "123 456 789"})
    assert isinstance(model, CustomerUpserted)
    assert model.gln == "4012345000009" and model.vat == "DE123456789"
    with pytest.raises(EventValidationError, match="gln"):
        parse("segflow.customer.upserted", {**base, "gln": "4012345000008"})
    with pytest.raises(EventValidationError, match=r"contract\.min_service_level"):
        parse("segflow.customer.upserted", {**base, "contract": {"min_service_level": 98}})
    contacts = [{"name": "Jane", "email": "jane@example.com", "phone": "+31 20 000 0000"}]
    assert parse("segflow.customer.upserted", {**base, "contacts": contacts}).contacts[0].name == "Jane"


def test_customer_contract_min_segment_is_a_bounded_non_empty_string() -> None:
    base = {"source": "SAP-EU", "source_id": "1000", "name": "ACME", "region": "EU", "country": "DE"}
    base["updated_at"] = T
    model = parse(
        "segflow.customer.upserted", {**base, "contract": {"min_segment": "GOLD-EU", "min_tier": 3}}
    )
    assert isinstance(model, CustomerUpserted) and model.contract is not None
    assert (model.contract.min_segment, model.contract.min_tier) == ("GOLD-EU", 3)
    empty = parse("segflow.customer.upserted", {**base, "contract": {}})
    assert isinstance(empty, CustomerUpserted) and empty.contract is not None
    assert empty.contract.min_segment is None
    for bad in ("", "X" * 65, 2, ["GOLD"]):
        with pytest.raises(EventValidationError, match=r"contract\.min_segment"):
            parse("segflow.customer.upserted", {**base, "contract": {"min_segment": bad}})
    assert parse("segflow.customer.upserted", {**base, "contract": {"min_segment": "X" * 64}})


def test_product_conversions_and_gtin() -> None:
    base = {
        "source": "PIM",
        "source_id": "MAT-1",
        "name": "Widget",
        "base_uom": "EA",
        "lifecycle": "active",
        "category": "widgets",
        "updated_at": T,
    }
    model = parse("segflow.product.upserted", {**base, "gtin": "036000291452", "uom_conversions": {"CS": 12}})
    assert isinstance(model, ProductUpserted)
    assert model.gtin == "00036000291452" and model.uom_conversions == {"CS": 12.0}
    with pytest.raises(EventValidationError, match="uom_conversions"):
        parse("segflow.product.upserted", {**base, "uom_conversions": {"case": 12}})
    with pytest.raises(EventValidationError, match="uom_conversions"):
        parse("segflow.product.upserted", {**base, "uom_conversions": {"CS": 0}})
    with pytest.raises(EventValidationError, match="base unit"):
        parse("segflow.product.upserted", {**base, "uom_conversions": {"EA": 2}})
    with pytest.raises(EventValidationError, match="lifecycle"):
        parse("segflow.product.upserted", {**base, "lifecycle": "dead"})


def test_partner_projection_drops_financials() -> None:
    model = parse("segflow.segment.assigned", assignment())
    assert isinstance(model, SegmentAssigned) and model.revenue == 125000.0
    projected = model.without_financials()
    assert projected.revenue is None and projected.margin is None
    assert projected.segment == model.segment and projected.service_policy == model.service_policy
    wire = orjson.loads(orjson.dumps(projected.model_dump(mode="json", exclude_none=True)))
    assert "revenue" not in wire and "margin" not in wire


def test_overrides_are_four_eyes() -> None:
    body = {
        "override_id": "ov-1",
        "dimension": "customer",
        "entity_id": "src:SAP:1",
        "segment": "GOLD",
        "reason": "key account",
        "requested_by": "alice",
        "decided_by": "bob",
        "expires_at": "2024-06-30T00:00:00Z",
    }
    assert isinstance(parse("segflow.override.approved", body), OverrideApproved)
    with pytest.raises(EventValidationError, match="four-eyes"):
        parse("segflow.override.approved", {**body, "decided_by": "alice"})
    del body["decided_by"]
    with pytest.raises(EventValidationError, match="decided_by"):
        parse("segflow.override.approved", body)
    assert parse("segflow.override.requested", body).decided_by is None


def test_promises_and_allocation_invariants() -> None:
    base = {
        "promise_id": "p-1",
        "customer_id": "c-1",
        "sku": "SKU-1",
        "site": "DC",
        "idempotency_key": "idem-1",
        "confirmations": [{"date": "2024-03-06", "quantity": 5}, {"date": "2024-03-08", "quantity": 3}],
    }
    made = parse("segflow.promise.made", base)
    assert isinstance(made, PromiseMade) and [c.quantity for c in made.confirmations] == [5.0, 3.0]
    with pytest.raises(EventValidationError, match="ascending"):
        parse("segflow.promise.made", {**base, "confirmations": base["confirmations"][::-1]})
    changed = parse("segflow.promise.changed", {**base, "before": [{"date": "2024-03-05", "quantity": 8}]})
    assert isinstance(changed, PromiseChanged) and changed.before[0].date == date(2024, 3, 5)
    decided = {
        "run_id": "r",
        "sku": "S",
        "site": "D",
        "line_id": "1",
        "order_id": "o",
        "customer_id": "c",
        "tier": 2,
        "requested": 10,
        "allocated": 4,
        "explanation": {"tier": 2, "share": 4.4, "limited_by": "supply"},
    }
    assert isinstance(parse("segflow.allocation.decided", decided), AllocationDecided)
    with pytest.raises(EventValidationError, match="exceed"):
        parse("segflow.allocation.decided", {**decided, "allocated": 11})
    with pytest.raises(EventValidationError, match="tier"):
        parse("segflow.allocation.decided", {**decided, "tier": 0})


def test_policy_and_kpi_and_checkpoint() -> None:
    policy: dict[str, Any] = {
        "sku": "S",
        "site": "D",
        "method": "cycle_service_level",
        "service_level_type": "cycle",
        "service_level_target": 0.95,
        "safety_stock": 16.45,
        "reorder_point": 116.45,
        "inputs": {
            "demand_mean": 20,
            "demand_std": 5,
            "period": "week",
            "lead_time_mean": 5,
            "lead_time_std": 0,
        },
        "simulation": {
            "paths": 200,
            "periods": 52,
            "fill_rate": 0.97,
            "fill_rate_ci_low": 0.96,
            "fill_rate_ci_high": 0.98,
        },
        "published_at": T,
    }
    assert parse("segflow.policy.published", policy).simulation.fill_rate == 0.97
    bad_sim = {**policy["simulation"], "fill_rate_ci_low": 0.99}
    with pytest.raises(EventValidationError, match="simulation"):
        parse("segflow.policy.published", {**policy, "simulation": bad_sim})
    with pytest.raises(EventValidationError, match="service_level_target"):
        parse("segflow.policy.published", {**policy, "service_level_target": 95})
    alert = {"segment": "GOLD", "kpi": "otif", "value": 0.88, "target": 0.95, "windows_below": 3, "at": T}
    assert parse("segflow.kpi.alert.raised", alert).windows_below == 3
    with pytest.raises(EventValidationError, match="kpi"):
        parse("segflow.kpi.alert.raised", {**alert, "kpi": "happiness"})
    checkpoint = {
        "tree_size": 10,
        "root_hash": "ab" * 32,
        "signature": "cd" * 64,
        "key_id": "k1",
        "signed_at": T,
    }
    assert parse("segflow.checkpoint.signed", checkpoint).tree_size == 10
    with pytest.raises(EventValidationError, match="root_hash"):
        parse("segflow.checkpoint.signed", {**checkpoint, "root_hash": "AB" * 32})


def test_models_are_frozen() -> None:
    placed = OrderLinePlaced.model_validate(order_line(), strict=False)
    with pytest.raises(ValidationError):
        placed.quantity = 3  # type: ignore[misc]


def test_marked_field_paths() -> None:
    from contracts.fields import financial_paths, personal_paths

    assert personal_paths(CustomerUpserted) == [
        ("contacts", "*", "name"),
        ("contacts", "*", "email"),
        ("contacts", "*", "phone"),
    ]
    assert financial_paths(SegmentAssigned) == [("revenue",), ("margin",)]
    assert personal_paths(OrderLinePlaced) == [] and financial_paths(OrderLinePlaced) == []
    # the exported JSON schema marks exactly the same fields
    for event_type, model in EVENT_MODELS.items():
        schema_text = orjson.dumps(model.model_json_schema()).decode()
        assert schema_text.count('"x-personal":true') == len(personal_paths(model)), event_type
