"""The policy service's tables (SQLAlchemy Core on one MetaData; unqualified: schema or file per service)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

order_lines = Table(
    "policy_order_lines",
    metadata,
    Column("order_id", String(256), primary_key=True),
    Column("line_id", String(256), primary_key=True),
    Column("sku", String(256), nullable=False, index=True),
    Column("site", String(256), nullable=False),
    Column("customer_id", String(256), nullable=False),
    Column("region", String(256), nullable=True),
    Column("quantity", Float, nullable=False),
    Column("cancelled_quantity", Float, nullable=False, default=0.0),
    Column("requested_date", Date, nullable=False),
    Column("promised_date", Date, nullable=True),
    Column("ordered_at", DateTime(timezone=True), nullable=False),
    Column("ordered_week", Integer, nullable=False),
)
shipments = Table(
    "policy_shipments",
    metadata,
    Column("order_id", String(256), primary_key=True),
    Column("line_id", String(256), primary_key=True),
    Column("shipment_key", String(256), primary_key=True),
    Column("sku", String(256), nullable=False),
    Column("site", String(256), nullable=False),
    Column("customer_id", String(256), nullable=True),
    Column("shipped_quantity", Float, nullable=True),
    Column("delivered_quantity", Float, nullable=True),
    Column("delivered_date", Date, nullable=True, index=True),  # index: revision 0002 (the data clock)
    Column("scheduled_date", Date, nullable=True),
    Column("freight_cost", Float, nullable=True),
    Column("handling_cost", Float, nullable=True),
)
receipts = Table(
    "policy_receipts",
    metadata,
    Column("receipt_id", String(256), primary_key=True),
    Column("sku", String(256), nullable=False, index=True),
    Column("site", String(256), nullable=False),
    Column("ordered_date", Date, nullable=True),
    Column("scheduled_date", Date, nullable=True),
    Column("due_date", Date, nullable=False),
    Column("received_date", Date, nullable=True),
)
positions = Table(
    "policy_positions",
    metadata,
    Column("sku", String(256), primary_key=True),
    Column("site", String(256), primary_key=True),
    Column("as_of", DateTime(timezone=True), primary_key=True),
    Column("on_hand", Float, nullable=False),
)
products = Table(
    "policy_products",
    metadata,
    Column("sku", String(256), primary_key=True),
    Column("source", String(256), nullable=False),
    Column("base_uom", String(8), nullable=False),
    Column("conversions", JSON, nullable=False),
    Column("lead_time_days", Float, nullable=True),
    Column("lead_time_std_days", Float, nullable=True),
    Column("unit_cost", Float, nullable=True),
    Column("erp_safety_stock", Float, nullable=True),
    Column("erp_reorder_point", Float, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("category", String(256), nullable=True),  # the product line (revision 0002)
)
assignments = Table(
    "policy_assignments",
    metadata,
    Column("entity_id", String(256), primary_key=True),
    Column("segment", String(256), nullable=False, index=True),
    Column("tier", Integer, nullable=False),
    Column("service_level_type", String(16), nullable=False),
    Column("service_level_target", Float, nullable=False),
    Column("otif_target", Float, nullable=False),
    Column("pattern", String(32), nullable=True),
    Column("valid_from", DateTime(timezone=True), nullable=False),
)
promises = Table(
    "policy_promises",
    metadata,
    Column("promise_id", String(256), primary_key=True),
    Column("order_id", String(256), nullable=True, index=True),
    Column("sku", String(256), nullable=False),
    Column("promised_date", Date, nullable=True),
    Column("released", Boolean, nullable=False, default=False),
)
proposals = Table(
    "policy_proposals",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("progress", Float, nullable=False),
    Column("request", JSON, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("passed", Boolean, nullable=True),
    Column("items", JSON, nullable=True),
    Column("skipped", JSON, nullable=True),
    Column("error", Text, nullable=True),
    Column("published_at", DateTime(timezone=True), nullable=True),
    Column("published_by", String(256), nullable=True),
)
computed = Table(
    "policy_computed",
    metadata,
    Column("sku", String(256), primary_key=True),
    Column("site", String(256), primary_key=True),
    Column("segment", String(256), nullable=True),
    Column("safety_stock", Float, nullable=False),
    Column("reorder_point", Float, nullable=False),
    Column("proposal_id", String(64), nullable=False),
    Column("computed_at", DateTime(timezone=True), nullable=False),
)
parameters = Table(
    "policy_parameters",
    metadata,
    Column("sku", String(256), primary_key=True),
    Column("site", String(256), primary_key=True),
    Column("segment", String(256), nullable=True, index=True),
    Column("payload", JSON, nullable=False),
    Column("proposal_id", String(64), nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False),
)
alert_state = Table(
    "policy_alert_state",
    metadata,
    Column("segment", String(256), primary_key=True),
    Column("kpi", String(32), primary_key=True),
    Column("ewma", Float, nullable=True),
    Column("below_run", Integer, nullable=False),
    Column("recovered_run", Integer, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("last_week", Integer, nullable=False),
)
alerts = Table(
    "policy_alerts",
    metadata,
    Column("id", String(512), primary_key=True),
    Column("segment", String(256), nullable=False),
    Column("kpi", String(32), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("value", Float, nullable=False),
    Column("target", Float, nullable=False),
    Column("windows_below", Integer, nullable=False),
    Column("escalation", JSON, nullable=False),
    Column("raised_week", Integer, nullable=False),
    Column("raised_at", DateTime(timezone=True), nullable=False),
    Column("cleared_at", DateTime(timezone=True), nullable=True),
)
escalation_paths = Table(
    "policy_escalation_paths",
    metadata,
    Column("segment", String(256), primary_key=True),
    Column("path", JSON, nullable=False),
)
segment_changes = Table(  # revision 0002: applied changes of a reclassification run, per entity
    "policy_segment_changes",
    metadata,
    Column("run_id", String(256), primary_key=True),  # "-" when the change carried no run id
    Column("dimension", String(32), primary_key=True),
    Column("entity_id", String(256), primary_key=True),
    Column("old_segment", String(256), nullable=True),
    Column("new_segment", String(256), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)
kpi_lines = Table(  # revision 0002: per KPI line outcome inputs, refreshed for the orders touched
    "policy_kpi_lines",
    metadata,
    Column("order_id", String(256), primary_key=True),
    Column("line_id", String(256), primary_key=True),
    Column("sku", String(256), nullable=False),
    Column("region", String(256), nullable=True),
    Column("due_week", Integer, nullable=False, index=True),
    Column("ordered", Float, nullable=False),
    Column("shipped", Float, nullable=False),
    Column("delivered_day", Integer, nullable=True),
    Column("promised_day", Integer, nullable=True),
    Column("requested_day", Integer, nullable=True),
)
kpi_dirty = Table(  # revision 0002: orders whose KPI lines must be refreshed before the next evaluation
    "policy_kpi_dirty",
    metadata,
    Column("order_id", String(256), primary_key=True),
    Column("token", String(64), nullable=False),  # the marking event's id: a re-mark is never lost
)
data_versions = Table(  # revision 0003: change counters of the KPI input tables (services.policy.versions)
    "policy_data_versions",
    metadata,
    Column("name", String(64), primary_key=True),  # the counted table's name
    Column("version", BigInteger, nullable=False),  # +1 per committed transaction that wrote the table
)
