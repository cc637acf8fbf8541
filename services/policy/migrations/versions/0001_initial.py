"""policy tables: inputs (orders, shipments, receipts, positions, products, assignments, promises),
proposals, computed and published parameters, KPI alert state, alerts, escalation paths.

Revision ID: 0001
"""

from alembic import op

from services.policy.tables import metadata
from services.runtime.migrate import create_runtime_tables

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_runtime_tables()
    bind = op.get_bind()
    metadata.create_all(bind)


def downgrade() -> None:
    metadata.drop_all(op.get_bind())
