"""Queries of the per-day reservation totals and of the customer crosswalk (tables in store.py).

``reserved_days`` holds, per sku@site, segment ('' = none) and day, the units reserved by promises in
force (held or confirmed). It changes in the same transaction as the promises it sums, always under
the sku@site lock, so reading the reservations of a sku@site costs O(segments x days), not O(holds).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.allocator.store import customer_sources, order_lines, reserved_days
from services.runtime.upsert import dialect_insert, upsert

NO_SEGMENT = ""
EPSILON = 1e-9


async def add_reserved_many(
    session: AsyncSession, entries: Iterable[tuple[str, str, str | None, dt.date, float]]
) -> None:
    """Add (sku, site, segment, day, units) entries in one executemany (summed per key first); for new
    holds only (nothing is deleted)."""
    totals: dict[tuple[str, str, str, dt.date], float] = {}
    for sku, site, segment, day, quantity in entries:
        key = (sku, site, segment or NO_SEGMENT, day)
        totals[key] = totals.get(key, 0.0) + float(quantity)
    rows = [
        {"sku": sku, "site": site, "segment": segment, "day": day, "quantity": quantity}
        for (sku, site, segment, day), quantity in sorted(totals.items())
        if quantity > EPSILON
    ]
    if not rows:
        return
    statement = dialect_insert(session, reserved_days)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["sku", "site", "segment", "day"],
            set_={"quantity": reserved_days.c.quantity + statement.excluded.quantity},
        ),
        rows,
    )


async def add_reserved(
    session: AsyncSession,
    sku: str,
    site: str,
    segment: str | None,
    dated: Iterable[tuple[dt.date, float]],
    sign: float = 1.0,
) -> None:
    """Add (``sign=1``) or take away (``sign=-1``) dated quantities of one segment at a sku@site."""
    totals: dict[dt.date, float] = {}
    for day, quantity in dated:
        totals[day] = totals.get(day, 0.0) + sign * float(quantity)
    rows = [
        {"sku": sku, "site": site, "segment": segment or NO_SEGMENT, "day": day, "quantity": quantity}
        for day, quantity in sorted(totals.items())
        if abs(quantity) > EPSILON
    ]
    if not rows:
        return
    statement = dialect_insert(session, reserved_days)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["sku", "site", "segment", "day"],
            set_={"quantity": reserved_days.c.quantity + statement.excluded.quantity},
        ),
        rows,
    )
    if sign < 0:
        await session.execute(
            delete(reserved_days).where(
                reserved_days.c.sku == sku, reserved_days.c.site == site, reserved_days.c.quantity <= EPSILON
            )
        )


async def reserved_rows(session: AsyncSession, sku: str, site: str) -> list[tuple[str, dt.date, float]]:
    """(segment, day, quantity) reserved at a sku@site."""
    query = select(reserved_days.c.segment, reserved_days.c.day, reserved_days.c.quantity).where(
        reserved_days.c.sku == sku, reserved_days.c.site == site
    )
    return [(r.segment, r.day, float(r.quantity)) for r in (await session.execute(query)).all()]


# ----------------------------------------------------------------------------- customer crosswalk


async def set_customer_source(session: AsyncSession, source: str, source_id: str, golden_id: str) -> None:
    """Remember a source record's golden id and re-key that record's order lines to it."""
    values = {"source": source, "source_id": source_id, "golden_id": golden_id}
    await upsert(session, customer_sources, values, ["source", "source_id"])
    where = and_(order_lines.c.customer_source == source, order_lines.c.customer_id == source_id)
    await session.execute(update(order_lines).where(where).values(customer_key=golden_id))


async def golden_of(session: AsyncSession, source: str, source_id: str) -> str | None:
    query = select(customer_sources.c.golden_id).where(
        customer_sources.c.source == source, customer_sources.c.source_id == source_id
    )
    value = (await session.execute(query)).scalar()
    return None if value is None else str(value)


async def golden_of_many(session: AsyncSession, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The crosswalk's golden ids of several (source, source id) pairs (unknown ones are left out)."""
    where = or_(*(and_(customer_sources.c.source == s, customer_sources.c.source_id == i) for s, i in pairs))
    query = select(customer_sources.c.source, customer_sources.c.source_id, customer_sources.c.golden_id)
    return {
        (r.source, r.source_id): str(r.golden_id) for r in (await session.execute(query.where(where))).all()
    }


async def reserved_total(session: AsyncSession, sku: str, site: str) -> float:
    """All units reserved at a sku@site (for checks and tests)."""
    query = select(func.coalesce(func.sum(reserved_days.c.quantity), 0.0)).where(
        reserved_days.c.sku == sku, reserved_days.c.site == site
    )
    return float((await session.execute(query)).scalar() or 0.0)
