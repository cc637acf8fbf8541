"""The topic catalog against DESIGN.md section 3, partner topics, and the event-model coverage."""

from __future__ import annotations

import re

import pytest

from contracts import topics
from contracts.registry import EVENT_MODELS
from contracts.topics import (
    CATALOG,
    DLQ,
    TopicSpec,
    all_topics,
    partner_topic,
    partner_topic_spec,
    spec_for,
    topics_for_event,
)

# DESIGN.md section 3, transcribed by hand: topic -> (key, cleanup, events)
DESIGN_TABLE = {
    "erp.orders": ("order_id", "delete", {"order.line.placed", "order.line.changed", "order.line.cancelled"}),
    "wms.shipments": ("order_id", "delete", {"shipment.line.shipped", "shipment.line.delivered"}),
    "wms.inventory": ("sku@site", "delete", {"inventory.position", "inventory.receipt.scheduled"}),
    "mdm.customers": ("source:id", "compact", {"customer.upserted"}),
    "mdm.products": ("source:id", "compact", {"product.upserted"}),
    "segments.assignments": ("dimension:entity", "compact", {"segment.assigned"}),
    "segments.changes": (
        "dimension:entity",
        "delete",
        {
            "segment.changed",
            "override.requested",
            "override.approved",
            "override.rejected",
            "override.expired",
        },
    ),
    "policy.parameters": ("sku@site", "compact", {"policy.published"}),
    "kpi.alerts": ("segment:kpi", "delete", {"kpi.alert.raised", "kpi.alert.cleared"}),
    "allocation.decisions": ("sku@site", "delete", {"allocation.decided"}),
    "allocation.promises": ("order_id", "delete", {"promise.made", "promise.changed", "promise.released"}),
    "dlq": ("original key", "delete", set()),
}
HIGH_VOLUME = {
    "erp.orders",
    "wms.shipments",
    "wms.inventory",
    "segments.assignments",
    "segments.changes",
    "allocation.decisions",
    "allocation.promises",
}


def test_catalog_matches_design_table() -> None:
    assert set(CATALOG) == {f"segflow.{name}.v1" for name in DESIGN_TABLE}
    for name, (key, cleanup, events) in DESIGN_TABLE.items():
        spec = CATALOG[f"segflow.{name}.v1"]
        assert spec.key == key, name
        assert spec.cleanup == cleanup, name
        assert set(spec.event_types) == {f"segflow.{e}" for e in events}, name
        assert spec.partitions == (6 if name in HIGH_VOLUME else 3), name


def test_constants_name_the_catalog_topics() -> None:
    constants = {
        "ERP_ORDERS": "segflow.erp.orders.v1",
        "WMS_SHIPMENTS": "segflow.wms.shipments.v1",
        "WMS_INVENTORY": "segflow.wms.inventory.v1",
        "MDM_CUSTOMERS": "segflow.mdm.customers.v1",
        "MDM_PRODUCTS": "segflow.mdm.products.v1",
        "SEGMENTS_ASSIGNMENTS": "segflow.segments.assignments.v1",
        "SEGMENTS_CHANGES": "segflow.segments.changes.v1",
        "POLICY_PARAMETERS": "segflow.policy.parameters.v1",
        "KPI_ALERTS": "segflow.kpi.alerts.v1",
        "ALLOCATION_DECISIONS": "segflow.allocation.decisions.v1",
        "ALLOCATION_PROMISES": "segflow.allocation.promises.v1",
        "DLQ": "segflow.dlq.v1",
    }
    for attr, value in constants.items():
        assert getattr(topics, attr) == value
    assert (
        topics.DLQ_HEADER_TOPIC,
        topics.DLQ_HEADER_PARTITION,
        topics.DLQ_HEADER_OFFSET,
        topics.DLQ_HEADER_ERROR,
        topics.DLQ_HEADER_CONSUMER,
        topics.DLQ_HEADER_FAILED_AT,
    ) == ("dlq_topic", "dlq_partition", "dlq_offset", "dlq_error", "dlq_consumer", "dlq_failed_at")


@pytest.mark.parametrize("spec", [*all_topics(), partner_topic_spec("dhl-nl")], ids=lambda s: s.name)
def test_every_topic_is_well_formed(spec: TopicSpec) -> None:
    assert re.fullmatch(r"segflow\.[a-z0-9.{}_-]+\.v\d+", spec.name)
    assert spec.partitions in (3, 6)
    assert spec.cleanup in ("delete", "compact")
    if spec.cleanup == "compact":
        assert spec.retention_ms is None and spec.retention_config == -1
    else:
        assert spec.retention_ms is not None and spec.retention_ms > 0
        assert spec.retention_config == spec.retention_ms
    assert spec.description and spec.key
    assert all(t.startswith("segflow.") for t in spec.event_types)
    assert len(set(spec.event_types)) == len(spec.event_types)


def test_every_listed_event_type_has_a_model() -> None:
    listed = {t for spec in [*all_topics(), partner_topic_spec("x")] for t in spec.event_types}
    missing = listed - set(EVENT_MODELS)
    assert not missing
    # and every model but the audit checkpoint travels on some catalog topic
    unrouted = {t for t in EVENT_MODELS if not topics_for_event(t)}
    assert unrouted == {"segflow.checkpoint.signed"}


def test_partner_topics() -> None:
    assert partner_topic("DHL-nl-01") == "segflow.segments.partner.DHL-nl-01.v1"
    spec = partner_topic_spec("kn")
    assert spec.name == "segflow.segments.partner.kn.v1"
    assert spec.cleanup == "compact" and spec.key == "dimension:entity"
    assert spec.event_types == ("segflow.segment.assigned",)
    assert spec_for("segflow.segments.partner.kn.v1") == spec
    for bad in ["", "a.b", "a_b", "-lead", "a b", "ä", "x" * 65, "a/b"]:
        with pytest.raises(ValueError, match="partner id"):
            partner_topic(bad)


def test_spec_for_and_all_topics() -> None:
    assert spec_for(DLQ) is CATALOG[DLQ]
    with pytest.raises(KeyError):
        spec_for("segflow.unknown.v1")
    with pytest.raises(KeyError):
        spec_for("segflow.segments.partner.a_b.v1")
    names = [s.name for s in all_topics(["p1", "p2"])]
    assert names[: len(CATALOG)] == list(CATALOG)
    assert names[-2:] == ["segflow.segments.partner.p1.v1", "segflow.segments.partner.p2.v1"]
    assert topics_for_event("segflow.segment.assigned") == ["segflow.segments.assignments.v1"]
