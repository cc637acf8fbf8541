"""gateway read model, partner feed, webhooks and ATP snapshots

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from services.runtime.migrate import create_runtime_tables

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_runtime_tables()
    op.create_table(
        "gw_assignments",
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("dimension", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.String(256), nullable=False),
        sa.Column("segment", sa.String(256), nullable=False),
        sa.Column("tier", sa.Integer, nullable=False),
        sa.Column("partner_ids", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("valid_from", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_gw_assignments_segment", "gw_assignments", ["dimension", "segment"])
    op.create_table(
        "gw_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(200), nullable=False, unique=True),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("old_segment", sa.String(256)),
        sa.Column("new_segment", sa.String(256)),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
    )
    op.create_index("ix_gw_changes_key", "gw_changes", ["key", "at"])
    op.create_table(
        "gw_feed",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("op", sa.String(16), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
    )
    op.create_index("ix_gw_feed_partner_seq", "gw_feed", ["partner_id", "seq"])
    op.create_table(
        "gw_webhooks",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("partner_id", sa.String(64), nullable=False, index=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "gw_deliveries",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("webhook_id", sa.String(40), nullable=False),
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("feed_seq", sa.Integer, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("delivered_at", sa.String(40)),
    )
    op.create_index("ix_gw_deliveries_due", "gw_deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_gw_deliveries_partner", "gw_deliveries", ["partner_id", "status"])
    op.create_table(
        "gw_atp_snapshots",
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("buckets", sa.Text, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    for table in ("gw_atp_snapshots", "gw_deliveries", "gw_webhooks", "gw_feed", "gw_changes", "gw_assignments"):
        op.drop_table(table)
