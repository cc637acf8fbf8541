"""classifier tables: master data, order lines, demand buckets, receipts, rule sets, runs, assignments,
overrides

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from services.runtime.migrate import create_runtime_tables

revision = "0001"
down_revision = None

TIME = sa.DateTime(timezone=True)
BIG_INT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    create_runtime_tables()
    op.create_table(
        "customer_sources",
        sa.Column("source", sa.String(128), primary_key=True),
        sa.Column("source_id", sa.String(256), primary_key=True),
        sa.Column("golden_id", sa.String(300), nullable=False, index=True),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_table(
        "customers",
        sa.Column("golden_id", sa.String(300), primary_key=True),
        sa.Column("name", sa.String(256)),
        sa.Column("region", sa.String(256)),
        sa.Column("country", sa.String(2)),
        sa.Column("strategic", sa.Boolean, nullable=False, default=False),
        sa.Column("partner_ids", sa.JSON, nullable=False),
        sa.Column("account_owner", sa.String(256)),
        sa.Column("min_tier", sa.Integer),
        sa.Column("min_service_level", sa.Float),
        sa.Column("parents", sa.JSON, nullable=False),
        sa.Column("anonymous", sa.Boolean, nullable=False, default=False),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_table(
        "product_sources",
        sa.Column("source", sa.String(128), primary_key=True),
        sa.Column("source_id", sa.String(256), primary_key=True),
        sa.Column("golden_id", sa.String(300), nullable=False, index=True),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_table(
        "products",
        sa.Column("golden_id", sa.String(300), primary_key=True),
        sa.Column("name", sa.String(256)),
        sa.Column("base_uom", sa.String(3), nullable=False),
        sa.Column("uom_conversions", sa.JSON, nullable=False),
        sa.Column("lifecycle", sa.String(16)),
        sa.Column("launch_date", sa.String(10)),
        sa.Column("category", sa.String(256)),
        sa.Column("unit_cost", sa.Float),
        sa.Column("list_price", sa.Float),
        sa.Column("currency", sa.String(3)),
        sa.Column("supplier_id", sa.String(256)),
        sa.Column("lead_time_days", sa.Float),
        sa.Column("lead_time_std_days", sa.Float),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_table(
        "order_lines",
        sa.Column("order_id", sa.String(256), primary_key=True),
        sa.Column("line_id", sa.String(256), primary_key=True),
        sa.Column("customer_id", sa.String(300), nullable=False),
        sa.Column("product_id", sa.String(300), nullable=False),
        sa.Column("quantity", sa.Float, nullable=False),
        sa.Column("cancelled_quantity", sa.Float, nullable=False),
        sa.Column("shipped_quantity", sa.Float, nullable=False),
        sa.Column("unit_price", sa.Float, nullable=False),
        sa.Column("unit_cost", sa.Float),
        sa.Column("ordered_at", TIME, nullable=False),
        sa.Column("promo", sa.Boolean, nullable=False),
        sa.Column("project", sa.Boolean, nullable=False),
    )
    op.create_table(
        "demand_buckets",
        sa.Column("dimension", sa.String(20), primary_key=True),
        sa.Column("entity_id", sa.String(600), primary_key=True),
        sa.Column("grain", sa.String(5), primary_key=True),
        sa.Column("period", sa.Integer, primary_key=True),
        sa.Column("quantity", sa.Float, nullable=False),
        sa.Column("revenue", sa.Float, nullable=False),
        sa.Column("margin", sa.Float, nullable=False),
        sa.Column("missing_cost_lines", sa.Integer, nullable=False),
        sa.Column("lines", sa.Integer, nullable=False),
        sa.Column("promo_lines", sa.Integer, nullable=False),
        sa.Column("project_lines", sa.Integer, nullable=False),
        sa.Column("shipped_quantity", sa.Float, nullable=False),
    )
    op.create_table(
        "supplier_receipts",
        sa.Column("receipt_id", sa.String(256), primary_key=True),
        sa.Column("supplier_id", sa.String(256), nullable=False, index=True),
        sa.Column("sku", sa.String(256), nullable=False),
        sa.Column("due_date", sa.String(10), nullable=False),
        sa.Column("scheduled_date", sa.String(10)),
        sa.Column("ordered_date", sa.String(10)),
        sa.Column("received_date", sa.String(10)),
    )
    op.create_table(
        "stream_state",
        sa.Column("stream", sa.String(64), primary_key=True),
        sa.Column("max_event_time", TIME),
        sa.Column("last_processed_at", TIME),
        sa.Column("events", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "rulesets",
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("schedule", sa.String(16)),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_table(
        "ruleset_history",
        sa.Column("seq", BIG_INT_PK, primary_key=True, autoincrement=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("dimension", sa.String(20), nullable=False),
        sa.Column("ruleset_version", sa.Integer, nullable=False),
        sa.Column("ruleset_hash", sa.String(64), nullable=False),
        sa.Column("engine_version", sa.String(32)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("stage", sa.String(64)),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("requested_by", sa.String(256)),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("finished_at", TIME),
        sa.Column("data_cutoff", TIME),
        sa.Column("stream_lag", sa.JSON),
        sa.Column("counts", sa.JSON),
        sa.Column("migration", sa.JSON),
        sa.Column("notes", sa.JSON),
        sa.Column("error", sa.Text),
    )
    op.create_table(
        "assignments",
        sa.Column("dimension", sa.String(20), primary_key=True),
        sa.Column("entity_id", sa.String(600), primary_key=True),
        sa.Column("segment", sa.String(64), nullable=False, index=True),
        sa.Column("computed_segment", sa.String(64), nullable=False),
        sa.Column("tier", sa.Integer, nullable=False),
        sa.Column("abc", sa.String(1)),
        sa.Column("xyz", sa.String(1)),
        sa.Column("pattern", sa.String(16)),
        sa.Column("region", sa.String(256)),
        sa.Column("name", sa.String(256)),
        sa.Column("pending_segment", sa.String(64)),
        sa.Column("pending_runs", sa.Integer, nullable=False),
        sa.Column("overridden", sa.Boolean, nullable=False),
        sa.Column("revenue", sa.Float),
        sa.Column("margin", sa.Float),
        sa.Column("explanation", sa.JSON, nullable=False),
        sa.Column("service_policy", sa.JSON, nullable=False),
        sa.Column("partner_ids", sa.JSON, nullable=False),
        sa.Column("ruleset_version", sa.Integer, nullable=False),
        sa.Column("ruleset_hash", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_table(
        "assignment_history",
        sa.Column("seq", BIG_INT_PK, primary_key=True, autoincrement=True),
        sa.Column("dimension", sa.String(20), nullable=False),
        sa.Column("entity_id", sa.String(600), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("old_segment", sa.String(64)),
        sa.Column("new_segment", sa.String(64)),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("run_id", sa.String(64)),
    )
    op.create_index("ix_assignment_history_entity", "assignment_history", ["dimension", "entity_id"])
    op.create_table(
        "overrides",
        sa.Column("override_id", sa.String(64), primary_key=True),
        sa.Column("dimension", sa.String(20), nullable=False),
        sa.Column("entity_id", sa.String(600), nullable=False),
        sa.Column("segment", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("requested_by", sa.String(256), nullable=False),
        sa.Column("requested_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("decided_by", sa.String(256)),
        sa.Column("decided_at", TIME),
        sa.Column("decision_note", sa.Text),
    )


def downgrade() -> None:
    for table in ("overrides", "assignment_history", "assignments", "runs", "ruleset_history", "rulesets",
                  "stream_state", "supplier_receipts", "demand_buckets", "order_lines", "products",
                  "product_sources", "customers", "customer_sources", "inbox", "outbox"):
        op.drop_table(table)
