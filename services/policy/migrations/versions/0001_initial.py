"""policy tables: inputs (orders, shipments, receipts, positions, products, assignments, promises),
proposals, computed and published parameters, KPI alert state, alerts, escalation paths.

Explicit DDL (no metadata.create_all): this revision is frozen; later table changes are new revisions.
tests/unit/policy/test_migrations.py checks that head equals services.policy.tables.metadata.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from services.runtime.migrate import create_runtime_tables

revision = "0001"
down_revision = None

KEY = 256


def _key(name: str, primary: bool = False, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(KEY), primary_key=primary, nullable=nullable and not primary)


def upgrade() -> None:
    create_runtime_tables()
    op.create_table(
        "policy_order_lines",
        _key("order_id", True),
        _key("line_id", True),
        _key("sku"),
        _key("site"),
        _key("customer_id"),
        _key("region", nullable=True),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("cancelled_quantity", sa.Float(), nullable=False),
        sa.Column("requested_date", sa.Date(), nullable=False),
        sa.Column("promised_date", sa.Date(), nullable=True),
        sa.Column("ordered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ordered_week", sa.Integer(), nullable=False),
    )
    op.create_index("ix_policy_order_lines_sku", "policy_order_lines", ["sku"])
    op.create_table(
        "policy_shipments",
        _key("order_id", True),
        _key("line_id", True),
        _key("shipment_key", True),
        _key("sku"),
        _key("site"),
        _key("customer_id", nullable=True),
        sa.Column("shipped_quantity", sa.Float(), nullable=True),
        sa.Column("delivered_quantity", sa.Float(), nullable=True),
        sa.Column("delivered_date", sa.Date(), nullable=True),
        sa.Column("scheduled_date", sa.Date(), nullable=True),
        sa.Column("freight_cost", sa.Float(), nullable=True),
        sa.Column("handling_cost", sa.Float(), nullable=True),
    )
    op.create_table(
        "policy_receipts",
        _key("receipt_id", True),
        _key("sku"),
        _key("site"),
        sa.Column("ordered_date", sa.Date(), nullable=True),
        sa.Column("scheduled_date", sa.Date(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("received_date", sa.Date(), nullable=True),
    )
    op.create_index("ix_policy_receipts_sku", "policy_receipts", ["sku"])
    op.create_table(
        "policy_positions",
        _key("sku", True),
        _key("site", True),
        sa.Column("as_of", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("on_hand", sa.Float(), nullable=False),
    )
    op.create_table(
        "policy_products",
        _key("sku", True),
        _key("source"),
        sa.Column("base_uom", sa.String(8), nullable=False),
        sa.Column("conversions", sa.JSON(), nullable=False),
        sa.Column("lead_time_days", sa.Float(), nullable=True),
        sa.Column("lead_time_std_days", sa.Float(), nullable=True),
        sa.Column("unit_cost", sa.Float(), nullable=True),
        sa.Column("erp_safety_stock", sa.Float(), nullable=True),
        sa.Column("erp_reorder_point", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "policy_assignments",
        _key("entity_id", True),
        _key("segment"),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("service_level_type", sa.String(16), nullable=False),
        sa.Column("service_level_target", sa.Float(), nullable=False),
        sa.Column("otif_target", sa.Float(), nullable=False),
        sa.Column("pattern", sa.String(32), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_policy_assignments_segment", "policy_assignments", ["segment"])
    op.create_table(
        "policy_promises",
        _key("promise_id", True),
        _key("order_id", nullable=True),
        _key("sku"),
        sa.Column("promised_date", sa.Date(), nullable=True),
        sa.Column("released", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_policy_promises_order_id", "policy_promises", ["order_id"])
    op.create_table(
        "policy_proposals",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        _key("created_by"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("items", sa.JSON(), nullable=True),
        sa.Column("skipped", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        _key("published_by", nullable=True),
    )
    op.create_table(
        "policy_computed",
        _key("sku", True),
        _key("site", True),
        _key("segment", nullable=True),
        sa.Column("safety_stock", sa.Float(), nullable=False),
        sa.Column("reorder_point", sa.Float(), nullable=False),
        sa.Column("proposal_id", sa.String(64), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "policy_parameters",
        _key("sku", True),
        _key("site", True),
        _key("segment", nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("proposal_id", sa.String(64), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_policy_parameters_segment", "policy_parameters", ["segment"])
    op.create_table(
        "policy_alert_state",
        _key("segment", True),
        sa.Column("kpi", sa.String(32), primary_key=True),
        sa.Column("ewma", sa.Float(), nullable=True),
        sa.Column("below_run", sa.Integer(), nullable=False),
        sa.Column("recovered_run", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("last_week", sa.Integer(), nullable=False),
    )
    op.create_table(
        "policy_alerts",
        sa.Column("id", sa.String(512), primary_key=True),
        _key("segment"),
        sa.Column("kpi", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("target", sa.Float(), nullable=False),
        sa.Column("windows_below", sa.Integer(), nullable=False),
        sa.Column("escalation", sa.JSON(), nullable=False),
        sa.Column("raised_week", sa.Integer(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_policy_alerts_status", "policy_alerts", ["status"])
    op.create_table(
        "policy_escalation_paths",
        _key("segment", True),
        sa.Column("path", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "policy_escalation_paths",
        "policy_alerts",
        "policy_alert_state",
        "policy_parameters",
        "policy_computed",
        "policy_proposals",
        "policy_promises",
        "policy_assignments",
        "policy_products",
        "policy_positions",
        "policy_receipts",
        "policy_shipments",
        "policy_order_lines",
        "inbox",
        "outbox",
    ):
        op.drop_table(table)
