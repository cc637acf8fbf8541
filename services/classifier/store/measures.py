"""Measure queries: order-line state, additive demand-bucket upserts, supplier receipts, stream position
and the per-entity totals and series a run reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from services.runtime.upsert import dialect_insert, upsert_statement

from .tables import (
    BUCKET_VALUES,
    aware,
    customers,
    demand_buckets,
    order_lines,
    stream_state,
    supplier_receipts,
)


def load_lines(session: Session, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Stored state of the given (order_id, line_id) lines, in chunks of 500 keys."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    unique = sorted(set(keys))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        orders = sorted({k[0] for k in chunk})
        rows = session.execute(select(order_lines).where(order_lines.c.order_id.in_(orders))).mappings().all()
        wanted = set(chunk)
        for row in rows:
            key = (row["order_id"], row["line_id"])
            if key in wanted:
                found[key] = {**row, "ordered_at": aware(row["ordered_at"])}
    return found


def save_lines(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        values = [c.name for c in order_lines.columns if c.name not in ("order_id", "line_id")]
        session.execute(upsert_statement(session, order_lines, ["order_id", "line_id"], values), list(rows))


def add_to_buckets(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Additive upsert: each value column += the row's delta."""
    if not rows:
        return
    stmt = dialect_insert(session, demand_buckets)
    stmt = stmt.on_conflict_do_update(
        index_elements=["dimension", "entity_id", "grain", "period"],
        set_={v: demand_buckets.c[v] + stmt.excluded[v] for v in BUCKET_VALUES},
    )
    session.execute(stmt, list(rows))


def advance_stream(
    session: Session, stream: str, max_event_time: datetime, events: int, now: datetime
) -> None:
    stmt = dialect_insert(session, stream_state)
    stmt = stmt.on_conflict_do_update(
        index_elements=["stream"],
        set_={
            "max_event_time": func.max(stream_state.c.max_event_time, stmt.excluded.max_event_time)
            if session.get_bind().dialect.name == "sqlite"
            else func.greatest(stream_state.c.max_event_time, stmt.excluded.max_event_time),
            "last_processed_at": stmt.excluded.last_processed_at,
            "events": stream_state.c.events + stmt.excluded.events,
        },
    )
    session.execute(
        stmt,
        [{"stream": stream, "max_event_time": max_event_time, "last_processed_at": now, "events": events}],
    )


async def line_exists(session: AsyncSession, order_id: str, line_id: str) -> bool:
    query = select(order_lines.c.order_id).where(
        order_lines.c.order_id == order_id, order_lines.c.line_id == line_id
    )
    return (await session.execute(query)).first() is not None


async def save_receipt(session: AsyncSession, row: Mapping[str, Any]) -> None:
    values = [c.name for c in supplier_receipts.columns if c.name != "receipt_id"]
    await session.execute(upsert_statement(session, supplier_receipts, ["receipt_id"], values), [dict(row)])


async def receipts(session: AsyncSession) -> list[Any]:
    query = select(supplier_receipts).where(supplier_receipts.c.received_date.is_not(None))
    return list((await session.execute(query)).all())


async def stream_position(session: AsyncSession) -> Any:
    return (await session.execute(select(stream_state).where(stream_state.c.stream == "orders"))).first()


async def measure_totals(session: AsyncSession, dimension: str) -> list[Any]:
    """Per entity over all monthly buckets: revenue, margin, missing-cost lines, lines, quantity."""
    b = demand_buckets.c
    query = (
        select(
            b.entity_id,
            func.sum(b.revenue).label("revenue"),
            func.sum(b.margin).label("margin"),
            func.sum(b.missing_cost_lines).label("missing_cost_lines"),
            func.sum(b.lines).label("lines"),
            func.sum(b.quantity).label("quantity"),
        )
        .where(b.dimension == dimension, b.grain == "month")
        .group_by(b.entity_id)
    )
    return list((await session.execute(query)).all())


async def bucket_series(session: AsyncSession, dimension: str, grain: str) -> list[Any]:
    b = demand_buckets.c
    query = select(b.entity_id, b.period, b.quantity, b.promo_lines, b.project_lines).where(
        b.dimension == dimension, b.grain == grain
    )
    return list((await session.execute(query)).all())


async def period_range(session: AsyncSession, grain: str) -> tuple[int | None, int | None]:
    b = demand_buckets.c
    row = (
        await session.execute(
            select(func.min(b.period), func.max(b.period)).where(b.grain == grain, b.dimension == "product")
        )
    ).first()
    return (row[0], row[1]) if row else (None, None)


async def customer_partners_of_products(session: AsyncSession) -> dict[str, set[str]]:
    """product id -> partner ids of the customers buying it (from customer x product buckets)."""
    b = demand_buckets.c
    query = (
        select(b.entity_id)
        .where(b.dimension == "customer_product", b.grain == "month", b.lines > 0)
        .distinct()
    )
    buyers: dict[str, set[str]] = {}
    partnered = {
        row.golden_id: set(row.partner_ids or [])
        for row in (await session.execute(select(customers.c.golden_id, customers.c.partner_ids))).all()
        if row.partner_ids
    }
    if not partnered:
        return buyers
    for (entity,) in (await session.execute(query)).all():
        customer, _, product = entity.partition("|")
        if customer in partnered:
            buyers.setdefault(product, set()).update(partnered[customer])
    return buyers
