"""The allocator's tables and every query it runs (SQLAlchemy Core, PostgreSQL and SQLite alike).

Tables: the supply picture (positions, receipts), demand (order_lines), customers' segments and the
source -> golden customer crosswalk, one ``stock_points`` row per sku@site (the row promises lock, and the
"needs backorder processing" flag), promises (reservations keyed by idempotency key) with their per-day
totals (``reserved_days``, see store_reserved.py), quotas, allocation runs and decisions, backorder runs.
Times are stored as epoch seconds (floats) so both dialects compare them the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

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
    and_,
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

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


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def _upsert(
    session: AsyncSession,
    table: Table,
    values: dict[str, Any],
    keys: Sequence[str],
    *,
    update_cols: bool = True,
) -> None:
    """Insert ``values``; on a key conflict update the other columns (or do nothing)."""
    insert = postgresql.insert(table) if _is_postgres(session) else sqlite.insert(table)
    statement = insert.values(**values)
    changes = {k: v for k, v in values.items() if k not in keys}
    if update_cols and changes:
        await session.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=changes))
    else:
        await session.execute(statement.on_conflict_do_nothing(index_elements=list(keys)))


# ----------------------------------------------------------------------------- supply and demand


async def set_position(
    session: AsyncSession, sku: str, site: str, on_hand: float, as_of: float
) -> float | None:
    """Store a position unless an equally new or newer one is stored; returns the previous on-hand
    (``None`` when there was none); a stale position changes nothing and returns its own value."""
    row = (
        await session.execute(select(positions).where(positions.c.sku == sku, positions.c.site == site))
    ).first()
    if row is not None and row.as_of > as_of:
        return on_hand
    await _upsert(
        session, positions, {"sku": sku, "site": site, "on_hand": on_hand, "as_of": as_of}, ["sku", "site"]
    )
    return None if row is None else float(row.on_hand)


async def set_receipt(
    session: AsyncSession, receipt_id: str, sku: str, site: str, quantity: float, due: dt.date, received: bool
) -> Row[Any] | None:
    """Upsert a receipt by id; returns the previous row."""
    row = (await session.execute(select(receipts).where(receipts.c.receipt_id == receipt_id))).first()
    values = {"receipt_id": receipt_id, "sku": sku, "site": site, "quantity": quantity, "due_date": due}
    await _upsert(session, receipts, {**values, "received": received}, ["receipt_id"])
    return row


async def set_order_line(session: AsyncSession, values: dict[str, Any]) -> None:
    await _upsert(session, order_lines, values, ["order_id", "line_id"])


async def cancel_order_line(
    session: AsyncSession, order_id: str, line_id: str, quantity: float | None
) -> Row[Any] | None:
    """Cancel a line (all of it, or ``quantity`` of it); returns the line as it was."""
    where = and_(order_lines.c.order_id == order_id, order_lines.c.line_id == line_id)
    row = (await session.execute(select(order_lines).where(where))).first()
    if row is None:
        return None
    left = 0.0 if quantity is None else max(0.0, float(row.quantity) - quantity)
    values = {"status": "cancelled"} if left <= 0 else {"quantity": left}
    await session.execute(update(order_lines).where(where).values(**values))
    return row


async def set_customer(session: AsyncSession, values: dict[str, Any]) -> None:
    await _upsert(session, customers, {**values, "retired": False}, ["entity_id"])


async def retire_customer(session: AsyncSession, entity_id: str) -> None:
    await session.execute(update(customers).where(customers.c.entity_id == entity_id).values(retired=True))


async def customer(session: AsyncSession, keys: Iterable[str]) -> Row[Any] | None:
    """The first non-retired customer among ``keys`` (tried in order)."""
    ordered = list(dict.fromkeys(keys))
    rows = (
        await session.execute(
            select(customers).where(customers.c.entity_id.in_(ordered), customers.c.retired.is_(False))
        )
    ).all()
    by_key = {row.entity_id: row for row in rows}
    return next((by_key[k] for k in ordered if k in by_key), None)


async def point_supply(session: AsyncSession, sku: str, site: str) -> tuple[float, list[Any]]:
    """On-hand (0 when unknown) and the open (not yet received) receipts of a sku@site."""
    on_hand = (
        await session.execute(
            select(positions.c.on_hand).where(positions.c.sku == sku, positions.c.site == site)
        )
    ).scalar()
    rows = (
        await session.execute(
            select(receipts.c.quantity, receipts.c.due_date).where(
                receipts.c.sku == sku, receipts.c.site == site, receipts.c.received.is_(False)
            )
        )
    ).all()
    return float(on_hand or 0.0), list(rows)


async def open_lines(
    session: AsyncSession, sku: str | None = None, site: str | None = None
) -> list[Row[Any]]:
    """Open order lines with their customer's tier, segment and strategy (outer join: unknown = null)."""
    joined = order_lines.outerjoin(
        customers, and_(customers.c.entity_id == order_lines.c.customer_key, customers.c.retired.is_(False))
    )
    query = select(order_lines, customers.c.segment, customers.c.tier, customers.c.strategy).select_from(
        joined
    )
    query = query.where(order_lines.c.status == "open")
    if sku is not None:
        query = query.where(order_lines.c.sku == sku)
    if site is not None:
        query = query.where(order_lines.c.site == site)
    return list((await session.execute(query.order_by(order_lines.c.order_id, order_lines.c.line_id))).all())


async def stock_points_with_demand(
    session: AsyncSession, sku: str | None, site: str | None
) -> list[tuple[str, str]]:
    """The sku@sites with open order lines (filtered by sku and/or site)."""
    query = select(order_lines.c.sku, order_lines.c.site).where(order_lines.c.status == "open").distinct()
    if sku is not None:
        query = query.where(order_lines.c.sku == sku)
    if site is not None:
        query = query.where(order_lines.c.site == site)
    return sorted((r.sku, r.site) for r in (await session.execute(query)).all())


# ----------------------------------------------------------------------------- stock points (locks, dirty)


async def lock_point(session: AsyncSession, sku: str, site: str, *, create: bool = True) -> None:
    """Create the sku@site row (``create``: rows are never deleted, so once is enough) and lock it for the
    rest of the transaction (PostgreSQL ``SELECT ... FOR UPDATE``; SQLite has one writer and the caller
    holds an in-process lock)."""
    if create:
        await _upsert(session, stock_points, {"sku": sku, "site": site, "version": 0, "dirty": False},
                      ["sku", "site"], update_cols=False)  # fmt: skip
    if _is_postgres(session):
        query = select(stock_points.c.version).where(stock_points.c.sku == sku, stock_points.c.site == site)
        await session.execute(query.with_for_update())


async def mark_dirty(session: AsyncSession, sku: str, site: str) -> None:
    """Flag a sku@site for backorder processing (its supply dropped or its demand rose)."""
    await _upsert(session, stock_points, {"sku": sku, "site": site, "version": 0, "dirty": True},
                  ["sku", "site"], update_cols=False)  # fmt: skip
    await session.execute(
        update(stock_points).where(stock_points.c.sku == sku, stock_points.c.site == site).values(dirty=True)
    )


async def dirty_points(session: AsyncSession, limit: int = 100) -> list[tuple[str, str]]:
    rows = (await session.execute(select(stock_points.c.sku, stock_points.c.site).where(
        stock_points.c.dirty.is_(True)).limit(limit))).all()  # fmt: skip
    return [(r.sku, r.site) for r in rows]


async def clear_dirty(session: AsyncSession, sku: str, site: str) -> None:
    await session.execute(
        update(stock_points).where(stock_points.c.sku == sku, stock_points.c.site == site).values(dirty=False)
    )


# ----------------------------------------------------------------------------- promises


async def promise_by_key(session: AsyncSession, idempotency_key: str) -> Row[Any] | None:
    return (
        await session.execute(select(promises).where(promises.c.idempotency_key == idempotency_key))
    ).first()


async def promise_by_id(session: AsyncSession, promise_id: str, *, lock: bool = False) -> Row[Any] | None:
    query = select(promises).where(promises.c.promise_id == promise_id)
    if lock and _is_postgres(session):
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def active_promises(session: AsyncSession, sku: str, site: str, now: float) -> list[Row[Any]]:
    """Reservations in force at a sku@site: held (not expired) or confirmed, oldest first."""
    alive = or_(promises.c.expires_at.is_(None), promises.c.expires_at > now)
    query = select(promises).where(
        promises.c.sku == sku, promises.c.site == site, promises.c.status.in_(ACTIVE), alive
    )
    return list((await session.execute(query.order_by(promises.c.created_at, promises.c.promise_id))).all())


async def points_with_promises(
    session: AsyncSession, sku: str | None, site: str | None
) -> list[tuple[str, str]]:
    query = select(promises.c.sku, promises.c.site).where(promises.c.status.in_(ACTIVE)).distinct()
    if sku is not None:
        query = query.where(promises.c.sku == sku)
    if site is not None:
        query = query.where(promises.c.site == site)
    return sorted((r.sku, r.site) for r in (await session.execute(query)).all())


async def insert_promise(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(promises.insert().values(**values))


async def update_promise(session: AsyncSession, promise_id: str, values: dict[str, Any]) -> None:
    await session.execute(update(promises).where(promises.c.promise_id == promise_id).values(**values))


async def expired_holds(session: AsyncSession, now: float, limit: int = 500) -> list[Row[Any]]:
    query = select(promises).where(
        promises.c.status == "held", promises.c.expires_at.is_not(None), promises.c.expires_at <= now
    )
    return list((await session.execute(query.order_by(promises.c.expires_at).limit(limit))).all())


# ----------------------------------------------------------------------------- quotas


async def insert_quota(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(quotas.insert().values(**values))


async def all_quotas(session: AsyncSession) -> list[Row[Any]]:
    return list(
        (await session.execute(select(quotas).order_by(quotas.c.created_at, quotas.c.quota_id))).all()
    )


# ----------------------------------------------------------------------------- allocation and backorder runs


async def insert_decisions(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(allocation_decisions.insert(), rows)


async def recent_decisions(
    session: AsyncSession, sku: str | None, site: str | None, limit: int
) -> list[Row[Any]]:
    query = select(allocation_decisions)
    if sku is not None:
        query = query.where(allocation_decisions.c.sku == sku)
    if site is not None:
        query = query.where(allocation_decisions.c.site == site)
    order = (allocation_decisions.c.decided_at.desc(), allocation_decisions.c.run_id, allocation_decisions.c.order_id,
             allocation_decisions.c.line_id)  # fmt: skip
    return list((await session.execute(query.order_by(*order).limit(limit))).all())


async def insert_backorder_run(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(backorder_runs.insert().values(**values))


async def update_backorder_run(session: AsyncSession, run_id: str, values: dict[str, Any]) -> None:
    await session.execute(update(backorder_runs).where(backorder_runs.c.run_id == run_id).values(**values))


async def backorder_run(session: AsyncSession, run_id: str) -> Row[Any] | None:
    return (await session.execute(select(backorder_runs).where(backorder_runs.c.run_id == run_id))).first()


async def delete_decisions_before(session: AsyncSession, before: float) -> None:
    await session.execute(delete(allocation_decisions).where(allocation_decisions.c.decided_at < before))


async def site_with_most_stock(session: AsyncSession, sku: str) -> str | None:
    """The site holding the most on-hand stock of ``sku`` (ties: site name), for promises without a site."""
    query = select(positions.c.site).where(positions.c.sku == sku)
    return (
        await session.execute(query.order_by(positions.c.on_hand.desc(), positions.c.site).limit(1))
    ).scalar()
