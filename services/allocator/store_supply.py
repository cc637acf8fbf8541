"""Queries of supply and demand (tables in store.py): positions, scheduled receipts, open order lines and
customers' segments. Every write that changes a sku@site's picture bumps that sku@site's version
(store_points.touch_point: when the transaction commits, in key order) in the same transaction, so cached
pictures see it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.allocator.store import customers, order_lines, positions, receipts
from services.allocator.store_points import touch_point
from services.runtime.upsert import upsert


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
    await upsert(
        session, positions, {"sku": sku, "site": site, "on_hand": on_hand, "as_of": as_of}, ["sku", "site"]
    )
    touch_point(session, sku, site)
    return None if row is None else float(row.on_hand)


async def set_receipt(
    session: AsyncSession, receipt_id: str, sku: str, site: str, quantity: float, due: dt.date, received: bool
) -> Row[Any] | None:
    """Upsert a receipt by id; returns the previous row."""
    row = (await session.execute(select(receipts).where(receipts.c.receipt_id == receipt_id))).first()
    values = {"receipt_id": receipt_id, "sku": sku, "site": site, "quantity": quantity, "due_date": due}
    await upsert(session, receipts, {**values, "received": received}, ["receipt_id"])
    touch_point(session, sku, site)
    if row is not None and (row.sku, row.site) != (sku, site):
        touch_point(session, row.sku, row.site)
    return row


async def set_order_line(session: AsyncSession, values: dict[str, Any]) -> None:
    """Upsert an open order line (a line that moved to another sku@site changes both pictures)."""
    keys = and_(order_lines.c.order_id == values["order_id"], order_lines.c.line_id == values["line_id"])
    before = (await session.execute(select(order_lines.c.sku, order_lines.c.site).where(keys))).first()
    await upsert(session, order_lines, values, ["order_id", "line_id"])
    touch_point(session, values["sku"], values["site"])
    if before is not None and (before.sku, before.site) != (values["sku"], values["site"]):
        touch_point(session, before.sku, before.site)


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
    touch_point(session, row.sku, row.site)
    return row


async def set_customer(session: AsyncSession, values: dict[str, Any]) -> None:
    await upsert(session, customers, {**values, "retired": False}, ["entity_id"])


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


async def customers_by_keys(session: AsyncSession, keys: Iterable[str]) -> dict[str, Row[Any]]:
    """The non-retired customers among ``keys``, by entity id."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    query = select(customers).where(customers.c.entity_id.in_(wanted), customers.c.retired.is_(False))
    return {row.entity_id: row for row in (await session.execute(query)).all()}


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


async def open_line_quantities(session: AsyncSession, sku: str, site: str) -> list[tuple[dt.date, float]]:
    """(requested date, quantity) of the open order lines of a sku@site (what its picture needs)."""
    query = select(order_lines.c.requested_date, order_lines.c.quantity).where(
        order_lines.c.sku == sku, order_lines.c.site == site, order_lines.c.status == "open"
    )
    return [(r.requested_date, float(r.quantity)) for r in (await session.execute(query)).all()]


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


async def site_with_most_stock(session: AsyncSession, sku: str) -> str | None:
    """The site holding the most on-hand stock of ``sku`` (ties: site name), for promises without a site."""
    query = select(positions.c.site).where(positions.c.sku == sku)
    return (
        await session.execute(query.order_by(positions.c.on_hand.desc(), positions.c.site).limit(1))
    ).scalar()
