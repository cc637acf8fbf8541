"""Change counters of the KPI input tables (order lines, shipments, promises, assignments, products,
positions): one row per table, bumped by every transaction that writes it (services.policy.versions), so
the cached KPI reads of any replica know when their inputs changed.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "policy_data_versions",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("policy_data_versions")
