"""ledger tables

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
        "ledger_totals",
        sa.Column("sku", sa.String(128), primary_key=True),
        sa.Column("quantity", sa.Float, nullable=False),
        sa.Column("lines", sa.Integer, nullable=False),
    )
    op.create_table(
        "ledger_echoes",
        sa.Column("entity_id", sa.String(128), primary_key=True),
        sa.Column("segment", sa.String(32), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ledger_echoes")
    op.drop_table("ledger_totals")
