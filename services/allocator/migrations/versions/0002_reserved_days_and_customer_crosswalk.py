"""per-day reservation totals, the source -> golden customer crosswalk, order lines' customer source

Revision ID: 0002
"""

import datetime as dt
import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def _backfill_reserved_days() -> None:
    """Sum the confirmations of the promises in force (held or confirmed) into reserved_days."""
    promises = sa.table(
        "promises", sa.column("sku"), sa.column("site"), sa.column("segment"), sa.column("status"),
        sa.column("confirmations"),
    )  # fmt: skip
    totals: dict[tuple[str, str, str, dt.date], float] = {}
    rows = op.get_bind().execute(sa.select(promises).where(promises.c.status.in_(("held", "confirmed"))))
    for row in rows:
        for confirmation in json.loads(row.confirmations):
            key = (row.sku, row.site, row.segment or "", dt.date.fromisoformat(confirmation["date"]))
            totals[key] = totals.get(key, 0.0) + float(confirmation["quantity"])
    reserved = sa.table(
        "reserved_days", sa.column("sku"), sa.column("site"), sa.column("segment"), sa.column("day", sa.Date()),
        sa.column("quantity"),
    )  # fmt: skip
    values = [
        {"sku": sku, "site": site, "segment": segment, "day": day, "quantity": quantity}
        for (sku, site, segment, day), quantity in sorted(totals.items())
        if quantity > 1e-9
    ]
    if values:
        op.bulk_insert(reserved, values)


def upgrade() -> None:
    op.create_table(
        "reserved_days",
        sa.Column("sku", sa.String(256), primary_key=True),
        sa.Column("site", sa.String(256), primary_key=True),
        sa.Column("segment", sa.String(256), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("quantity", sa.Float(), nullable=False),
    )
    op.create_table(
        "customer_sources",
        sa.Column("source", sa.String(256), primary_key=True),
        sa.Column("source_id", sa.String(256), primary_key=True),
        sa.Column("golden_id", sa.String(600), nullable=False),
    )
    with op.batch_alter_table("order_lines") as batch:
        batch.add_column(sa.Column("customer_source", sa.String(256), nullable=True))
    op.create_index("ix_order_lines_customer", "order_lines", ["customer_source", "customer_id"])
    _backfill_reserved_days()


def downgrade() -> None:
    op.drop_index("ix_order_lines_customer", "order_lines")
    with op.batch_alter_table("order_lines") as batch:
        batch.drop_column("customer_source")
    op.drop_table("customer_sources")
    op.drop_table("reserved_days")
