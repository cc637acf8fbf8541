"""allocator tables: supply picture, demand, customers, stock points, promises, quotas, runs

Revision ID: 0001
"""

from alembic import op

from services.allocator import store
from services.runtime.migrate import create_runtime_tables

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_runtime_tables()
    for table in store.metadata.sorted_tables:
        op.create_table(table.name, *[column._copy() for column in table.columns])
        for index in table.indexes:
            op.create_index(index.name, table.name, [c.name for c in index.columns], unique=index.unique)


def downgrade() -> None:
    for table in reversed(store.metadata.sorted_tables):
        op.drop_table(table.name)
