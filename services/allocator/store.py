"""The allocator's tables (SQLAlchemy Core, PostgreSQL and SQLite alike) and ``is_postgres``, the dialect
test its queries share (their INSERT ... ON CONFLICT statements come from services.runtime.upsert). The
queries live by concern: store_supply.py (supply, demand, customers), store_points.py (the sku@site rows:
lock, version, backorder flag), store_promises.py (promises and quotas), store_reserved.py (per-day
reservation totals, customer crosswalk), store_runs.py (allocation decisions, backorder runs).

Tables: the supply picture (positions, receipts), demand (order_lines), customers' segments and the
source -> golden customer crosswalk, one ``stock_points`` row per sku@site (the row promises lock, and the
"needs backorder processing" flag, and a
``version`` every writer of the sku@site's picture bumps in its transaction, so a cached picture can be
validated by one number), promises (reservations keyed by idempotency key) with their per-day
totals (``reserved_days``, see store_reserved.py), quotas, allocation runs and decisions, backorder runs.
Times are stored as epoch seconds (floats) so both dialects compare them the same way.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

metadata = MetaData()
ACTIVE = ("held", "confirmed")

positions = Table(
    "positions",
    metadata,
    Column("sku", String(256), primary_key=True),
    Column("site", String(256), primary_key=True),
    Column("on_hand", Float, nullable=False),
    Column("as_of", Float, nullable=False),
)
receipts = Table(
    "receipts",
    metadata,
    Column("receipt_id", String(256), primary_key=True),
    Column("sku", String(256), nullable=False),
    Column("site", String(256), nullable=False),
    Column("quantity", Float, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("received", Boolean, nullable=False),
    Index("ix_receipts_point", "sku", "site"),
)
order_lines = Table(
    "order_lines",
    metadata,
    Column("order_id", String(256), primary_key=True),
    Column("line_id", String(256), primary_key=True),
    Column("customer_id", String(256), nullable=False),
    Column("customer_key", String(600), nullable=False),
    Column("sku", String(256), nullable=False),
    Column("site", String(256), nullable=False),
    Column("quantity", Float, nullable=False),
    Column("requested_date", Date, nullable=False),
    Column("ordered_at", Float, nullable=False),
    Column("status", String(16), nullable=False),
    Column("customer_source", String(256), nullable=True),
    Index("ix_order_lines_point", "sku", "site", "status"),
    Index("ix_order_lines_customer", "customer_source", "customer_id"),
)
customers = Table(
    "customers",
    metadata,
    Column("entity_id", String(600), primary_key=True),
    Column("segment", String(256), nullable=False),
    Column("tier", Integer, nullable=False),
    Column("strategy", String(16), nullable=False),
    Column("region", String(256), nullable=True),
    Column("retired", Boolean, nullable=False),
)
stock_points = Table(
    "stock_points",
    metadata,
    Column("sku", String(256), primary_key=True),
    Column("site", String(256), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("dirty", Boolean, nullable=False),
)
promises = Table(
    "promises",
    metadata,
    Column("promise_id", String(64), primary_key=True),
    Column("idempotency_key", String(256), nullable=False, unique=True),
    Column("fingerprint", String(64), nullable=False),
    Column("customer_id", String(256), nullable=False),
    Column("sku", String(256), nullable=False),
    Column("site", String(256), nullable=False),
    Column("quantity", Float, nullable=False),
    Column("requested_date", Date, nullable=False),
    Column("reserve", Boolean, nullable=False),
    Column("segment", String(256), nullable=True),
    Column("tier", Integer, nullable=True),
    Column("strategy", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("confirmations", Text, nullable=False),
    Column("confirmed", Float, nullable=False),
    Column("response", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("expires_at", Float, nullable=True),
    Index("ix_promises_point", "sku", "site", "status"),
    Index("ix_promises_expiry", "status", "expires_at"),
)
quotas = Table(
    "quotas",
    metadata,
    Column("quota_id", String(64), primary_key=True),
    Column("segment", String(256), nullable=False),
    Column("region", String(256), nullable=True),
    Column("channel", String(256), nullable=True),
    Column("kind", String(16), nullable=False),
    Column("basis", String(16), nullable=False),
    Column("value", Float, nullable=False),
    Column("tier", Integer, nullable=False),
    Column("period", String(32), nullable=True),
    Column("created_at", Float, nullable=False),
)
allocation_decisions = Table(
    "allocation_decisions",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("order_id", String(256), primary_key=True),
    Column("line_id", String(256), primary_key=True),
    Column("sku", String(256), nullable=False),
    Column("site", String(256), nullable=False),
    Column("customer_id", String(256), nullable=False),
    Column("tier", Integer, nullable=False),
    Column("requested", Float, nullable=False),
    Column("allocated", Float, nullable=False),
    Column("explanation", Text, nullable=False),
    Column("decided_at", Float, nullable=False),
    Index("ix_decisions_point", "sku", "site", "decided_at"),
)
reserved_days = Table(
    "reserved_days",
    metadata,
    Column("sku", String(256), primary_key=True),
    Column("site", String(256), primary_key=True),
    Column("segment", String(256), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("quantity", Float, nullable=False),
)
customer_sources = Table(
    "customer_sources",
    metadata,
    Column("source", String(256), primary_key=True),
    Column("source_id", String(256), primary_key=True),
    Column("golden_id", String(600), nullable=False),
)
backorder_runs = Table(
    "backorder_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("sku", String(256), nullable=True),
    Column("site", String(256), nullable=True),
    Column("trigger", String(32), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Column("stock_points", Integer, nullable=False),
    Column("changed", Integer, nullable=False),
    Column("changes", Text, nullable=False),
    Column("error", Text, nullable=True),
)


def is_postgres(session: AsyncSession | Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"
