"""The topic catalog of DESIGN.md section 3 as data: name, key, partitions, cleanup, event types.

Every topic is ``segflow.<name>.v1``; a breaking change is a new ``.v2`` topic. High-volume topics
have 6 partitions, the others 3. Compacted topics keep the latest value per key forever
(``retention_ms=None`` -> ``retention.ms=-1``); delete topics keep records for ``retention_ms``.
Per-partner projections ``segflow.segments.partner.{partner_id}.v1`` are created on demand.
The dead-letter topic carries any rejected record with its original bytes and headers plus the
``dlq_*`` headers named here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

DAY_MS = 24 * 60 * 60 * 1000
HIGH_VOLUME_PARTITIONS = 6
DEFAULT_PARTITIONS = 3

ERP_ORDERS = "segflow.erp.orders.v1"
WMS_SHIPMENTS = "segflow.wms.shipments.v1"
WMS_INVENTORY = "segflow.wms.inventory.v1"
MDM_CUSTOMERS = "segflow.mdm.customers.v1"
MDM_PRODUCTS = "segflow.mdm.products.v1"
SEGMENTS_ASSIGNMENTS = "segflow.segments.assignments.v1"
SEGMENTS_CHANGES = "segflow.segments.changes.v1"
POLICY_PARAMETERS = "segflow.policy.parameters.v1"
KPI_ALERTS = "segflow.kpi.alerts.v1"
ALLOCATION_DECISIONS = "segflow.allocation.decisions.v1"
ALLOCATION_PROMISES = "segflow.allocation.promises.v1"
DLQ = "segflow.dlq.v1"

PARTNER_TOPIC_TEMPLATE = "segflow.segments.partner.{partner_id}.v1"
PARTNER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$", re.ASCII)
_PARTNER_TOPIC_RE = re.compile(r"^segflow\.segments\.partner\.([^.]+)\.v1$")

# Headers a dead-lettered record carries besides its original headers.
DLQ_HEADER_TOPIC = "dlq_topic"
DLQ_HEADER_PARTITION = "dlq_partition"
DLQ_HEADER_OFFSET = "dlq_offset"
DLQ_HEADER_ERROR = "dlq_error"
DLQ_HEADER_CONSUMER = "dlq_consumer"
DLQ_HEADER_FAILED_AT = "dlq_failed_at"
DLQ_HEADERS: tuple[str, ...] = (
    DLQ_HEADER_TOPIC,
    DLQ_HEADER_PARTITION,
    DLQ_HEADER_OFFSET,
    DLQ_HEADER_ERROR,
    DLQ_HEADER_CONSUMER,
    DLQ_HEADER_FAILED_AT,
)

Cleanup = Literal["delete", "compact"]


@dataclass(frozen=True)
class TopicSpec:
    """One Kafka topic: what keys it, how it is partitioned and cleaned, which events it carries."""

    name: str
    key: str
    partitions: int
    cleanup: Cleanup
    event_types: tuple[str, ...]
    retention_ms: int | None
    description: str
    producers: tuple[str, ...] = ()
    consumers: tuple[str, ...] = ()

    @property
    def retention_config(self) -> int:
        """The ``retention.ms`` topic config: -1 (forever) when ``retention_ms`` is None."""
        return -1 if self.retention_ms is None else self.retention_ms


def _t(name: str) -> str:
    return f"segflow.{name}"


_SPECS: tuple[TopicSpec, ...] = (
    TopicSpec(
        ERP_ORDERS,
        "order_id",
        HIGH_VOLUME_PARTITIONS,
        "delete",
        (_t("order.line.placed"), _t("order.line.changed"), _t("order.line.cancelled")),
        30 * DAY_MS,
        "Order lines from ERP systems (or CSV ingest): placed, changed, cancelled.",
        ("erp", "ingest"),
        ("classifier", "allocator", "policy", "audit"),
    ),
    TopicSpec(
        WMS_SHIPMENTS,
        "order_id",
        HIGH_VOLUME_PARTITIONS,
        "delete",
        (_t("shipment.line.shipped"), _t("shipment.line.delivered")),
        30 * DAY_MS,
        "Shipped and delivered order lines from warehouse and transport systems.",
        ("wms", "ingest"),
        ("classifier", "policy", "audit"),
    ),
    TopicSpec(
        WMS_INVENTORY,
        "sku@site",
        HIGH_VOLUME_PARTITIONS,
        "delete",
        (_t("inventory.position"), _t("inventory.receipt.scheduled")),
        7 * DAY_MS,
        "On-hand positions and scheduled receipts per stock point.",
        ("wms", "ingest"),
        ("allocator", "policy", "classifier", "audit"),
    ),
    TopicSpec(
        MDM_CUSTOMERS,
        "source:id",
        DEFAULT_PARTITIONS,
        "compact",
        (_t("customer.upserted"),),
        None,
        "Customer master records per source system (GLN/DUNS/VAT, hierarchy, region, partners).",
        ("mdm", "ingest"),
        ("classifier", "audit"),
    ),
    TopicSpec(
        MDM_PRODUCTS,
        "source:id",
        DEFAULT_PARTITIONS,
        "compact",
        (_t("product.upserted"),),
        None,
        "Product master records per source system (GTIN, UoM, lifecycle, lead time, cost, ERP MRP).",
        ("mdm", "ingest"),
        ("classifier", "policy", "audit"),
    ),
    TopicSpec(
        SEGMENTS_ASSIGNMENTS,
        "dimension:entity",
        HIGH_VOLUME_PARTITIONS,
        "compact",
        (_t("segment.assigned"),),
        None,
        "Current segment of every entity with its service policy; a tombstone retires an entity.",
        ("classifier",),
        ("allocator", "policy", "gateway", "audit"),
    ),
    TopicSpec(
        SEGMENTS_CHANGES,
        "dimension:entity",
        HIGH_VOLUME_PARTITIONS,
        "delete",
        (
            _t("segment.changed"),
            _t("override.requested"),
            _t("override.approved"),
            _t("override.rejected"),
            _t("override.expired"),
        ),
        90 * DAY_MS,
        "Every applied segment change with its reasons, and the override lifecycle.",
        ("classifier",),
        ("policy", "gateway", "audit"),
    ),
    TopicSpec(
        POLICY_PARAMETERS,
        "sku@site",
        DEFAULT_PARTITIONS,
        "compact",
        (_t("policy.published"),),
        None,
        "Published inventory policy per stock point (safety stock, reorder point, simulation summary).",
        ("policy",),
        ("allocator", "gateway", "audit"),
    ),
    TopicSpec(
        KPI_ALERTS,
        "segment:kpi",
        DEFAULT_PARTITIONS,
        "delete",
        (_t("kpi.alert.raised"), _t("kpi.alert.cleared")),
        90 * DAY_MS,
        "Service KPI alerts per segment: raised after k windows below target, cleared with hysteresis.",
        ("policy",),
        ("gateway", "audit"),
    ),
    TopicSpec(
        ALLOCATION_DECISIONS,
        "sku@site",
        HIGH_VOLUME_PARTITIONS,
        "delete",
        (_t("allocation.decided"),),
        30 * DAY_MS,
        "Per-line results of constrained allocation runs, each with its explanation.",
        ("allocator",),
        ("gateway", "audit"),
    ),
    TopicSpec(
        ALLOCATION_PROMISES,
        "order_id",
        HIGH_VOLUME_PARTITIONS,
        "delete",
        (_t("promise.made"), _t("promise.changed"), _t("promise.released")),
        30 * DAY_MS,
        "Order promises (confirmations by date), their changes after backorder runs and releases.",
        ("allocator",),
        ("policy", "gateway", "audit"),
    ),
    TopicSpec(
        DLQ,
        "original key",
        DEFAULT_PARTITIONS,
        "delete",
        (),
        30 * DAY_MS,
        "Rejected records: original key, bytes and headers plus dlq_topic/partition/offset/error headers.",
        ("classifier", "allocator", "policy", "audit", "gateway"),
        ("audit",),
    ),
)

CATALOG: dict[str, TopicSpec] = {spec.name: spec for spec in _SPECS}

PARTNER_EVENT_TYPES: tuple[str, ...] = (_t("segment.assigned"),)


def partner_topic(partner_id: str) -> str:
    """The per-3PL projection topic ``segflow.segments.partner.{partner_id}.v1``.

    A partner id is 1-64 ASCII letters, digits or dashes, starting with a letter or digit (no dots or
    underscores, so topic names stay unambiguous).
    """
    if not PARTNER_ID_RE.match(partner_id):
        raise ValueError(f"partner id {partner_id!r} must match {PARTNER_ID_RE.pattern}")
    return PARTNER_TOPIC_TEMPLATE.format(partner_id=partner_id)


def partner_topic_spec(partner_id: str) -> TopicSpec:
    """The spec of a partner's projection: compacted, keyed by dimension:entity, no financials."""
    return TopicSpec(
        name=partner_topic(partner_id),
        key="dimension:entity",
        partitions=DEFAULT_PARTITIONS,
        cleanup="compact",
        event_types=PARTNER_EVENT_TYPES,
        retention_ms=None,
        description=f"Segment assignments of partner {partner_id}'s entities only, without revenue, margin or cost.",
        producers=("classifier",),
        consumers=(f"partner {partner_id}", "gateway", "audit"),
    )


def partner_id_of(name: str) -> str | None:
    """The partner id of a partner topic name, or None when ``name`` is not one."""
    match = _PARTNER_TOPIC_RE.match(name)
    if not match or not PARTNER_ID_RE.match(match.group(1)):
        return None
    return match.group(1)


def spec_for(name: str) -> TopicSpec:
    """The spec of a catalog or partner topic; an unknown name raises ``KeyError``."""
    spec = CATALOG.get(name)
    if spec is not None:
        return spec
    partner_id = partner_id_of(name)
    if partner_id is not None:
        return partner_topic_spec(partner_id)
    raise KeyError(f"unknown topic {name!r}")


def all_topics(partner_ids: tuple[str, ...] | list[str] = ()) -> list[TopicSpec]:
    """Every catalog topic in catalog order, then the projections of ``partner_ids``."""
    return [*CATALOG.values(), *(partner_topic_spec(p) for p in partner_ids)]


def topics_for_event(event_type: str) -> list[str]:
    """Names of the catalog topics that carry ``event_type``."""
    return [spec.name for spec in _SPECS if event_type in spec.event_types]
