"""The classifier's tables (SQLAlchemy Core on one MetaData) and ``aware`` (SQLite's naive times as UTC);
the queries' INSERT ... ON CONFLICT statements come from services.runtime.upsert.

Tables are unqualified: on PostgreSQL the service's schema is on the search_path, on SQLite its own file.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
Time = DateTime(timezone=True)

customer_sources = Table(
    "customer_sources",
    metadata,
    Column("source", String(128), primary_key=True),
    Column("source_id", String(256), primary_key=True),
    Column("golden_id", String(300), nullable=False, index=True),
    Column("attributes", JSON, nullable=False),
    Column("updated_at", Time, nullable=False),
)
customers = Table(
    "customers",
    metadata,
    Column("golden_id", String(300), primary_key=True),
    Column("name", String(256)),
    Column("region", String(256)),
    Column("country", String(2)),
    Column("strategic", Boolean, nullable=False, default=False),
    Column("partner_ids", JSON, nullable=False),
    Column("account_owner", String(256)),
    Column("min_tier", Integer),
    Column("min_service_level", Float),
    Column("parents", JSON, nullable=False),
    Column("anonymous", Boolean, nullable=False, default=False),
    Column("updated_at", Time, nullable=False),
    Column("local_segment", JSON),
    Column("min_segment", JSON),
)
product_sources = Table(
    "product_sources",
    metadata,
    Column("source", String(128), primary_key=True),
    Column("source_id", String(256), primary_key=True),
    Column("golden_id", String(300), nullable=False, index=True),
    Column("attributes", JSON, nullable=False),
    Column("updated_at", Time, nullable=False),
)
products = Table(
    "products",
    metadata,
    Column("golden_id", String(300), primary_key=True),
    Column("name", String(256)),
    Column("base_uom", String(3), nullable=False),
    Column("uom_conversions", JSON, nullable=False),
    Column("lifecycle", String(16)),
    Column("launch_date", String(10)),
    Column("category", String(256)),
    Column("unit_cost", Float),
    Column("list_price", Float),
    Column("currency", String(3)),
    Column("supplier_id", String(256)),
    Column("lead_time_days", Float),
    Column("lead_time_std_days", Float),
    Column("updated_at", Time, nullable=False),
    Column("local_segment", JSON),
)
order_lines = Table(
    "order_lines",
    metadata,
    Column("order_id", String(256), primary_key=True),
    Column("line_id", String(256), primary_key=True),
    Column("customer_id", String(300), nullable=False),
    Column("product_id", String(300), nullable=False),
    Column("quantity", Float, nullable=False),
    Column("cancelled_quantity", Float, nullable=False),
    Column("shipped_quantity", Float, nullable=False),
    Column("unit_price", Float, nullable=False),
    Column("unit_cost", Float),
    Column("ordered_at", Time, nullable=False),
    Column("promo", Boolean, nullable=False),
    Column("project", Boolean, nullable=False),
)
demand_buckets = Table(
    "demand_buckets",
    metadata,
    Column("dimension", String(20), primary_key=True),
    Column("entity_id", String(600), primary_key=True),
    Column("grain", String(5), primary_key=True),
    Column("period", Integer, primary_key=True),
    Column("quantity", Float, nullable=False),
    Column("revenue", Float, nullable=False),
    Column("margin", Float, nullable=False),
    Column("missing_cost_lines", Integer, nullable=False),
    Column("lines", Integer, nullable=False),
    Column("promo_lines", Integer, nullable=False),
    Column("project_lines", Integer, nullable=False),
    Column("shipped_quantity", Float, nullable=False),
)
supplier_receipts = Table(
    "supplier_receipts",
    metadata,
    Column("receipt_id", String(256), primary_key=True),
    Column("supplier_id", String(256), nullable=False, index=True),
    Column("sku", String(256), nullable=False),
    Column("due_date", String(10), nullable=False),
    Column("scheduled_date", String(10)),
    Column("ordered_date", String(10)),
    Column("received_date", String(10)),
)
stream_state = Table(
    "stream_state",
    metadata,
    Column("stream", String(64), primary_key=True),
    Column("max_event_time", Time),
    Column("last_processed_at", Time),
    Column("events", BigInteger, nullable=False),
)
rulesets = Table(
    "rulesets",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("name", String(256), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("body", JSON, nullable=False),
    Column("schedule", String(16)),
    Column("active", Boolean, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("created_at", Time, nullable=False),
)
ruleset_history = Table(
    "ruleset_history",
    metadata,
    Column("seq", BigIntPK, primary_key=True, autoincrement=True),
    Column("version", Integer, nullable=False),
    Column("action", String(32), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("at", Time, nullable=False),
    Column("detail", JSON, nullable=False),
)
runs = Table(
    "runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("dimension", String(20), nullable=False),
    Column("ruleset_version", Integer, nullable=False),
    Column("ruleset_hash", String(64), nullable=False),
    Column("engine_version", String(32)),
    Column("status", String(16), nullable=False),
    Column("progress", Float, nullable=False),
    Column("stage", String(64)),
    Column("trigger", String(32), nullable=False),
    Column("requested_by", String(256)),
    Column("created_at", Time, nullable=False),
    Column("finished_at", Time),
    Column("data_cutoff", Time),
    Column("stream_lag", JSON),
    Column("counts", JSON),
    Column("migration", JSON),
    Column("notes", JSON),
    Column("error", Text),
)
assignments = Table(
    "assignments",
    metadata,
    Column("dimension", String(20), primary_key=True),
    Column("entity_id", String(600), primary_key=True),
    Column("segment", String(64), nullable=False, index=True),
    Column("computed_segment", String(64), nullable=False),
    Column("tier", Integer, nullable=False),
    Column("abc", String(1)),
    Column("xyz", String(1)),
    Column("pattern", String(16)),
    Column("region", String(256)),
    Column("name", String(256)),
    Column("pending_segment", String(64)),
    Column("pending_runs", Integer, nullable=False),
    Column("overridden", Boolean, nullable=False),
    Column("revenue", Float),
    Column("margin", Float),
    Column("explanation", JSON, nullable=False),
    Column("service_policy", JSON, nullable=False),
    Column("partner_ids", JSON, nullable=False),
    Column("ruleset_version", Integer, nullable=False),
    Column("ruleset_hash", String(64), nullable=False),
    Column("run_id", String(64)),
    Column("updated_at", Time, nullable=False),
)
assignment_history = Table(
    "assignment_history",
    metadata,
    Column("seq", BigIntPK, primary_key=True, autoincrement=True),
    Column("dimension", String(20), nullable=False),
    Column("entity_id", String(600), nullable=False),
    Column("at", Time, nullable=False),
    Column("old_segment", String(64)),
    Column("new_segment", String(64)),
    Column("reasons", JSON, nullable=False),
    Column("run_id", String(64)),
)
Index("ix_assignment_history_entity", assignment_history.c.dimension, assignment_history.c.entity_id)
overrides = Table(
    "overrides",
    metadata,
    Column("override_id", String(64), primary_key=True),
    Column("dimension", String(20), nullable=False),
    Column("entity_id", String(600), nullable=False),
    Column("segment", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("requested_by", String(256), nullable=False),
    Column("requested_at", Time, nullable=False),
    Column("expires_at", Time, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("decided_by", String(256)),
    Column("decided_at", Time),
    Column("decision_note", Text),
)

BUCKET_VALUES = (
    "quantity",
    "revenue",
    "margin",
    "missing_cost_lines",
    "lines",
    "promo_lines",
    "project_lines",
    "shipped_quantity",
)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes: every stored time is UTC."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
