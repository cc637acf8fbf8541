"""Product line (category from product master data) on products, for KPIs by product line; the segment
changes of reclassification runs (segment.changed), for the cohort analysis; the incremental KPI
evaluation's line cache, its dirty-order queue and an index for the data clock (latest delivery date).

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.add_column("policy_products", sa.Column("category", sa.String(256), nullable=True))
    op.create_table(
        "policy_segment_changes",
        sa.Column("run_id", sa.String(256), primary_key=True),
        sa.Column("dimension", sa.String(32), primary_key=True),
        sa.Column("entity_id", sa.String(256), primary_key=True),
        sa.Column("old_segment", sa.String(256), nullable=True),
        sa.Column("new_segment", sa.String(256), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "policy_kpi_lines",
        sa.Column("order_id", sa.String(256), primary_key=True),
        sa.Column("line_id", sa.String(256), primary_key=True),
        sa.Column("sku", sa.String(256), nullable=False),
        sa.Column("region", sa.String(256), nullable=True),
        sa.Column("due_week", sa.Integer(), nullable=False),
        sa.Column("ordered", sa.Float(), nullable=False),
        sa.Column("shipped", sa.Float(), nullable=False),
        sa.Column("delivered_day", sa.Integer(), nullable=True),
        sa.Column("promised_day", sa.Integer(), nullable=True),
        sa.Column("requested_day", sa.Integer(), nullable=True),
    )
    op.create_index("ix_policy_kpi_lines_due_week", "policy_kpi_lines", ["due_week"])
    op.create_table(
        "policy_kpi_dirty",
        sa.Column("order_id", sa.String(256), primary_key=True),
        sa.Column("token", sa.String(64), nullable=False),
    )
    op.create_index("ix_policy_shipments_delivered_date", "policy_shipments", ["delivered_date"])


def downgrade() -> None:
    op.drop_index("ix_policy_shipments_delivered_date", "policy_shipments")
    op.drop_table("policy_kpi_dirty")
    op.drop_index("ix_policy_kpi_lines_due_week", "policy_kpi_lines")
    op.drop_table("policy_kpi_lines")
    op.drop_table("policy_segment_changes")
    op.drop_column("policy_products", "category")
