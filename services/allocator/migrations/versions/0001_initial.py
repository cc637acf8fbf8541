"""allocator tables: supply picture, demand, customers, stock points, promises, quotas, runs

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from services.runtime.migrate import create_runtime_tables

revision = "0001"
down_revision = None

TABLES = (
    "allocation_decisions", "backorder_runs", "customers", "order_lines", "positions", "promises", "quotas",
    "receipts", "stock_points",
)  # fmt: skip


def upgrade() -> None:
    create_runtime_tables()
    op.create_table(
        "allocation_decisions",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("order_id", sa.String(256), primary_key=True),
        sa.Column("line_id", sa.String(256), primary_key=True),
        sa.Column("sku", sa.String(256), nullable=False),
        sa.Column("site", sa.String(256), nullable=False),
        sa.Column("customer_id", sa.String(256), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("requested", sa.Float(), nullable=False),
        sa.Column("allocated", sa.Float(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_decisions_point", "allocation_decisions", ["sku", "site", "decided_at"])
    op.create_table(
        "backorder_runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sku", sa.String(256), nullable=True),
        sa.Column("site", sa.String(256), nullable=True),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.Column("stock_points", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_table(
        "customers",
        sa.Column("entity_id", sa.String(600), primary_key=True),
        sa.Column("segment", sa.String(256), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("strategy", sa.String(16), nullable=False),
        sa.Column("region", sa.String(256), nullable=True),
        sa.Column("retired", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "order_lines",
        sa.Column("order_id", sa.String(256), primary_key=True),
        sa.Column("line_id", sa.String(256), primary_key=True),
        sa.Column("customer_id", sa.String(256), nullable=False),
        sa.Column("customer_key", sa.String(600), nullable=False),
        sa.Column("sku", sa.String(256), nullable=False),
        sa.Column("site", sa.String(256), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("requested_date", sa.Date(), nullable=False),
        sa.Column("ordered_at", sa.Float(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_index("ix_order_lines_point", "order_lines", ["sku", "site", "status"])
    op.create_table(
        "positions",
        sa.Column("sku", sa.String(256), primary_key=True),
        sa.Column("site", sa.String(256), primary_key=True),
        sa.Column("on_hand", sa.Float(), nullable=False),
        sa.Column("as_of", sa.Float(), nullable=False),
    )
    op.create_table(
        "promises",
        sa.Column("promise_id", sa.String(64), primary_key=True),
        sa.Column("idempotency_key", sa.String(256), nullable=False, unique=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(256), nullable=False),
        sa.Column("sku", sa.String(256), nullable=False),
        sa.Column("site", sa.String(256), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("requested_date", sa.Date(), nullable=False),
        sa.Column("reserve", sa.Boolean(), nullable=False),
        sa.Column("segment", sa.String(256), nullable=True),
        sa.Column("tier", sa.Integer(), nullable=True),
        sa.Column("strategy", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("confirmations", sa.Text(), nullable=False),
        sa.Column("confirmed", sa.Float(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
    )
    op.create_index("ix_promises_expiry", "promises", ["status", "expires_at"])
    op.create_index("ix_promises_point", "promises", ["sku", "site", "status"])
    op.create_table(
        "quotas",
        sa.Column("quota_id", sa.String(64), primary_key=True),
        sa.Column("segment", sa.String(256), nullable=False),
        sa.Column("region", sa.String(256), nullable=True),
        sa.Column("channel", sa.String(256), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("basis", sa.String(16), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(32), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "receipts",
        sa.Column("receipt_id", sa.String(256), primary_key=True),
        sa.Column("sku", sa.String(256), nullable=False),
        sa.Column("site", sa.String(256), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("received", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_receipts_point", "receipts", ["sku", "site"])
    op.create_table(
        "stock_points",
        sa.Column("sku", sa.String(256), primary_key=True),
        sa.Column("site", sa.String(256), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("dirty", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
    op.drop_table("inbox")
    op.drop_table("outbox")
