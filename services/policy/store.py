"""Every query of the policy service (tables in ``services.policy.tables``); works on PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.policy.tables import (
    alert_state,
    alerts,
    assignments,
    computed,
    escalation_paths,
    order_lines,
    parameters,
    positions,
    products,
    promises,
    proposals,
    receipts,
    shipments,
)

UNASSIGNED = "unassigned"


async def upsert(session: AsyncSession, table: Table, values: dict[str, Any], keys: Sequence[str]) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET every other given column."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(**values)
    changes = {k: statement.excluded[k] for k in values if k not in keys}
    if changes:
        statement = statement.on_conflict_do_update(index_elements=list(keys), set_=changes)
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(keys))
    await session.execute(statement)


# --- inputs -------------------------------------------------------------------------------------------


async def product(session: AsyncSession, sku: str) -> Any:
    return (await session.execute(select(products).where(products.c.sku == sku))).first()


async def save_product(session: AsyncSession, values: dict[str, Any]) -> None:
    """Keep the newest record per sku (by ``updated_at``); an older replayed record changes nothing."""
    current = await product(session, values["sku"])
    if current is not None and _aware(current.updated_at) > values["updated_at"]:
        return
    await upsert(session, products, values, ["sku"])


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def save_order_line(session: AsyncSession, values: dict[str, Any]) -> None:
    await upsert(session, order_lines, values, ["order_id", "line_id"])


async def cancel_order_line(
    session: AsyncSession, order_id: str, line_id: str, quantity: float | None
) -> bool:
    row = (
        await session.execute(
            select(order_lines.c.quantity, order_lines.c.cancelled_quantity).where(
                and_(order_lines.c.order_id == order_id, order_lines.c.line_id == line_id)
            )
        )
    ).first()
    if row is None:
        return False
    cancelled = row.quantity if quantity is None else min(row.quantity, row.cancelled_quantity + quantity)
    await session.execute(
        update(order_lines)
        .where(and_(order_lines.c.order_id == order_id, order_lines.c.line_id == line_id))
        .values(cancelled_quantity=cancelled)
    )
    return True


async def save_shipment(session: AsyncSession, values: dict[str, Any]) -> None:
    """Merge a shipped or delivered event into its shipment row (None fields keep what is stored)."""
    keys = ("order_id", "line_id", "shipment_key")
    row = (
        await session.execute(select(shipments).where(and_(*(shipments.c[k] == values[k] for k in keys))))
    ).first()
    if row is None:
        await session.execute(shipments.insert().values(**values))
        return
    changes = {k: v for k, v in values.items() if k not in keys and v is not None}
    await session.execute(
        update(shipments).where(and_(*(shipments.c[k] == values[k] for k in keys))).values(**changes)
    )


async def save_receipt(session: AsyncSession, values: dict[str, Any]) -> None:
    await upsert(session, receipts, values, ["receipt_id"])


async def save_position(session: AsyncSession, values: dict[str, Any]) -> None:
    await upsert(session, positions, values, ["sku", "site", "as_of"])


async def save_assignment(session: AsyncSession, values: dict[str, Any]) -> None:
    await upsert(session, assignments, values, ["entity_id"])


async def save_promise(session: AsyncSession, values: dict[str, Any]) -> None:
    await upsert(session, promises, values, ["promise_id"])


# --- reads for statistics and KPIs ---------------------------------------------------------------------


async def demand_rows(session: AsyncSession, skus: Iterable[str] | None = None) -> list[Any]:
    """(sku, site, ordered_week, open quantity) of every order line (optionally only some skus)."""
    query = select(
        order_lines.c.sku,
        order_lines.c.site,
        order_lines.c.ordered_week,
        (order_lines.c.quantity - order_lines.c.cancelled_quantity).label("quantity"),
    )
    if skus is not None:
        query = query.where(order_lines.c.sku.in_(list(skus)))
    return list((await session.execute(query)).all())


async def last_order_week(session: AsyncSession) -> int | None:
    value = (await session.execute(select(func.max(order_lines.c.ordered_week)))).scalar()
    return None if value is None else int(value)


async def receipt_rows(session: AsyncSession, skus: Iterable[str]) -> list[Any]:
    query = select(receipts).where(
        and_(receipts.c.sku.in_(list(skus)), receipts.c.received_date.is_not(None))
    )
    return list((await session.execute(query)).all())


async def product_rows(session: AsyncSession, skus: Iterable[str] | None = None) -> list[Any]:
    query = select(products)
    if skus is not None:
        query = query.where(products.c.sku.in_(list(skus)))
    return list((await session.execute(query)).all())


async def assignment_rows(session: AsyncSession) -> list[Any]:
    return list((await session.execute(select(assignments))).all())


async def kpi_rows(session: AsyncSession) -> tuple[list[Any], list[Any], list[Any]]:
    """(order lines, shipments, open promises) for the KPI computation."""
    lines = list((await session.execute(select(order_lines))).all())
    ships = list((await session.execute(select(shipments))).all())
    promised = list(
        (
            await session.execute(
                select(promises.c.order_id, promises.c.sku, promises.c.promised_date).where(
                    and_(promises.c.order_id.is_not(None), promises.c.promised_date.is_not(None))
                )
            )
        ).all()
    )
    return lines, ships, promised


async def position_rows(session: AsyncSession) -> list[Any]:
    return list((await session.execute(select(positions))).all())


# --- proposals and parameters ---------------------------------------------------------------------------


async def create_proposal(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(proposals.insert().values(**values))


async def update_proposal(session: AsyncSession, proposal_id: str, **values: Any) -> None:
    await session.execute(update(proposals).where(proposals.c.id == proposal_id).values(**values))


async def get_proposal(session: AsyncSession, proposal_id: str) -> Any:
    return (await session.execute(select(proposals).where(proposals.c.id == proposal_id))).first()


async def save_computed(session: AsyncSession, values: dict[str, Any]) -> None:
    await upsert(session, computed, values, ["sku", "site"])


async def computed_rows(session: AsyncSession) -> list[Any]:
    query = select(
        computed,
        products.c.erp_safety_stock,
        products.c.erp_reorder_point,
    ).select_from(computed.outerjoin(products, products.c.sku == computed.c.sku))
    return list((await session.execute(query.order_by(computed.c.sku, computed.c.site))).all())


async def save_parameters(session: AsyncSession, values: dict[str, Any]) -> None:
    await upsert(session, parameters, values, ["sku", "site"])


async def parameter_rows(
    session: AsyncSession, sku: str | None, site: str | None, segment: str | None, limit: int
) -> list[Any]:
    query = select(parameters)
    for column, value in (("sku", sku), ("site", site), ("segment", segment)):
        if value is not None:
            query = query.where(parameters.c[column] == value)
    return list(
        (await session.execute(query.order_by(parameters.c.sku, parameters.c.site).limit(limit))).all()
    )


# --- KPI alerts ------------------------------------------------------------------------------------------


async def alert_states(session: AsyncSession) -> dict[tuple[str, str], Any]:
    return {(r.segment, r.kpi): r for r in (await session.execute(select(alert_state))).all()}


async def save_alert_state(session: AsyncSession, values: dict[str, Any]) -> None:
    await upsert(session, alert_state, values, ["segment", "kpi"])


async def open_alert(session: AsyncSession, segment: str, kpi: str) -> Any:
    query = select(alerts).where(
        and_(alerts.c.segment == segment, alerts.c.kpi == kpi, alerts.c.status == "open")
    )
    return (await session.execute(query)).first()


async def insert_alert(session: AsyncSession, values: dict[str, Any]) -> None:
    await upsert(session, alerts, values, ["id"])


async def clear_alert(session: AsyncSession, alert_id: str, at: datetime) -> None:
    await session.execute(
        update(alerts).where(alerts.c.id == alert_id).values(status="cleared", cleared_at=at)
    )


async def alert_rows(session: AsyncSession, status: str | None, segment: str | None) -> list[Any]:
    query = select(alerts)
    if status is not None:
        query = query.where(alerts.c.status == status)
    if segment is not None:
        query = query.where(alerts.c.segment == segment)
    return list((await session.execute(query.order_by(alerts.c.raised_week, alerts.c.id))).all())


async def escalations(session: AsyncSession) -> dict[str, list[str]]:
    return {r.segment: list(r.path) for r in (await session.execute(select(escalation_paths))).all()}


async def save_escalation(session: AsyncSession, segment: str, path: list[str]) -> None:
    await upsert(session, escalation_paths, {"segment": segment, "path": path}, ["segment"])


def week_of(day: date) -> int:
    """Week index of a date: weeks start on Monday (ordinal 1 = Monday 0001-01-01)."""
    return (day.toordinal() - 1) // 7


def week_start(week: int) -> date:
    return date.fromordinal(week * 7 + 1)


async def raise_progress(session: AsyncSession, proposal_id: str, value: float) -> None:
    """Progress only moves forward (a late worker update never lowers it)."""
    await session.execute(
        update(proposals)
        .where(and_(proposals.c.id == proposal_id, proposals.c.progress < value))
        .values(progress=value)
    )
