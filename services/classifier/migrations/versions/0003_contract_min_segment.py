"""The contract floor a source system states as a segment name (``{"source", "name"}``: a standard segment or
the source's local name, mapped by the rule set's ``local_names`` at classification time).

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.add_column("customers", sa.Column("min_segment", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("min_segment")
