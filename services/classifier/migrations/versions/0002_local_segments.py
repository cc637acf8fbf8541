"""The local segment a source system gives a customer or product (``{"source", "name"}``, mapped to the
standard taxonomy by the rule set's ``local_names`` at classification time).

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.add_column("customers", sa.Column("local_segment", sa.JSON, nullable=True))
    op.add_column("products", sa.Column("local_segment", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("products") as batch:
        batch.drop_column("local_segment")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("local_segment")
