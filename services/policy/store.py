"""Every query of the policy service (tables in ``services.policy.tables``); works on PostgreSQL and SQLite.

Every write of a KPI input table (order lines, shipments, promises, assignments, products, positions) marks
it with ``versions.written``, so its change counter is bumped when the transaction commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, and_, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.policy import pending, versions
from services.policy.tables import (
    alert_state,
    alerts,
    assignments,
    computed,
    data_versions,
    escalation_paths,
    kpi_dirty,
    kpi_lines,
    order_lines,
    parameters,
    positions,
    products,
    promises,
    proposals,
    receipts,
    segment_changes,
    shipments,
)
from services.runtime.upsert import upsert

UNASSIGNED = "unassigned"
PRODUCT_MEMO = "segflow.policy.products"


# --- inputs -------------------------------------------------------------------------------------------


async def product(session: AsyncSession, sku: str) -> Any:
    """The product row (None if unknown), read once per transaction (save_product forgets it)."""
    known: dict[str, Any] = session.info.setdefault(PRODUCT_MEMO, {})
    if sku not in known:
        known[sku] = (await session.execute(select(products).where(products.c.sku == sku))).first()
    return known[sku]


async def save_product(session: AsyncSession, values: dict[str, Any]) -> None:
    """Keep the newest record per sku (by ``updated_at``); an older replayed record changes nothing."""
    current = await product(session, values["sku"])
    if current is not None and _aware(current.updated_at) > values["updated_at"]:
        return
    await upsert(session, products, values, ["sku"])
    versions.written(session, products)
    session.info.get(PRODUCT_MEMO, {}).pop(values["sku"], None)


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def save_order_line(session: AsyncSession, values: dict[str, Any]) -> None:
    """Upsert of the line's full state, written at commit (pending.add)."""
    pending.add(session, order_lines, values, ["order_id", "line_id"])
    versions.written(session, order_lines)


async def cancel_order_line(
    session: AsyncSession, order_id: str, line_id: str, quantity: float | None
) -> bool:
    await pending.flush(session)  # a line placed earlier in this transaction is read back
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
    versions.written(session, order_lines)
    return True


async def save_shipment(session: AsyncSession, values: dict[str, Any]) -> None:
    """Merge a shipped or delivered event into its shipment row (None fields keep what is stored), written
    at commit as ``SET c = COALESCE(new c, stored c)``."""
    pending.add(session, shipments, values, ["order_id", "line_id", "shipment_key"], merge=True)
    versions.written(session, shipments)


async def save_receipt(session: AsyncSession, values: dict[str, Any]) -> None:
    await upsert(session, receipts, values, ["receipt_id"])


async def save_position(session: AsyncSession, values: dict[str, Any]) -> None:
    pending.add(session, positions, values, ["sku", "site", "as_of"])
    versions.written(session, positions)


async def save_assignment(session: AsyncSession, values: dict[str, Any]) -> None:
    await upsert(session, assignments, values, ["entity_id"])
    versions.written(session, assignments)


async def save_promise(session: AsyncSession, values: dict[str, Any]) -> None:
    await upsert(session, promises, values, ["promise_id"])
    versions.written(session, promises)


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


async def top_stock_points(session: AsyncSession, limit: int) -> list[tuple[str, str]]:
    """The ``limit`` sku@site with the largest open ordered quantity (ties by sku, site)."""
    volume = func.sum(order_lines.c.quantity - order_lines.c.cancelled_quantity).label("volume")
    query = (
        select(order_lines.c.sku, order_lines.c.site, volume)
        .group_by(order_lines.c.sku, order_lines.c.site)
        .order_by(volume.desc(), order_lines.c.sku, order_lines.c.site)
        .limit(limit)
    )
    return [(r.sku, r.site) for r in (await session.execute(query)).all()]


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


async def product_categories(session: AsyncSession) -> dict[str, str]:
    """sku -> category (the product line) of the products that have one."""
    query = select(products.c.sku, products.c.category).where(products.c.category.is_not(None))
    return {r.sku: r.category for r in (await session.execute(query)).all()}


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


async def shipment_rows(session: AsyncSession) -> list[Any]:
    return list((await session.execute(select(shipments))).all())


async def position_rows(session: AsyncSession) -> list[Any]:
    return list((await session.execute(select(positions))).all())


async def data_versions_of(session: AsyncSession, tables: Sequence[Table]) -> tuple[int, ...]:
    """The change counters of ``tables`` (counted ones, services.policy.versions), in their order; 0 for a
    table no transaction has written yet. Read them before the data they stand for."""
    names = [t.name for t in tables]
    unknown = set(names) - versions.COUNTED_NAMES
    if unknown:
        raise ValueError(f"tables without a change counter: {sorted(unknown)}")
    query = select(data_versions.c.name, data_versions.c.version).where(data_versions.c.name.in_(names))
    found = {r.name: int(r.version) for r in (await session.execute(query)).all()}
    return tuple(found.get(n, 0) for n in names)


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


# --- segment changes (cohort analysis) ------------------------------------------------------------------


async def save_segment_change(session: AsyncSession, values: dict[str, Any]) -> None:
    await upsert(session, segment_changes, values, ["run_id", "dimension", "entity_id"])


async def segment_change_rows(session: AsyncSession, run_id: str) -> list[Any]:
    query = select(segment_changes).where(segment_changes.c.run_id == run_id)
    return list((await session.execute(query)).all())


async def lines_of(session: AsyncSession, skus: Sequence[str], customers: Sequence[str]) -> list[Any]:
    """Order lines of the given products or customers."""
    if not skus and not customers:
        return []
    query = select(order_lines).where(
        order_lines.c.sku.in_(list(skus)) | order_lines.c.customer_id.in_(list(customers))
    )
    return list((await session.execute(query)).all())


async def shipped_by_line(session: AsyncSession, order_ids: Sequence[str]) -> dict[tuple[str, str], float]:
    """Shipped quantity per (order, line): sum over its shipments of max(shipped, delivered)."""
    out: dict[tuple[str, str], float] = {}
    ids = sorted(set(order_ids))
    for first in range(0, len(ids), 500):
        query = select(
            shipments.c.order_id,
            shipments.c.line_id,
            shipments.c.shipped_quantity,
            shipments.c.delivered_quantity,
        ).where(shipments.c.order_id.in_(ids[first : first + 500]))
        for r in (await session.execute(query)).all():
            key = (r.order_id, r.line_id)
            out[key] = out.get(key, 0.0) + max(r.shipped_quantity or 0.0, r.delivered_quantity or 0.0)
    return out


# --- incremental KPI evaluation --------------------------------------------------------------------------


async def mark_kpi_dirty(session: AsyncSession, order_id: str, token: str) -> None:
    """Queue an order whose KPI lines must be recomputed; ``token`` (the event id) replaces any earlier one,
    so a refresh that read the order before this mark does not dequeue it (see replace_kpi_lines).
    Written at commit with the transaction's other marks (pending.add)."""
    pending.add(session, kpi_dirty, {"order_id": order_id, "token": token}, ["order_id"])


async def dirty_orders(session: AsyncSession, limit: int) -> list[tuple[str, str]]:
    """Up to ``limit`` queued (order_id, token), by order id."""
    query = select(kpi_dirty.c.order_id, kpi_dirty.c.token).order_by(kpi_dirty.c.order_id).limit(limit)
    return [(r.order_id, r.token) for r in (await session.execute(query)).all()]


async def kpi_rows_of(
    session: AsyncSession, order_ids: Sequence[str]
) -> tuple[list[Any], list[Any], list[Any]]:
    """(order lines, shipments, promises with dates) of the given orders only."""
    ids = list(order_ids)
    lines = list((await session.execute(select(order_lines).where(order_lines.c.order_id.in_(ids)))).all())
    ships = list((await session.execute(select(shipments).where(shipments.c.order_id.in_(ids)))).all())
    query = select(promises.c.order_id, promises.c.sku, promises.c.promised_date).where(
        and_(promises.c.order_id.in_(ids), promises.c.promised_date.is_not(None))
    )
    return lines, ships, list((await session.execute(query)).all())


async def replace_kpi_lines(
    session: AsyncSession, queued: Sequence[tuple[str, str]], rows: list[dict[str, Any]]
) -> None:
    """The KPI lines of these orders become ``rows``; each order leaves the queue only if its token is
    still the one read (a mark made meanwhile keeps it queued for the next refresh). A queue row that a
    consumer's open transaction is re-marking is skipped (it stays queued; SKIP LOCKED on PostgreSQL), so
    the evaluation never waits on a consumer and the two cannot deadlock."""
    ids = [order_id for order_id, _ in queued]
    await session.execute(kpi_lines.delete().where(kpi_lines.c.order_id.in_(ids)))
    if rows:
        await session.execute(kpi_lines.insert(), rows)
    pair = tuple_(kpi_dirty.c.order_id, kpi_dirty.c.token)
    for first in range(0, len(queued), 200):
        pairs = list(queued[first : first + 200])
        unlocked = select(kpi_dirty.c.order_id, kpi_dirty.c.token).where(pair.in_(pairs))
        await session.execute(kpi_dirty.delete().where(pair.in_(unlocked.with_for_update(skip_locked=True))))


async def kpi_line_rows(session: AsyncSession, first_week: int, last_week: int) -> list[Any]:
    query = select(kpi_lines).where(kpi_lines.c.due_week.between(first_week, last_week))
    return list((await session.execute(query)).all())


async def first_due_week(session: AsyncSession) -> int | None:
    value = (await session.execute(select(func.min(kpi_lines.c.due_week)))).scalar()
    return None if value is None else int(value)


async def data_clock(session: AsyncSession) -> date | None:
    """The latest delivery date seen (the KPI data clock)."""
    value = (await session.execute(select(func.max(shipments.c.delivered_date)))).scalar()
    return value if value is None or isinstance(value, date) else date.fromisoformat(str(value))


async def last_evaluated_week(session: AsyncSession) -> int | None:
    value = (await session.execute(select(func.max(alert_state.c.last_week)))).scalar()
    return None if value is None else int(value)
